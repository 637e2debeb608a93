"""The office's web console: who is looking (the session cookie, or off to the login page), the sections
their roles open, the forms they post (same origin, the session's CSRF value), and the page around it all.

A section is one module of agent/web/views/ with a `router`; `install` finds them, so a new page is a new
module and a template, nothing else. Every value comes into the templates as data (Jinja autoescape, no
`|safe`): a device's ifAlias, a person's comment and a file's name are shown, never run.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.api.deps import check_csrf, client_address, context
from agent.api.routes.documents import READERS
from agent.core.people import OPERATORS, Identity
from agent.errors import AgentError, Forbidden
from agent.people import authz
from agent.web import pages
from agent.web.pages import _current, _same_origin

STATIC = Path(__file__).parent / "static"
ANYONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Section:
    """An entry of the console's menu: its path, its Spanish name, and the roles that open it (none: every
    person who logged in)."""

    path: str
    label: str
    roles: frozenset[str] = ANYONE


SECTIONS = (
    Section("/", "Estado"),
    Section("/alertas", "Alertas", OPERATORS),
    Section("/ejecuciones", "Ejecuciones"),
    Section("/documentos", "Documentos", frozenset(READERS)),      # some carry DNI numbers: the API's readers
    Section("/copias", "Copias y cintas", OPERATORS),
    Section("/cumplimiento", "Cumplimiento", OPERATORS),
    Section("/acceso", "Registro de acceso"),
    Section("/equipos", "Equipos", OPERATORS),
    Section("/licencias", "Licencias y garantías", frozenset(READERS)),   # S.04.04.01.01_P; edits: OPERATORS
)


class LoginRequired(Exception):
    """Nobody is logged in on this browser: the login page, then back to `next`."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    """The person looking at a page, with the CSRF value their forms carry."""

    who: Identity
    csrf: str
    roles: frozenset[str]           # held now: titular or deputy in force, from the registry and the directory

    def may(self, roles) -> bool:
        """Whether the person holds one of `roles` now (an empty set: anyone logged in)."""
        return not roles or bool(self.roles & frozenset(roles))


def _held(request: Request, who: Identity) -> frozenset[str]:
    ctx = context(request)
    at, held = ctx.clock(), set()
    for role in {*who.roles, *ctx.people.titles}:
        try:
            authz.require(who, ctx.people, [role], scope="read", at=at)
        except Forbidden:
            continue
        held.add(role)
    return frozenset(held)


def viewer(request: Request) -> Viewer:
    """A dependency: the person of the session cookie, or LoginRequired (the login page, then back here)."""
    found = _current(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    who, csrf = found
    return Viewer(who, csrf, _held(request, who))


def section_viewer(path: str):
    """A dependency for the pages of one section: the viewer, if their roles open it (else Forbidden)."""
    section = next(s for s in SECTIONS if s.path == path)

    def dependency(request: Request) -> Viewer:
        seen = viewer(request)
        if not seen.may(section.roles):
            names = ", ".join(context(request).people.title(r) for r in sorted(section.roles))
            raise Forbidden(f"«{section.label}» es para: {names}")
        return seen

    return dependency


async def posted(request: Request, seen: Viewer) -> FormData:
    """The form a page of this site posted with the session's CSRF value (Forbidden otherwise)."""
    if not _same_origin(request):
        raise Forbidden("el formulario no vino de esta página; ábrala de nuevo e inténtelo otra vez")
    await check_csrf(request, seen.csrf)
    return await request.form()


HIDDEN_LABELS = {"ifindex"}        # an index says nothing to a person; the interface's name does


def reading_label(key: str) -> str:
    """A reading's key as a person reads it: `if_oper_status{ifindex="5",ifname="Gi1/0/5"}` ->
    'if_oper_status · Gi1/0/5'."""
    name, _, rest = key.partition("{")
    values = [v for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest) if v and k not in HIDDEN_LABELS]
    return " · ".join([name, *values])


pages.ENV.filters["lectura"] = reading_label           # {{ alert.reading | lectura }}


def local_time(request: Request, value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A time as the office reads it (its zone), '—' for none."""
    if value is None:
        return "—"
    zone = ZoneInfo(context(request).settings.config.agent.timezone)
    return value.astimezone(zone).strftime(fmt)


def page(request: Request, seen: Viewer | None, template: str, status: int = 200, **values) -> HTMLResponse:
    """A console page: the template inside the menu of the sections the viewer's roles open."""
    here = request.url.path
    current = next((s for s in sorted(SECTIONS, key=lambda s: -len(s.path))
                    if here == s.path or (s.path != "/" and here.startswith(s.path + "/"))), None)
    menu = [s for s in SECTIONS if seen is None or seen.may(s.roles)] if seen else []
    return pages.render(request, template, status, who=seen.who if seen else None, csrf=seen.csrf if seen else "",
                        viewer=seen, menu=menu, current=current, when=lambda v, fmt="%d/%m/%Y %H:%M":
                        local_time(request, v, fmt), **values)


def fragment(request: Request, template: str, **values) -> HTMLResponse:
    """A piece of a page that htmx swaps in (no menu, no header)."""
    return pages.render(request, template, when=lambda v, fmt="%d/%m/%Y %H:%M": local_time(request, v, fmt),
                        **values)


async def in_thread(fn, *args, **kwargs):
    """The store and the services block; pages call them off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _views() -> list:
    from agent.web import views

    found = []
    for info in sorted(pkgutil.iter_modules(views.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"agent.web.views.{info.name}")
        if hasattr(module, "router"):
            found.append(module.router)
    return found


def install(app: FastAPI) -> None:
    """Add the console to the daemon's app: its sections, /static, and the login page for the browser
    that has no session (HTML errors for pages, the API keeps its JSON)."""
    for router in _views():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    api_error = app.exception_handlers.get(AgentError)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        if request.headers.get("hx-request"):       # a refresh of a piece of a page: the whole page goes
            target = request.headers.get("hx-current-url") or "/"
            path = urlsplit(target).path or "/"
            return Response(status_code=200, headers={"HX-Redirect": f"/login?next={quote(path, safe='/')}"})
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    http_error = app.exception_handlers.get(StarletteHTTPException)

    async def http_error_page(request: Request, exc: Exception):
        """A 404 or 405 on a console page is a page too; the API keeps its JSON."""
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith(("/api/", "/metrics", "/static/")) or http_error is None:
            return await http_error(request, exc) if http_error else JSONResponse({"error": str(exc.detail)},
                                                                                   exc.status_code)
        found = _current(request)
        seen = Viewer(found[0], found[1], _held(request, found[0])) if found else None
        words = {404: "No existe esa página.", 405: "Esa página no se abre así."}.get(exc.status_code,
                                                                                    str(exc.detail))
        return page(request, seen, "error.html", exc.status_code, error=words)

    async def agent_error(request: Request, exc: Exception):
        if request.url.path.startswith(("/api/", "/metrics")) or api_error is None:
            return await api_error(request, exc) if api_error else JSONResponse({"error": str(exc)}, 400)
        status = 403 if isinstance(exc, Forbidden) else 400
        found = _current(request)
        seen = Viewer(found[0], found[1], _held(request, found[0])) if found else None
        return page(request, seen, "error.html", status, error=str(exc))

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(StarletteHTTPException, http_error_page)
    app.add_exception_handler(AgentError, agent_error)


def address(request: Request) -> str:
    """Where the browser is (for the journal's channel and address)."""
    return client_address(request)
