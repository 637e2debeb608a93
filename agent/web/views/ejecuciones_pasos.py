"""A step that waits for a person: the decision page of an approval, and the confirmation page of a physical
step (the readings it asks, typed) or of a step that asks what to do after a failure.

The same rules as the mailed link (agent/web/decide.py): a GET decides nothing; the decision goes through
the daemon's RunService as the person logged in (channel "web"), which checks the role, a deputy in force,
never the initiator, another person for a `distinct_from` approval. The buttons are shown only to a person
the service would accept; anyone else sees the page, and a POST of theirs gets a 403.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agent.core.people import OPERATORS
from agent.documents import evidence
from agent.errors import AgentError, Forbidden, RunbookError
from agent.runbook.model import Step, load
from agent.runbook.report import run_detail
from agent.web.console import Viewer, in_thread, page, posted
from agent.web.views.ejecuciones import (
    SECTION,
    STEP_STATUS,
    Seen,
    acting,
    approval_refusal,
    person_name,
    reading,
    service,
)

router = APIRouter(include_in_schema=False)
STEP = SECTION + "/{run_id}/pasos/{step_id}"
ANSWERS = (("retry", "Reintentar el paso"), ("skip", "Omitir el paso y seguir"),
           ("abort", "Abortar la ejecución"), ("done", "Ya está hecho (se hizo a mano)"))
MAX_COMMENT = 2000
CLI_HINT = ". Responda con oti-agent"          # the engine's question ends telling the CLI's way to answer


def _asked(request: Request, run_id: str, step_id: str) -> tuple[dict, dict, Step]:
    """(the run as people read it, its step, the step as the run's runbook file defines it)."""
    runs = service(request)
    detail = run_detail(runs.journal, run_id, request.app.state.ctx.settings)
    found = next((s for s in detail["steps"] if s["id"] == step_id), None)
    book = load(Path(runs.journal.run(run_id)["runbook_path"]))
    if found is None or book.step_or_none(step_id) is None:
        raise RunbookError(f"la ejecución {run_id} no tiene el paso «{step_id}»")
    return detail, found, book.step(step_id)


def _question(request: Request, detail: dict, step: dict, spec: Step) -> dict:
    """What the shared partial (ejecuciones_pregunta.html, also the mailed link's page) shows."""
    role = spec.with_.get("role", "")
    return {"run": detail, "step": step, "role": request.app.state.ctx.people.title(role) if role else "",
            "starter": person_name(request, detail["started_by"]),
            "plan": [f"act. {s['activities']}: {s['name']}" for s in detail["steps"]],
            "step_status": STEP_STATUS.get(step["status"], step["status"])}


# ---------------------------------------------------------------- approvals
def _decision_view(request: Request, seen: Viewer, run_id: str, step_id: str) -> dict:
    detail, step, spec = _asked(request, run_id, step_id)
    if spec.kind != "approval":
        raise RunbookError(f"el paso «{spec.name}» no es una aprobación")
    waiting = step["status"] == "awaiting_approval"
    refusal = approval_refusal(service(request), run_id, step_id, seen.who) if waiting else None
    return {**_question(request, detail, step, spec), "waiting": waiting, "refusal": refusal,
            "action": f"{SECTION}/{quote(run_id, safe='')}/pasos/{quote(step_id, safe='')}/decidir"}


@router.get(STEP + "/decidir", response_class=HTMLResponse)
async def decision_page(request: Request, run_id: str, step_id: str, seen: Seen):
    """What is asked, the justification, the plan; the buttons only for a person who may decide."""
    view = await in_thread(_decision_view, request, seen, run_id, step_id)
    return page(request, seen, "ejecuciones_decidir.html", **view, error=None, comment="")


@router.post(STEP + "/decidir", response_class=HTMLResponse)
async def decide(request: Request, run_id: str, step_id: str, seen: Seen):
    """Approve or reject, as the person logged in; a rejection needs a comment."""
    form = await posted(request, seen)
    decision, comment = str(form.get("decision", "")), str(form.get("comentario", "")).strip()[:MAX_COMMENT]
    error, status = None, 400
    if decision not in ("aprobar", "rechazar"):
        error = "Elija «Aprobar» o «Rechazar»."
    elif decision == "rechazar" and not comment:
        error = "Comentario: es obligatorio para rechazar; diga por qué (va a la bitácora y al correo)."
    else:
        who = acting(request, seen)
        try:
            await in_thread(service(request).approve, run_id, step_id, who, approve=decision == "aprobar",
                            comment=comment or None)
        except Forbidden as err:
            error, status = f"No puede decidir este paso: {err}", 403
        except AgentError as err:
            error = str(err)
        else:
            done = "aprobado" if decision == "aprobar" else "rechazado"
            return RedirectResponse(f"{SECTION}/{quote(run_id, safe='')}?aviso={done}", status_code=303)
    view = await in_thread(_decision_view, request, seen, run_id, step_id)
    return page(request, seen, "ejecuciones_decidir.html", status, **view, error=error, comment=comment)


# ---------------------------------------------------------------- confirmations
def _confirm_view(request: Request, seen: Viewer, run_id: str, step_id: str) -> dict:
    detail, step, spec = _asked(request, run_id, step_id)
    asks_what = step["status"] == "awaiting_decision"
    waiting = step["status"] == "awaiting_confirmation" or asks_what
    names = spec.with_.get("values") or ([spec.with_["param"]] if spec.kind == "program" else [])
    roles = OPERATORS if asks_what else (spec.with_.get("roles") or OPERATORS)
    return {**_question(request, detail, step, spec), "waiting": waiting, "asks_what": asks_what,
            "evidence": bool(spec.kind == "confirm" and spec.with_.get("evidence")) and not asks_what,
            "prompt": (step["message"] or spec.with_.get("prompt", spec.name)).split(CLI_HINT)[0],
            "readings": [] if asks_what else [reading(n) for n in names], "answers": ANSWERS,
            "may": seen.may(roles),
            "roles": ", ".join(request.app.state.ctx.people.title(r) for r in sorted(roles)),
            "action": f"{SECTION}/{quote(run_id, safe='')}/pasos/{quote(step_id, safe='')}/confirmar"}


@router.get(STEP + "/confirmar", response_class=HTMLResponse)
async def confirm_page(request: Request, run_id: str, step_id: str, seen: Seen):
    """The readings a physical step asks for, or the choices after a failure."""
    view = await in_thread(_confirm_view, request, seen, run_id, step_id)
    return page(request, seen, "ejecuciones_confirmar.html", **view, errors={}, error=None, typed={},
                comment="")


def _read_values(view: dict, form) -> tuple[dict[str, str], dict[str, str]]:
    """(the readings as the service takes them, field -> error in Spanish)."""
    values, errors = {}, {}
    for r in view["readings"]:
        text = str(form.get(r["field"], "")).strip()
        if r["unit"]:
            text = text.replace(",", ".")
        values[r["name"]] = text
        if not text:
            errors[r["name"]] = f"«{r['label']}» es obligatorio"
        elif r["unit"]:
            try:
                float(text)
            except ValueError:
                errors[r["name"]] = f"«{r['label']}» debe ser un número (en {r['unit']})"
    return values, errors


@router.post(STEP + "/confirmar", response_class=HTMLResponse)
async def confirm(request: Request, run_id: str, step_id: str, seen: Seen):
    """Confirm with the readings, or answer what to do; through the service, as the person."""
    form = await posted(request, seen)
    view = await in_thread(_confirm_view, request, seen, run_id, step_id)
    comment = str(form.get("comentario", "")).strip()[:MAX_COMMENT]
    answer = str(form.get("respuesta", "")) if view["asks_what"] else None
    values, errors = _read_values(view, form)
    error, status = None, 400
    if view["asks_what"] and answer not in dict(ANSWERS):
        errors["respuesta"] = "Elija qué hacer con el paso"
    if not errors and view["evidence"]:
        files = [(f.filename, await f.read()) for f in form.getlist("evidencias")
                 if hasattr(f, "filename") and f.filename]
        if files:
            try:
                kept = await in_thread(evidence.keep, request.app.state.ctx.settings.config, run_id, step_id, files)
            except AgentError as err:
                errors["evidencias"] = str(err)
            else:
                values["evidencias"] = "; ".join(e.line() for e in kept)
    if not errors:
        try:
            await in_thread(service(request).confirm, run_id, step_id, acting(request, seen),
                            values=values or None, comment=comment or None, answer=answer)
        except Forbidden as err:
            error, status = f"No puede confirmar este paso: {err}", 403
        except AgentError as err:
            error = str(err)
        else:
            done = "respondido" if view["asks_what"] else "confirmado"
            return RedirectResponse(f"{SECTION}/{quote(run_id, safe='')}?aviso={done}", status_code=303)
    return page(request, seen, "ejecuciones_confirmar.html", status, **view, errors=errors, error=error,
                typed=values, comment=comment, answer=answer)
