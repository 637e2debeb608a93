"""Registro de acceso (S.04.03.02_P flow 1, Anexo 1): the form a person fills at the datacenter's door,
the jefa's authorisation (activity 7: she, or her deputy in force, authorises or refuses with a comment),
the time each person left, and the month's list — the same rows the monthly report transcribes
(activity 10).

Anyone logged in may fill the form and record a time out; only the jefa decides, and the month's list
(it carries identity numbers) is for the office's staff, as the archived documents are. The requests made
before the visit (activities 5–7) and the visit's printable sheet are `acceso_solicitudes.py`; a door's form
filled for an authorised request (`?solicitud=N`) is its visit. At the exit the specialist reviews the room's
state (activity 9: its active alerts): «sin problemas» records the time out, a problem keeps the entry open.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agent.access import availability
from agent.access.log import HHMM, REQUESTED, AccessLog
from agent.core.people import OPERATORS
from agent.errors import AgentError
from agent.people import authz
from agent.store import queries, queries_access
from agent.web.console import Viewer, in_thread, page, posted, section_viewer

router = APIRouter(include_in_schema=False)
seen_here = section_viewer("/acceso")
DECIDERS = ("jefa",)
READERS = OPERATORS | {"gg", "administrador"}  # who sees the month's list (identity numbers)
INSIDE_DAYS = 7  # entries without a time out shown to record it
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# the identity documents a visitor shows: their names, the form of their numbers, the prefix kept in the log
DOCUMENTS = {
    "dni": ("DNI", re.compile(r"^\d{8}$"), ""),
    "ce": ("Carné de extranjería", re.compile(r"^[A-Z0-9]{8,12}$"), "CE "),
    "pasaporte": ("Pasaporte", re.compile(r"^[A-Z0-9]{6,12}$"), "Pasaporte "),
}
FIELDS = ("fecha", "nombre", "tipo_documento", "documento", "entidad", "actividad", "hora_ingreso", "solicitud")
REQUEST_FIELDS = ("nombre", "tipo_documento", "documento", "entidad", "correo", "actividad", "sala", "fecha",
                  "desde", "hasta")
NOTICES = {
    "registrado": "Ingreso N° {n} registrado: espera la autorización de la jefa.",
    "autorizado": "Ingreso N° {n} autorizado.",
    "denegado": "Ingreso N° {n} denegado.",
    "salida": "Salida del ingreso N° {n} registrada.",
    "visita": "Ingreso N° {n} registrado con su solicitud autorizada: el especialista lo acompaña (actividad 8).",
    "problema": "Ingreso N° {n}: problema registrado; sigue abierto hasta revisar otra vez (actividad 8).",
    "solicitud": "Solicitud de ingreso N° {n} registrada: espera la autorización de la jefa.",
    "observada": "Solicitud N° {n} observada: el especialista coordina una nueva fecha y hora (actividad 6).",
    "propuesta": "Nueva fecha y hora de la solicitud N° {n} registrada: vuelve a la jefa.",
    "solicitud_autorizada": "Solicitud N° {n} autorizada; se envió la respuesta al solicitante.",
    "solicitud_denegada": "Solicitud N° {n} denegada; se envió la respuesta al solicitante.",
}
STATUS_ES = {"requested": "Por autorizar", "authorised": "Autorizado", "refused": "Denegado"}
STATUS_CLASS = {"requested": "awaiting_approval", "authorised": "OK", "refused": "CRITICAL"}


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.ctx.settings.config.agent.timezone)


def _now(request: Request) -> datetime:
    return request.app.state.ctx.clock().astimezone(_zone(request))


def _month(request: Request, asked: str | None) -> tuple[int, int]:
    found = MONTH.match(asked or "")
    if found:
        return int(found[1]), int(found[2])
    today = _now(request)
    return today.year, today.month


def _rows(entries: list[dict]) -> list[dict]:
    return [
        dict(
            e,
            fecha=date.fromisoformat(e["day"]).strftime("%d/%m/%Y"),
            status_es=STATUS_ES[e["status"]],
            status_class=STATUS_CLASS[e["status"]],
        )
        for e in entries
    ]


def _room(store, entry: dict) -> str:
    """The room an entry is in: its request's, else the centro de datos (a door's form has no room)."""
    found = queries_access.access_request(store, entry["request_id"]) if entry.get("request_id") else None
    return found["room"] if found else availability.DATACENTER


def _inside(request: Request, entries: list[dict]) -> list[dict]:
    """Who has not left, each with the room's state now (activity 9) and the problems recorded so far."""
    ctx = request.app.state.ctx
    names = availability.rooms(ctx.settings.inventory)
    reviews = queries_access.access_reviews(ctx.store, [e["id"] for e in entries])
    out = []
    for e in _rows(entries):
        room = _room(ctx.store, e)
        out.append(dict(e, sala=names.get(room, room), alerts=availability.room_alerts(ctx.settings, ctx.store, room),
                        problems=[r for r in reviews[e["id"]] if r["outcome"] == "problema"]))
    return out


def overview(request: Request, seen: Viewer, month: tuple[int, int]) -> dict:
    """What the page shows: pending entries, entries without a time out, and the month's list."""
    store = request.app.state.ctx.store
    year, mon = month
    first, end = f"{year}-{mon:02d}-01", (f"{year + 1}-01-01" if mon == 12 else f"{year}-{mon + 1:02d}-01")
    today = _now(request).date()
    recent = queries.access_entries(
        store, (today - timedelta(days=INSIDE_DAYS)).isoformat(), (today + timedelta(days=1)).isoformat()
    )
    staff = seen.may(READERS)
    from agent.web.views import acceso_solicitudes  # it imports this module: the page's forms are one

    return {
        **acceso_solicitudes.overview(request, seen),
        "pending": _rows(queries.access_pending(store)),
        "inside": _inside(request, [e for e in recent if e["time_out"] is None]),
        "may_review": seen.may(OPERATORS),
        "inside_days": INSIDE_DAYS,
        "now_hhmm": _now(request).strftime("%H:%M"),
        "entries": _rows(queries.access_entries(store, first, end)) if staff else [],
        "refused": _rows(queries.access_entries(store, first, end, statuses=("refused",))) if staff else [],
        "staff": staff,
        "may_decide": seen.may(DECIDERS),
        "mes": f"{year}-{mon:02d}",
        "report": "/documentos?" + urlencode({"tipo": "informe-mensual"}),
        "documents": DOCUMENTS,
    }


async def _show(
    request: Request,
    seen: Viewer,
    status: int = 200,
    *,
    month: tuple[int, int] | None = None,
    form: dict | None = None,
    errors: dict | None = None,
    error: str | None = None,
    notice: str | None = None,
    decision: dict | None = None,
    **requests: dict,
) -> HTMLResponse:
    """The page; `requests`: request_form, request_errors, request_decision (acceso_solicitudes' forms)."""
    values = await in_thread(overview, request, seen, month or _month(request, None))
    now = _now(request)
    form = form or {
        "fecha": now.date().isoformat(),
        "hora_ingreso": now.strftime("%H:%M"),
        "tipo_documento": "dni",
    }
    asked = requests.get("request_form") or {"fecha": now.date().isoformat(), "tipo_documento": "dni",
                                             "sala": availability.DATACENTER}
    return page(
        request,
        seen,
        "acceso.html",
        status,
        form={k: form.get(k, "") for k in FIELDS},
        errors=errors or {},
        error=error,
        notice=notice,
        decision=decision or {},
        request_form={k: asked.get(k, "") for k in REQUEST_FIELDS},
        request_errors=requests.get("request_errors") or {},
        request_decision=requests.get("request_decision") or {},
        **values,
    )


def _visit_form(found: dict, now: datetime) -> dict:
    """The door's form filled from an authorised request (the visitor checks it and corrects what changed)."""
    kind, number = next(((k, found["id_number"].removeprefix(prefix)) for k, (_n, _r, prefix) in DOCUMENTS.items()
                         if prefix and found["id_number"].startswith(prefix)), ("dni", found["id_number"]))
    return {"fecha": now.date().isoformat(), "hora_ingreso": now.strftime("%H:%M"), "nombre": found["name"],
            "tipo_documento": kind, "documento": number, "entidad": found["company"],
            "actividad": found["activity"], "solicitud": str(found["id"])}


@router.get("/acceso", response_class=HTMLResponse)
async def acceso(
    request: Request,
    seen: Annotated[Viewer, Depends(seen_here)],
    mes: str | None = None,
    aviso: str | None = None,
    n: int | None = None,
    solicitud: int | None = None,
) -> HTMLResponse:
    """The form (filled from an authorised request with `solicitud`), the entries waiting for the jefa, who is
    still inside, the month's list."""
    notice = NOTICES[aviso].format(n=n or "") if aviso in NOTICES else None
    error = (
        "El mes debe tener la forma AAAA-MM; se muestra el mes en curso."
        if mes and not MONTH.match(mes)
        else None
    )
    form = None
    if solicitud is not None:
        found = await in_thread(queries_access.access_request, request.app.state.ctx.store, solicitud)
        if found is None or found["status"] != "authorised":
            error = f"La solicitud N° {solicitud} no está autorizada: su visitante no puede ingresar con ella."
        else:
            form = _visit_form(found, _now(request))
    return await _show(request, seen, month=_month(request, mes), notice=notice, error=error, form=form)


def _checked(form: dict) -> tuple[dict, dict]:
    """(the values to record, the errors by field, in Spanish, naming it)."""
    errors: dict[str, str] = {}
    values: dict = {}
    try:
        values["day"] = date.fromisoformat(form["fecha"])
    except ValueError:
        errors["fecha"] = "Fecha: escriba una fecha válida (AAAA-MM-DD)."
    for field, key, label, longest in (
        ("nombre", "name", "Nombre y apellidos", 256),
        ("entidad", "company", "Entidad / proveedor", 256),
        ("actividad", "activity", "Actividad", 2000),
    ):
        if not form[field]:
            errors[field] = f"{label}: es obligatorio."
        elif len(form[field]) > longest:
            errors[field] = f"{label}: a lo más {longest} caracteres."
        values[key] = form[field]
    kind = DOCUMENTS.get(form["tipo_documento"])
    number = re.sub(r"[\s.-]", "", form["documento"]).upper()
    if kind is None:
        errors["tipo_documento"] = "Tipo de documento: elija DNI, carné de extranjería o pasaporte."
    elif not kind[1].match(number):
        errors["documento"] = (
            "Número de documento: un DNI tiene 8 dígitos."
            if form["tipo_documento"] == "dni"
            else f"Número de documento: el {kind[0].lower()} tiene de 6 a 12 letras o dígitos."
        )
    else:
        values["id_number"] = kind[2] + number
    if not HHMM.match(form["hora_ingreso"]):
        errors["hora_ingreso"] = "Hora de ingreso: escriba la hora como HH:MM (de 00:00 a 23:59)."
    values["time_in"] = form["hora_ingreso"]
    return values, errors


@router.post("/acceso", response_class=HTMLResponse)
async def acceso_add(request: Request, seen: Annotated[Viewer, Depends(seen_here)]):
    """Record an entry as the person logged in; it waits for the jefa's authorisation."""
    data = await posted(request, seen)
    form = {k: str(data.get(k, "")).strip() for k in FIELDS}
    values, errors = _checked(form)
    if errors:
        return await _show(
            request,
            seen,
            400,
            form=form,
            errors=errors,
            error="Revise los campos marcados: el ingreso no se registró.",
        )
    ctx = request.app.state.ctx
    log = AccessLog(ctx.store, ctx.clock)
    visit = None
    if form["solicitud"]:
        visit, problem = await in_thread(_visit_of, ctx.store, form["solicitud"], values["day"])
        if problem:
            return await _show(request, seen, 400, form=form, error=problem)
    number = await in_thread(log.add, recorded_by=seen.who.describe(), time_out=None, request=visit, **values)
    return _back("visita" if visit else "registrado", number)


def _visit_of(store, typed: str, day: date) -> tuple[dict | None, str | None]:
    """The authorised request a door's form is the visit of, or what is wrong (in Spanish)."""
    found = queries_access.access_request(store, int(typed)) if typed.isdigit() else None
    if found is None or found["status"] != "authorised":
        return None, f"La solicitud N° {typed} no está autorizada: el ingreso no se registró."
    if found["day"] != day.isoformat():
        return None, (f"La solicitud N° {typed} fue autorizada para el "
                      f"{date.fromisoformat(found['day']):%d/%m/%Y}: el ingreso no se registró.")
    inside = [e for e in queries_access.access_request_entries(store, [found["id"]])[found["id"]]
              if e["time_out"] is None]
    if inside:
        return None, f"La visita de la solicitud N° {typed} ya tiene un ingreso abierto (N° {inside[0]['id']})."
    return found, None


async def _entry(log: AccessLog, entry_id: int) -> dict:
    try:
        return await in_thread(log.entry, entry_id)
    except AgentError:
        raise AgentError(f"No hay un ingreso N° {entry_id} en el registro de acceso.") from None


def _back(notice: str, number: int) -> RedirectResponse:
    return RedirectResponse("/acceso?" + urlencode({"aviso": notice, "n": number}), status_code=303)


@router.post("/acceso/{entry_id}/decision", response_class=HTMLResponse)
async def acceso_decide(request: Request, entry_id: int, seen: Annotated[Viewer, Depends(seen_here)]):
    """The jefa (or her deputy in force) authorises or refuses an entry, with a comment."""
    data = await posted(request, seen)
    ctx = request.app.state.ctx
    held_as = authz.require(seen.who, ctx.people, DECIDERS, scope="approve", at=ctx.clock())  # Forbidden: 403
    choice, comment = str(data.get("decision", "")), str(data.get("comentario", "")).strip()
    log = AccessLog(ctx.store, ctx.clock)
    entry = await _entry(log, entry_id)
    typed = {"id": entry_id, "comentario": comment}
    if entry["status"] != REQUESTED:
        who = f" por {entry['decided_by']}" if entry["decided_by"] else ""
        return await _show(
            request,
            seen,
            409,
            error=f"El ingreso N° {entry_id} ya fue {STATUS_ES[entry['status']].lower()}{who}.",
        )
    if choice not in ("autorizar", "denegar"):
        return await _show(request, seen, 400, error="Elija «Autorizar» o «Denegar».", decision=typed)
    if choice == "denegar" and not comment:
        return await _show(
            request,
            seen,
            400,
            decision=typed,
            error=f"Ingreso N° {entry_id}: para denegar, "
            "escriba en el comentario el motivo (y, si la hay, la nueva fecha y hora).",
        )
    if len(comment) > 2000:
        return await _show(request, seen, 400, decision=typed, error="Comentario: a lo más 2000 caracteres.")
    try:
        await in_thread(
            log.decide,
            entry_id,
            seen.who.describe(),
            authorise=choice == "autorizar",
            comment=comment,
            held_as=held_as,
        )
    except AgentError:  # decided meanwhile by someone else
        return await _show(
            request, seen, 409, error=f"El ingreso N° {entry_id} ya fue decidido por otra persona."
        )
    return _back("autorizado" if choice == "autorizar" else "denegado", entry_id)


@router.post("/acceso/{entry_id}/salida", response_class=HTMLResponse)
async def acceso_leave(request: Request, entry_id: int, seen: Annotated[Viewer, Depends(seen_here)]):
    """Record the time the person left."""
    data = await posted(request, seen)
    ctx = request.app.state.ctx
    time_out = str(data.get("hora_salida", "")).strip()
    log = AccessLog(ctx.store, ctx.clock)
    entry = await _entry(log, entry_id)
    problem = None
    if not HHMM.match(time_out):
        problem = "escriba la hora como HH:MM (de 00:00 a 23:59)"
    elif time_out < entry["time_in"]:
        problem = f"es anterior a la hora de ingreso ({entry['time_in']})"
    elif entry["status"] == "refused":
        problem = "el ingreso fue denegado"
    if problem:
        return await _show(
            request,
            seen,
            400,
            error=f"Hora de salida del ingreso N° {entry_id}: {problem}.",
            decision={"salida_id": entry_id, "hora_salida": time_out},
        )
    await in_thread(log.leave, entry_id, time_out)
    return _back("salida", entry_id)
