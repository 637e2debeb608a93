"""Solicitudes de ingreso (S.04.03.02_P flow 1, activities 5–7) on the «Registro de acceso» page, and the visit's
printable Anexo 1.

A provider or a staff member without permanent access asks by mail to enter on a date and time; a specialist
records the request here (who, company, identification, e-mail, activity, room, date, from–to). The jefa sees
it with the agent's answer to «¿Existe disponibilidad en la fecha y hora indicados?» (another authorised visit
overlapping, a planned shutdown or startup, a maintenance window, outside office hours). No: she observes it
and the specialist coordinates a new date and time (activity 6), which brings it back to her. She authorises
or refuses it (7; authorising over a conflict the agent showed takes a comment saying why), and the requester
is mailed the decision. On the day the visit shows as expected; the door's form is filled from it
(`/acceso?solicitud=N`), and its control sheet (Anexo 1, with the signature lines) downloads as a PDF.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from agent.access import availability
from agent.access.log import HHMM
from agent.access.notices import tell_requester
from agent.access.requests import OBSERVED, REQUESTED, AccessRequests
from agent.api.routes.documents import READERS
from agent.core.people import OPERATORS
from agent.documents import compose
from agent.errors import AgentError, Forbidden
from agent.people import authz
from agent.store import queries_access
from agent.web.console import Viewer, in_thread, posted, section_viewer

router = APIRouter(include_in_schema=False)
seen_here = section_viewer("/acceso")
DECIDERS = ("jefa",)
AHEAD_DAYS = 31                 # authorised visits shown ahead of today
FIELDS = ("nombre", "tipo_documento", "documento", "entidad", "correo", "actividad", "sala", "fecha", "desde",
          "hasta")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
STATUS_ES = {"requested": "Por autorizar", "observed": "Observada: coordinar nueva fecha", "authorised": "Autorizada",
             "refused": "Denegada"}


def _views():
    from agent.web.views import acceso  # the page these forms are part of (it imports this module lazily)

    return acceso


def _fecha(day: str) -> str:
    return date.fromisoformat(day).strftime("%d/%m/%Y")


def overview(request: Request, seen: Viewer) -> dict:
    """The requests waiting (with the agent's availability answer), and the authorised visits from today."""
    ctx = request.app.state.ctx
    today = _views()._now(request).date()
    names = availability.rooms(ctx.settings.inventory)
    waiting = queries_access.access_requests(ctx.store, statuses=(REQUESTED, OBSERVED))
    for r in waiting:
        r["found"] = [c.as_dict() for c in availability.conflicts(ctx.settings, ctx.store, r, ctx.clock())]
    expected = queries_access.access_requests(
        ctx.store, statuses=("authorised",), first_day=today.isoformat(),
        end_day=(today + timedelta(days=AHEAD_DAYS)).isoformat())
    entries = queries_access.access_request_entries(ctx.store, [r["id"] for r in expected])
    for r in waiting + expected:
        r.update(fecha=_fecha(r["day"]), pedido=_fecha(r["asked_day"]), sala=names.get(r["room"], r["room"]),
                 status_es=STATUS_ES[r["status"]], today=r["day"] == today.isoformat(),
                 entries=entries.get(r["id"], []))
        r["inside"] = any(e["time_out"] is None for e in r["entries"])
        r["moved"] = (r["day"], r["time_from"], r["time_to"]) != (r["asked_day"], r["asked_from"], r["asked_to"])
    return {"requests": waiting, "expected": expected, "rooms": names, "may_record": seen.may(OPERATORS),
            "may_print": seen.may(READERS)}


def _checked(form: dict, rooms: dict) -> tuple[dict, dict]:
    """(the request's values, the errors by field, in Spanish, naming it)."""
    errors: dict[str, str] = {}
    values: dict = {}
    for field, key, label, longest in (("nombre", "name", "Nombre y apellidos", 256),
                                       ("entidad", "company", "Entidad / proveedor", 256),
                                       ("actividad", "activity", "Actividad a realizar", 2000),
                                       ("correo", "email", "Correo del solicitante", 256)):
        if not form[field]:
            errors[field] = f"{label}: es obligatorio."
        elif len(form[field]) > longest:
            errors[field] = f"{label}: a lo más {longest} caracteres."
        values[key] = form[field]
    if form["correo"] and "correo" not in errors and not EMAIL.match(form["correo"]):
        errors["correo"] = "Correo del solicitante: escriba una dirección como nombre@empresa.pe."
    kind = _views().DOCUMENTS.get(form["tipo_documento"])
    number = re.sub(r"[\s.-]", "", form["documento"]).upper()
    if kind is None:
        errors["tipo_documento"] = "Tipo de documento: elija DNI, carné de extranjería o pasaporte."
    elif not kind[1].match(number):
        errors["documento"] = ("Número de documento: un DNI tiene 8 dígitos." if form["tipo_documento"] == "dni"
                               else f"Número de documento: el {kind[0].lower()} tiene de 6 a 12 letras o dígitos.")
    else:
        values["id_number"] = kind[2] + number
    if form["sala"] not in rooms:
        errors["sala"] = "Ambiente: elija el centro de datos o un cuarto de comunicaciones de la lista."
    values["room"] = form["sala"]
    window, problems = checked_window(form)
    return values | window, errors | problems


def checked_window(form: dict) -> tuple[dict, dict]:
    """The date and from–to of a form (a request, or the new date of activity 6), with the errors by field."""
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(form["fecha"])
    except ValueError:
        day = None
        errors["fecha"] = "Fecha: escriba una fecha válida (AAAA-MM-DD)."
    for field, label in (("desde", "Hora de inicio"), ("hasta", "Hora de término")):
        if not HHMM.match(form[field]):
            errors[field] = f"{label}: escriba la hora como HH:MM (de 00:00 a 23:59)."
    if not errors.get("desde") and not errors.get("hasta") and form["hasta"] <= form["desde"]:
        errors["hasta"] = f"Hora de término: debe ser posterior a la de inicio ({form['desde']})."
    return {"day": day, "time_from": form["desde"], "time_to": form["hasta"]}, errors


def _back(notice: str, number: int) -> RedirectResponse:
    return RedirectResponse("/acceso?" + urlencode({"aviso": notice, "n": number}), status_code=303)


@router.post("/acceso/solicitudes", response_class=HTMLResponse)
async def solicitud_add(request: Request, seen: Annotated[Viewer, Depends(seen_here)]):
    """Record a request that came by mail (activity 5); it waits for the jefa."""
    data = await posted(request, seen)
    if not seen.may(OPERATORS):
        raise Forbidden("registrar solicitudes de ingreso es para el personal de la OTI")
    ctx = request.app.state.ctx
    form = {k: str(data.get(k, "")).strip() for k in FIELDS}
    values, errors = _checked(form, availability.rooms(ctx.settings.inventory))
    if errors:
        return await _views()._show(request, seen, 400, request_form=form, request_errors=errors,
                                    error="Revise los campos marcados: la solicitud no se registró.")
    requests = AccessRequests(ctx.store, ctx.clock)
    number = await in_thread(requests.add, recorded_by=seen.who.describe(), **values)
    return _back("solicitud", number)


async def _request(requests: AccessRequests, request_id: int) -> dict:
    try:
        return await in_thread(requests.request, request_id)
    except AgentError:
        raise AgentError(f"No hay una solicitud de ingreso N° {request_id}.") from None


async def _refused(request: Request, seen: Viewer, status: int, message: str, typed: dict | None = None):
    return await _views()._show(request, seen, status, error=message, request_decision=typed or {})


@router.post("/acceso/solicitudes/{request_id}/decision", response_class=HTMLResponse)
async def solicitud_decide(request: Request, request_id: int, seen: Annotated[Viewer, Depends(seen_here)]):
    """The jefa (or her deputy in force): observe (no availability), authorise or refuse; the requester is mailed."""
    data = await posted(request, seen)
    ctx = request.app.state.ctx
    held_as = authz.require(seen.who, ctx.people, DECIDERS, scope="approve", at=ctx.clock())  # Forbidden: 403
    choice, comment = str(data.get("decision", "")), str(data.get("comentario", "")).strip()
    typed = {"id": request_id, "comentario": comment}
    requests = AccessRequests(ctx.store, ctx.clock)
    found = await _request(requests, request_id)
    if found["status"] not in (REQUESTED, OBSERVED) or (found["status"] == OBSERVED and choice != "denegar"):
        who = f" por {found['decided_by'] or found['observed_by']}" if found["status"] != REQUESTED else ""
        return await _refused(request, seen, 409, f"La solicitud N° {request_id} está "
                              f"{STATUS_ES[found['status']].lower()}{who}.")
    if choice not in ("autorizar", "denegar", "observar"):
        return await _refused(request, seen, 400, "Elija «Autorizar», «Observar» o «Denegar».", typed)
    if len(comment) > 2000:
        return await _refused(request, seen, 400, "Comentario: a lo más 2000 caracteres.", typed)
    shown = [c.as_dict() for c in await in_thread(availability.conflicts, ctx.settings, ctx.store, found,
                                                  ctx.clock())]
    if not comment and (choice != "autorizar" or shown):
        why = {"denegar": "para denegar, escriba el motivo", "observar": "para observarla, escriba por qué no hay "
               "disponibilidad"}.get(choice, "el agente encontró que no hay disponibilidad: para autorizarla de "
                                      "todos modos, escriba por qué")
        return await _refused(request, seen, 400, f"Solicitud N° {request_id}: {why} en el comentario.", typed)
    try:
        if choice == "observar":
            await in_thread(requests.observe, request_id, seen.who.describe(), comment, shown)
            return _back("observada", request_id)
        done = await in_thread(requests.decide, request_id, seen.who.describe(), authorise=choice == "autorizar",
                               comment=comment, conflicts=shown, held_as=held_as)
    except AgentError:  # decided meanwhile by someone else
        return await _refused(request, seen, 409, f"La solicitud N° {request_id} ya fue atendida por otra persona.")
    room = availability.rooms(ctx.settings.inventory).get(done["room"], done["room"])
    await in_thread(tell_requester, ctx.settings, ctx.store, done, room, ctx.clock)
    return _back("solicitud_autorizada" if choice == "autorizar" else "solicitud_denegada", request_id)


@router.post("/acceso/solicitudes/{request_id}/propuesta", response_class=HTMLResponse)
async def solicitud_propose(request: Request, request_id: int, seen: Annotated[Viewer, Depends(seen_here)]):
    """Activity 6: the specialist's new date and time, coordinated with the requester; back to the jefa."""
    data = await posted(request, seen)
    if not seen.may(OPERATORS):
        raise Forbidden("coordinar una nueva fecha es para el personal de la OTI")
    ctx = request.app.state.ctx
    form = {k: str(data.get(k, "")).strip() for k in ("fecha", "desde", "hasta", "nota")}
    window, errors = checked_window(form)
    typed = {"id": request_id, **form}
    if errors:
        return await _refused(request, seen, 400, f"Nueva fecha de la solicitud N° {request_id}: "
                              + " ".join(errors.values()), typed)
    requests = AccessRequests(ctx.store, ctx.clock)
    found = await _request(requests, request_id)
    try:
        await in_thread(requests.propose, request_id, seen.who.describe(), window["day"], window["time_from"],
                        window["time_to"], form["nota"][:2000])
    except AgentError:
        return await _refused(request, seen, 409, f"La solicitud N° {request_id} está "
                              f"{STATUS_ES[found['status']].lower()}: ya no se le propone otra fecha.")
    return _back("propuesta", request_id)


@router.get("/acceso/solicitudes/{request_id}/hoja", response_model=None)
async def solicitud_sheet(request: Request, request_id: int, seen: Annotated[Viewer, Depends(seen_here)]):
    """The visit's control sheet (Anexo 1) as a PDF to print and sign, written to the archive as it is now."""
    if not seen.may(READERS):
        raise Forbidden("la hoja de control lleva números de documento: es para el personal de la OTI")
    ctx = request.app.state.ctx
    await _request(AccessRequests(ctx.store, ctx.clock), request_id)
    done = await in_thread(compose.compose, "control-acceso", ctx.settings, ctx.store, now=ctx.clock(),
                           formats=("pdf",), origin=f"consola ({seen.who.login})", request_id=request_id)
    pdf = next(p for p in done.paths if p.suffix == ".pdf")
    return FileResponse(pdf, media_type="application/pdf", filename=f"control-acceso-{request_id}.pdf")
