"""Alertas: the daily review of alerts (S.04.04.01.03_P, activity 7) and what a person does about one.

The list shows the alerts without anyone on them, those someone took, and those that ended in the last
days, each with its history (who was told and when, who took it, escalation steps, the vendor). An alert's
own page has the forms: acknowledge with a comment, escalate by hand (activity 9: the vendor is written to,
the jefa informed), record the vendor's answer (activity 10), resolve, and silence its device for a while.
Every action goes through the daemon's AlertBook as the person logged in, as the API's alert routes do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agent.alerts import escalation
from agent.core.people import OPERATORS
from agent.documents.forms import Labels, forms_dir
from agent.errors import AgentError, AlertError, Forbidden
from agent.store import queries
from agent.web.console import Viewer, in_thread, page, posted, section_viewer
from agent.web.views.licencias import needs_service_record

router = APIRouter(include_in_schema=False)
SECTION = "/alertas"
seen_here = section_viewer(SECTION)
RECENT_DAYS = 7
MAX_TEXT = 2000
MAX_HOURS = 24 * 30
DURATIONS = (("1", "1 hora"), ("4", "4 horas"), ("24", "24 horas"), ("otro", "Otro número de horas"))
STATUS = {"open": "Sin atender", "acknowledged": "Atendida", "resolved": "Resuelta"}
EVENTS = {"opened": "Abierta", "worse": "Empeoró", "change": "Cambio de estado", "flapping": "Oscila",
          "notified": "Aviso enviado", "skipped": "Aviso no enviado", "acknowledged": "Atendida",
          "escalated": "Escalada a mano", "resolved": "Resuelta", "comment": "Comentario",
          "vendor_reply": "Respuesta del proveedor"}
NOTICES = {"atendida": "Alerta atendida: su escalamiento se detiene.",
           "escalada": "Alerta escalada: el aviso va en camino (vea el historial).",
           "proveedor": "Respuesta del proveedor registrada en el historial.",
           "resuelta": "Alerta resuelta.",
           "silenciado": "Equipo silenciado: sus lecturas se siguen registrando, sin alertas, hasta la hora indicada."}


@dataclass(frozen=True)
class Action:
    """A form of an alert's page: the book's method, whether its text is required, and the notice after."""

    method: str
    required: str | None            # the field's name in the error when it is empty, None: optional
    notice: str


ACTIONS = {"atender": Action("ack", "Comentario", "atendida"),
           "escalar": Action("escalate", None, "escalada"),
           "proveedor": Action("vendor_reply", "Respuesta del proveedor", "proveedor"),
           "resolver": Action("resolve", None, "resuelta")}


def _ctx(request: Request):
    return request.app.state.ctx


def _book(request: Request):
    book = _ctx(request).alerts
    if book is None:
        raise AlertError("el libro de alertas del daemon no está en marcha; inténtelo de nuevo en un momento")
    return book


def _operator(seen: Viewer) -> None:
    if not seen.may(OPERATORS):
        raise Forbidden("atender, escalar, resolver y silenciar alertas es para los especialistas, el "
                        "coordinador y la jefa de la OTI")


def _next_step(ctx, alert: dict, device) -> dict | None:
    """What escalating by hand would send now: the policy's next step (its last one again)."""
    policy = escalation.policy_for(ctx.settings.config.alerts.policies, alert, device.kind if device else "")
    if policy is None:
        return None
    index = min(alert["steps_sent"], len(policy.steps) - 1)
    step = policy.steps[index]
    vendor = device.vendor if step.vendor and device is not None else None
    who = []
    if step.vendor:
        who.append("el equipo no tiene proveedor en el inventario (oti_vendor)" if vendor is None else
                   f"{vendor.name} ({vendor.email})" if vendor.email else
                   f"{vendor.name}, que no tiene correo en el inventario (oti_vendor.email)")
    who += list(step.to)
    return {"number": index + 1, "policy": policy.name, "who": ", ".join(who), "cc": ", ".join(step.cc),
            "wants_vendor": step.vendor}


def _event(e: dict) -> dict:
    detail = (e["detail"] or "").split(" [outbox")[0]
    return {"at": e["at"], "event": e["event"], "label": EVENTS.get(e["event"], e["event"]), "by": e["by"],
            "detail": detail}


def _decorate(ctx, labels: Labels, alert: dict, events: list[dict]) -> dict:
    device = ctx.settings.inventory.by_name.get(alert["device"])
    value = alert["text"] if alert["text"] is not None else (
        f"{alert['value']:g}" if alert["value"] is not None else None)
    return dict(alert, severity_name=alert["severity"].name, severity_label=labels.get("severity", alert["severity"].name),
                state_name=alert["state"].name, state_label=labels.get("states", alert["state"].name),
                status_label=STATUS.get(alert["status"], alert["status"]), shown_value=value,
                kind_label=labels.get("kinds", device.kind) if device else "", vendor=device.vendor if device else None,
                events=[_event(e) for e in events], next_step=_next_step(ctx, alert, device))


def listing(request: Request) -> dict:
    """The alerts alive in the last RECENT_DAYS days, by status, with their histories; the silences in force."""
    ctx = _ctx(request)
    now = ctx.clock()
    labels = Labels(forms_dir(ctx.settings.config))
    rows = queries.alerts_during(ctx.store, now - timedelta(days=RECENT_DAYS), now)
    events = queries.alert_events(ctx.store, [a["id"] for a in rows])
    shown = [_decorate(ctx, labels, a, events[a["id"]]) for a in rows]
    newest = sorted((a for a in shown if a["status"] == "resolved"), key=lambda a: a["resolved_at"], reverse=True)
    return {"open": [a for a in shown if a["status"] == "open"],
            "acked": [a for a in shown if a["status"] == "acknowledged"], "recent": newest,
            "recent_days": RECENT_DAYS, "silences": ctx.alerts.silenced() if ctx.alerts else [],
            "devices": [d.name for d in ctx.settings.inventory], "durations": DURATIONS}


def one(request: Request, alert_id: int) -> dict | None:
    """One alert with its history and what escalating it would do; None when there is no such alert."""
    ctx = _ctx(request)
    found = queries.alerts_list(ctx.store, None, [alert_id])
    if not found:
        return None
    labels = Labels(forms_dir(ctx.settings.config))
    return {"alert": _decorate(ctx, labels, found[0], queries.alert_events(ctx.store, [alert_id])[alert_id]),
            "durations": DURATIONS}


def _form(**typed) -> dict:
    """What a form shows again: every field (empty when not typed) and its error."""
    return {"action": "", "comment": "", "device": "", "duration": "1", "hours": "", "reason": "", "error": "",
            "general": False, **typed}


def _notice(code: str | None) -> str | None:
    return NOTICES.get(code or "")


async def _detail(request: Request, seen: Viewer, alert_id: int, status: int = 200, **values) -> HTMLResponse:
    data = await in_thread(one, request, alert_id)
    if data is None:
        return page(request, seen, "error.html", 404, error=f"No existe la alerta N° {alert_id}.")
    values = {"form": _form(), "notice": None, **data, **values}
    return page(request, seen, "alertas_detalle.html", status, can_act=seen.may(OPERATORS),
                alert_id=alert_id, device_name=data["alert"]["device"], **values)


@router.get(SECTION, response_class=HTMLResponse)
async def alertas(request: Request, seen: Viewer = Depends(seen_here), aviso: str | None = None,
                  equipo: str | None = None) -> HTMLResponse:
    """The list: without anyone on them, taken, ended lately; the silences in force and the silence form."""
    data = await in_thread(listing, request)
    form = _form(action="silenciar", device=equipo or "")
    return page(request, seen, "alertas.html", can_act=seen.may(OPERATORS), notice=_notice(aviso), form=form,
                alert_id=None, **data)


@router.get(SECTION + "/{alert_id}", response_class=HTMLResponse)
async def alerta(request: Request, alert_id: int, seen: Viewer = Depends(seen_here),
                 aviso: str | None = None) -> HTMLResponse:
    """One alert: its facts, its history and the forms."""
    return await _detail(request, seen, alert_id, notice=_notice(aviso))


def _refusal(alert: dict, action: str, next_step: dict | None) -> str | None:
    """Why this action does not apply to the alert as it is now (in Spanish), or None."""
    if action == "atender" and alert["status"] != "open":
        return f"Esta alerta ya está {STATUS[alert['status']].lower()}" + (
            f" por {alert['acked_by']}." if alert["acked_by"] and alert["status"] == "acknowledged" else ".")
    if action in ("escalar", "resolver") and alert["status"] == "resolved":
        return "Esta alerta ya está resuelta."
    if action == "escalar" and next_step is None:
        return ("Ninguna política de escalamiento (alerts.policies) se aplica a esta alerta: escriba al proveedor "
                "por correo y registre aquí su respuesta.")
    return None


def _perform(request: Request, seen: Viewer, alert_id: int, action: Action, text: str | None) -> None:
    book, by = _book(request), seen.who.describe()
    if action.method == "vendor_reply":
        book.comment(alert_id, by, text or "", event="vendor_reply")
    else:
        getattr(book, action.method)(alert_id, by, text)


@router.post(SECTION + "/{alert_id}/{name}", response_class=HTMLResponse)
async def act(request: Request, alert_id: int, name: str, seen: Viewer = Depends(seen_here)):
    """A form of the alert's page: acknowledge, escalate, the vendor's answer, resolve."""
    form = await posted(request, seen)
    _operator(seen)
    action = ACTIONS.get(name)
    if action is None:
        return page(request, seen, "error.html", 404, error="Esa acción no existe para una alerta.")
    text = str(form.get("comentario") or "").strip()
    typed = _form(action=name, comment=text)
    data = await in_thread(one, request, alert_id)
    if data is None:
        return page(request, seen, "error.html", 404, error=f"No existe la alerta N° {alert_id}.")
    problem = _refusal(data["alert"], name, data["alert"]["next_step"])
    typed["general"] = problem is not None          # about the alert, not a field: shown atop the page
    if problem is None and action.required and not text:
        problem = f"{action.required}: escriba qué hizo o qué encontró."
    if problem is None and len(text) > MAX_TEXT:
        problem = f"{action.required or 'Comentario'}: como máximo {MAX_TEXT} caracteres (tiene {len(text)})."
    if problem is None:
        try:
            await in_thread(_perform, request, seen, alert_id, action, text or None)
        except AlertError as err:
            problem = str(err)
    if problem is not None:
        return await _detail(request, seen, alert_id, 400, form=dict(typed, error=problem))
    if name == "resolver" and await in_thread(needs_service_record, _ctx(request), alert_id):   # closes with its acta
        return RedirectResponse(f"/licencias/acta?alerta={alert_id}&aviso=resuelta", status_code=303)
    return RedirectResponse(f"{SECTION}/{alert_id}?aviso={action.notice}", status_code=303)


def _hours(duration: str, other: str) -> float | str:
    """The hours of the silence form, or what is wrong with them (in Spanish)."""
    if duration in ("1", "4", "24"):
        return float(duration)
    if duration != "otro":
        return "Duración: elija 1, 4 o 24 horas, u otro número de horas."
    try:
        hours = float(other.replace(",", "."))
    except ValueError:
        return "Número de horas: escriba un número, por ejemplo 2 o 1.5."
    if not 0 < hours <= MAX_HOURS:
        return f"Número de horas: entre 0 y {MAX_HOURS} (30 días)."
    return hours


@router.post(SECTION + "/silenciar", response_class=HTMLResponse)
async def silenciar(request: Request, seen: Viewer = Depends(seen_here)):
    """Silence a device for some hours, with a reason; back to the alert it came from, or the list."""
    form = await posted(request, seen)
    _operator(seen)
    ctx = _ctx(request)
    typed = _form(action="silenciar", device=str(form.get("equipo") or ""),
                  duration=str(form.get("duracion") or ""), hours=str(form.get("horas") or "").strip(),
                  reason=str(form.get("motivo") or "").strip())
    back = str(form.get("alerta") or "")
    hours, problem = _hours(typed["duration"], typed["hours"]), None
    if typed["device"] not in ctx.settings.inventory.by_name:
        problem = "Equipo: elija uno del inventario."
    elif isinstance(hours, str):
        problem = hours
    elif not typed["reason"]:
        problem = "Motivo: escriba por qué se silencia (un mantenimiento, una falla ya conocida...)."
    elif len(typed["reason"]) > MAX_TEXT:
        problem = f"Motivo: como máximo {MAX_TEXT} caracteres."
    if problem is None:
        try:
            await in_thread(_book(request).silence, typed["device"], hours * 3600, seen.who.describe(),
                            typed["reason"])
        except AgentError as err:
            problem = str(err)
    typed["error"] = problem or ""
    if problem is not None and re.fullmatch(r"[0-9]{1,12}", back):
        return await _detail(request, seen, int(back), 400, form=typed)
    if problem is not None:
        data = await in_thread(listing, request)
        return page(request, seen, "alertas.html", 400, can_act=True, notice=None, form=typed, alert_id=None,
                    **data)
    target = f"{SECTION}/{back}" if re.fullmatch(r"[0-9]{1,12}", back) else SECTION
    return RedirectResponse(f"{target}?aviso=silenciado", status_code=303)
