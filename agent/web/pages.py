"""The login and logout pages (Spanish, usable on a phone): a form posts the login and password, the answer
sets the session cookie and sends the browser on to `next`, only ever a path of this site.

Jinja2 with autoescaping on: what people type (a login, a `next` in a link someone was sent) is data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from agent.api.deps import check_csrf, client_address, context, sessions
from agent.api.routes.health import agent_version
from agent.api.sessions import COOKIE, clear_cookie, set_cookie
from agent.errors import AuthError, DirectoryUnavailable, Forbidden, LoginLocked

TEMPLATES = Path(__file__).parent / "templates"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)
router = APIRouter(include_in_schema=False)
DIRECTORY_DOWN = "El directorio de la entidad no responde; intente de nuevo en unos minutos o avise a la OTI."
FOREIGN_FORM = "El formulario no vino de esta página; ábrala de nuevo e inténtelo otra vez."


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of this site ("/..."), never another site ("//x", "/\\x", "http:")."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or len(value) > 2000):
        return "/"
    return value


def render(request: Request, name: str, status: int = 200, headers: dict | None = None,
           **values) -> HTMLResponse:
    """A page from the templates, with the office's name."""
    ctx = context(request)
    values = {"who": None, "csrf": "", "office": ctx.settings.config.reports.office, "menu": [], "current": None,
              "version": agent_version(), **values}
    return HTMLResponse(ENV.get_template(name).render(**values), status_code=status, headers=headers)


def _current(request: Request):
    """(identity, csrf) of the request's session, or None."""
    cookie = request.cookies.get(COOKIE)
    return sessions(request).get(cookie, client_address(request)) if cookie else None


def _same_origin(request: Request) -> bool:
    """A form posted from a page of this site (a browser's Origin, when it sends one, names this host)."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form (or, with a session, who is logged in)."""
    current = _current(request)
    who, csrf = current if current else (None, "")
    return render(request, "login.html", who=who, csrf=csrf, next=safe_next(next), error=None, login="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, login: Annotated[str, Form(max_length=64)] = "",
                 password: Annotated[str, Form(max_length=1024)] = "",
                 next: Annotated[str, Form(max_length=2000)] = "/"):
    """Check the login and password; with a session cookie, on to `next`."""
    page = {"next": safe_next(next), "login": login}
    if not _same_origin(request):
        return render(request, "login.html", 403, error=FOREIGN_FORM, **page)
    ctx, address = context(request), client_address(request)
    try:
        who = ctx.auth.password(login, password, address=address, channel="web")
    except LoginLocked as err:
        return render(request, "login.html", 429, {"Retry-After": str(max(1, int(err.retry_after)))},
                      error=str(err), **page)
    except DirectoryUnavailable:
        return render(request, "login.html", 503, error=DIRECTORY_DOWN, **page)
    except AuthError as err:
        return render(request, "login.html", 401, error=str(err), **page)
    value, _csrf = sessions(request).create(who, address)
    response = RedirectResponse(page["next"], status_code=303)
    set_cookie(response, value, secure=request.url.scheme == "https",
               hours=ctx.settings.config.people.session_hours)
    return response


@router.post("/logout")
async def logout(request: Request):
    """End the session (the form carries its CSRF value) and go back to the login page."""
    cookie = request.cookies.get(COOKIE)
    found = await run_in_threadpool(_current, request)
    if found is not None:
        try:
            await check_csrf(request, found[1])
        except Forbidden as err:
            return render(request, "login.html", 403, who=found[0], csrf=found[1], next="/", error=str(err),
                          login="")
        await run_in_threadpool(sessions(request).delete, cookie)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, secure=request.url.scheme == "https")
    return response
