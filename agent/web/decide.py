"""The page a mailed approval link opens: after login, what is asked and a form to approve or reject it.

Opening the link decides nothing (a GET never does). The link works only for the person it was sent to,
once, before it expires, and while the step still waits; the decision itself goes through the daemon's
RunService like any other (the role, a deputy in force, never the initiator), journalled as channel
"email" with the address it came from.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from agent.api.deps import check_csrf, client_address, context
from agent.errors import AgentError, AuthError, Forbidden
from agent.web.pages import _current, _same_origin, render

router = APIRouter(include_in_schema=False)


def _page(request: Request, token: str):
    """(identity, csrf, link row, run, step) for a usable link, or a response to return instead."""
    found = _current(request)
    if found is None:
        return RedirectResponse(f"/login?next={quote('/decidir/' + token)}", status_code=303)
    who, csrf = found
    runs = context(request).runs
    if runs is None or runs.asker is None:
        return render(request, "decidir.html", 503, who=who, csrf=csrf, error="El agente no atiende decisiones "
                      "en este momento.", run=None)
    try:
        link = runs.asker.links.open(token, who.login)
    except AuthError as err:
        return render(request, "decidir.html", 403, who=who, csrf=csrf, error=str(err), run=None)
    from agent.runbook.report import run_detail

    run = run_detail(runs.journal, link["run_id"])
    step = next((s for s in run["steps"] if s["id"] == link["step_id"]), None)
    return who, csrf, link, run, step


def _view(request: Request, who, csrf, run, step, *, status: int = 200, error: str | None = None,
          done: str | None = None, token: str = "", comment: str = "") -> HTMLResponse:
    ctx = context(request)
    book = ctx.runs.book(run["runbook"]) if run else None
    opts = book.step(step["id"]).with_ if book and step else {}
    return render(request, "decidir.html", status, who=who, csrf=csrf, error=error, done=done, run=run, step=step,
                  role=ctx.people.title(opts.get("role", "")), token=token, comment=comment,
                  starter=_name(ctx, run["started_by"]) if run else "",
                  waiting=bool(step) and step["status"] == "awaiting_approval",
                  plan=[f"act. {s['activities']}: {s['name']}" for s in run["steps"]] if run else [])


def _name(ctx, login: str) -> str:
    person = ctx.people.person(login)
    return f"{person.name} ({login})" if person else login


@router.get("/decidir/{token}", response_class=HTMLResponse)
def decision_page(request: Request, token: str):
    """What is asked of the person the link was sent to, and the form (nothing is decided here)."""
    found = _page(request, token)
    if not isinstance(found, tuple):
        return found
    who, csrf, _link, run, step = found
    return _view(request, who, csrf, run, step, token=token)


@router.post("/decidir/{token}", response_class=HTMLResponse)
async def decision_submit(request: Request, token: str, decision: Annotated[str, Form()] = "",
                          comentario: Annotated[str, Form(max_length=2000)] = ""):
    """Record the person's decision through the daemon; the link is spent."""
    found = await run_in_threadpool(_page, request, token)
    if not isinstance(found, tuple):
        return found
    who, csrf, link, run, step = found
    try:
        if not _same_origin(request):
            raise Forbidden("el formulario no vino de esta página; ábrala de nuevo")
        await check_csrf(request, csrf)
        if decision not in ("aprobar", "rechazar"):
            raise AgentError("elija aprobar o rechazar")
        by_mail = dataclasses.replace(who, channel="email", address=client_address(request))
        await run_in_threadpool(lambda: context(request).runs.approve(
            link["run_id"], link["step_id"], by_mail, approve=decision == "aprobar", comment=comentario or None,
            link=link["nonce"]))
    except Forbidden as err:
        return _view(request, who, csrf, run, step, status=403, error=str(err), token=token, comment=comentario)
    except AgentError as err:
        return _view(request, who, csrf, run, step, status=400, error=str(err), token=token, comment=comentario)
    done = "aprobó" if decision == "aprobar" else "rechazó"
    return _view(request, who, csrf, run, dict(step, status="decided"), done=done)
