"""Escalation (S.04.04.01.03_P, activities 8–9): which policy an alert follows, which of its steps are due,
and the message each step sends through the outbox.

The first policy whose severities and device kinds match an alert applies. Each step goes `after` a
delay since the alert opened, to mail roles and optionally the device's vendor (with the jefa in
copy); the last step repeats every `repeat` while nobody acknowledges. A flapping alert is told
once, then left quiet until it settles. A step limited to office hours (or outside them) is passed
over, with an event saying so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agent.alerts.office_hours import in_office_hours
from agent.core.config import EscalationPolicy
from agent.core.results import State
from agent.notify import mail

SEVERITY_ES = {State.WARNING: "ADVERTENCIA", State.CRITICAL: "CRÍTICO"}


def policy_for(policies: list[EscalationPolicy], alert: dict, kind: str) -> EscalationPolicy | None:
    """The first policy matching the alert's worst severity and its device's kind."""
    severity = "critical" if alert["severity"] >= State.CRITICAL else "warning"
    for policy in policies:
        if severity in policy.severities and (not policy.kinds or kind in policy.kinds):
            return policy
    return None


def due(policy: EscalationPolicy, alert: dict, now: datetime) -> list[int]:
    """The indexes of the policy's steps to send now (the last one again when its repeat is due)."""
    if alert["flapping"] and alert["steps_sent"] > 0:
        return []                                      # told once that it flaps; quiet until it settles
    opened = alert["opened_at"]
    steps = [i for i, step in enumerate(policy.steps)
             if i >= alert["steps_sent"] and opened + timedelta(seconds=step.after) <= now]
    if not steps and alert["steps_sent"] == len(policy.steps) and policy.repeat \
            and alert["last_notified_at"] + timedelta(seconds=policy.repeat) <= now:
        steps = [len(policy.steps) - 1]
    return steps


def notify(settings, outbox, alert: dict, policy: EscalationPolicy, index: int, device,
           now: datetime) -> list[tuple[str, str]]:
    """Queue the message of one step; return the alert events it makes: (event, detail)."""
    step, cfg = policy.steps[index], settings.config
    if step.when != "siempre":
        working = in_office_hours(now.astimezone(ZoneInfo(cfg.agent.timezone)), cfg.alerts.office_hours)
        if working != (step.when == "horario_oficina"):
            return [("skipped", f"paso {index + 1}: solo {step.when.replace('_', ' ')}")]
    events = []
    to = mail.recipients(cfg.mail, step.to) if step.to else []
    template = "alerta"
    if step.vendor:
        if device is None or device.vendor is None or not device.vendor.email:
            events.append(("notified", f"paso {index + 1}: {alert['device']} no tiene correo de proveedor "
                                       "(oti_vendor.email)"))
        else:
            to, template = [device.vendor.email, *to], "alerta-proveedor"
    if not to:
        return events
    cc = mail.recipients(cfg.mail, step.cc) if step.cc else []
    if alert["flapping"]:
        template = "alerta-oscilacion"
    tz = ZoneInfo(cfg.agent.timezone)
    subject, body = mail.render(template, {
        "alert": alert, "device": device, "step": index + 1, "policy": policy.name,
        "severity": SEVERITY_ES.get(alert["severity"], str(alert["severity"])),
        "opened": alert["opened_at"].astimezone(tz).strftime("%d/%m/%Y %H:%M"), "agent": cfg.agent,
        "vendor": device.vendor if device is not None else None}, mail.templates_dir(cfg))
    message = outbox.enqueue(to, subject, body, cc, source=f"alert:{alert['id']}")
    events.append(("notified", f"paso {index + 1} ({policy.name}): {', '.join(to)}"
                               + (f" cc {', '.join(cc)}" if cc else "") + f" [outbox {message}]"))
    return events


# ---------------------------------------------------------------------- the helpdesk (S.04.04.02_P)
def open_ticket(helpdesk, alert: dict, policy: EscalationPolicy, index: int, device) -> list[tuple[str, str]]:
    """A step that writes to the vendor also opens the alert's GLPI ticket (queued once per alert: a
    repeated step or a hand escalation finds it open); return the alert events it makes."""
    if not helpdesk.enabled or not policy.steps[index].vendor or helpdesk.row_by_source(f"alert:{alert['id']}"):
        return []
    vendor = device.vendor if device is not None else None
    severity = SEVERITY_ES.get(alert["severity"], str(alert["severity"]))
    tz = ZoneInfo(helpdesk.config.agent.timezone)
    value = alert["text"] or ("" if alert["value"] is None else alert["value"])
    what = f"{alert['device']} — {alert['reading']} {value}".rstrip()
    lines = [f"Alerta {alert['id']} de monitoreo ({severity}): {what}",
             f"Detalle: {alert['message'] or '—'}",
             f"Abierta: {alert['opened_at'].astimezone(tz):%d/%m/%Y %H:%M}; política {policy.name}, paso {index + 1}",
             f"Escalada al proveedor {vendor.name}" + (f" (contrato {vendor.contract})" if vendor.contract else "")
             if vendor else "Escalada al proveedor del equipo",
             "S.04.04.01.03_P, actividades 8–9: el especialista no puede resolverla; se informa a la jefa."]
    call = helpdesk.open(f"alert:{alert['id']}", f"Alerta {alert['id']}: {alert['device']} {alert['reading']}",
                         "\n".join(lines), category=helpdesk.cfg.alert_category)
    return [("ticket", f"ticket de mesa de ayuda en cola [helpdesk {call}]")]


def ticket_note(helpdesk, alert_id: int, event_id: int, by: str, text: str) -> None:
    """The vendor's reply recorded on an alert is a followup of its ticket (activity 10), when it has one."""
    if helpdesk.enabled and helpdesk.row_by_source(f"alert:{alert_id}") is not None:
        helpdesk.follow(f"alert:{alert_id}", f"alert:{alert_id}:reply:{event_id}",
                        f"Respuesta del proveedor, registrada por {by}:\n{text}")


def ticket_solved(helpdesk, alert_id: int, by: str, comment: str | None) -> None:
    """An alert resolved solves its ticket, with who resolved it and why."""
    if helpdesk.enabled and helpdesk.row_by_source(f"alert:{alert_id}") is not None:
        helpdesk.solve(f"alert:{alert_id}", f"alert:{alert_id}:resolved",
                       f"Alerta {alert_id} resuelta por {by}" + (f": {comment}" if comment else "."))
