"""Activity 9 of S.04.03.02_P flow 1 on the «Registro de acceso» page: «Revisa estado del Centro de Datos
¿Existen problemas?» as the visitor leaves.

The page shows, beside each entry without a time out, the active alerts of its room's devices (the alert book,
read through the store's queries). The specialist (the office's operators) answers: No, «sin problemas» — the
time out is recorded and the entry closed; Sí — the problem is recorded as an observation and the entry stays
open, the visitor still accompanied (back to activity 8), until a later review finds no problems. Each review
keeps the alerts the agent showed then, for the visit's control sheet.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agent.access import availability
from agent.access.log import HHMM, AccessLog
from agent.core.people import OPERATORS
from agent.errors import AgentError, Forbidden
from agent.store import queries_access
from agent.web.console import Viewer, in_thread, posted, section_viewer
from agent.web.views import acceso  # the page this form is part of

router = APIRouter(include_in_schema=False)
seen_here = section_viewer("/acceso")
OUTCOMES = ("sin_problemas", "problema")


def _problem(entry: dict, outcome: str, time_out: str, observation: str) -> str | None:
    """What is wrong with the review as posted (in Spanish), or None."""
    if outcome not in OUTCOMES:
        return "elija «Sin problemas: registrar salida» o «Hay problemas: registrar observación»"
    if entry["time_out"] is not None:
        return f"ya tiene hora de salida ({entry['time_out']})"
    if entry["status"] == "refused":
        return "el ingreso fue denegado"
    if len(observation) > 2000:
        return "la observación tiene a lo más 2000 caracteres"
    if outcome == "problema":
        return None if observation else "escriba en la observación el problema encontrado"
    if not HHMM.match(time_out):
        return "escriba la hora de salida como HH:MM (de 00:00 a 23:59)"
    if time_out < entry["time_in"]:
        return f"la hora de salida es anterior a la hora de ingreso ({entry['time_in']})"
    return None


@router.post("/acceso/{entry_id}/revision", response_class=HTMLResponse)
async def acceso_review(request: Request, entry_id: int, seen: Annotated[Viewer, Depends(seen_here)]):
    """The room's state reviewed at the exit: no problems closes the entry, a problem keeps it open."""
    data = await posted(request, seen)
    if not seen.may(OPERATORS):
        raise Forbidden("la revisión del estado del centro de datos (actividad 9) es del especialista de la OTI")
    ctx = request.app.state.ctx
    outcome = str(data.get("revision", ""))
    time_out, observation = str(data.get("hora_salida", "")).strip(), str(data.get("observacion", "")).strip()
    log = AccessLog(ctx.store, ctx.clock)
    try:
        entry = await in_thread(log.entry, entry_id)
    except AgentError:
        raise AgentError(f"No hay un ingreso N° {entry_id} en el registro de acceso.") from None
    problem = _problem(entry, outcome, time_out, observation)
    typed = {"salida_id": entry_id, "hora_salida": time_out, "observacion": observation}
    if problem:
        return await acceso._show(request, seen, 400, error=f"Salida del ingreso N° {entry_id}: {problem}.",
                                  decision=typed)
    visit = (await in_thread(queries_access.access_request, ctx.store, entry["request_id"])
             if entry.get("request_id") else None)
    room = visit["room"] if visit else availability.DATACENTER
    alerts = await in_thread(availability.room_alerts, ctx.settings, ctx.store, room)
    try:
        await in_thread(log.review, entry_id, seen.who.describe(), problems=outcome == "problema",
                        observation=observation, alerts=alerts, time_out=time_out)
    except AgentError:          # closed meanwhile by someone else
        return await acceso._show(request, seen, 409, error=f"El ingreso N° {entry_id} ya tiene hora de salida.")
    notice = "salida" if outcome == "sin_problemas" else "problema"
    return RedirectResponse(f"/acceso?aviso={notice}&n={entry_id}", status_code=303)
