"""The monitoring report of the infrastructure and IT services (Anexo 01 of S.04.04.01.03_P).

Activities 7–12: the equipment monitored and how it stands, then every alert of the period — when
it began, on which equipment and reading, what it said, to whom it was escalated and when, who
took it, how it ended. An alert overcome without the vendor is an *evento* (activity 8); one
escalated to the vendor is an *incidente* (activities 9–10). The manual prints no form for this
annex, so its columns are these, in the office's words.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from agent.documents import Section, write_document
from agent.reports.daily import KIND_ES, period_end
from agent.store.schema import alert_events, alerts, check_status, latest_readings
from agent.store.times import aware

STATE_ES = {0: ("Normal", "ok"), 1: ("Advertencia", "bad"), 2: ("Crítico", "bad"), 3: ("Desconocido", "")}


def sections(settings, store, day: date, now: datetime | None = None) -> tuple[dict[str, str], list[Section]]:
    tz = ZoneInfo(settings.config.agent.timezone)
    until = period_end(settings, day, now)
    since = until - timedelta(days=1)
    with store.engine.connect() as conn:
        statuses = [dict(r._mapping) for r in conn.execute(select(check_status))]
        worst: dict[str, int] = {}
        for device, state in conn.execute(select(latest_readings.c.device, latest_readings.c.state)):
            worst[device] = max(worst.get(device, 0), state if state != 3 else 0)
        found = [dict(r._mapping) for r in conn.execute(select(alerts).where(and_(
            alerts.c.opened_at < until, or_(alerts.c.resolved_at.is_(None), alerts.c.resolved_at >= since)))
            .order_by(alerts.c.opened_at, alerts.c.id))]
        events = {}
        for r in conn.execute(select(alert_events).where(alert_events.c.alert_id.in_([a["id"] for a in found]))
                              .order_by(alert_events.c.id)):
            events.setdefault(r.alert_id, []).append(dict(r._mapping))

    def local(when) -> str:
        return f"{aware(when).astimezone(tz):%d/%m/%Y %H:%M}" if when else ""

    devices = []
    for i, d in enumerate(settings.inventory, 1):
        mine = [s for s in statuses if s["device"] == d.name]
        down = [s["check_name"] for s in mine if not s["up"]]
        text, cls = ("Sin respuesta", "bad") if down else STATE_ES.get(worst.get(d.name, 0)) if mine else ("Sin datos", "")
        n = sum(1 for a in found if a["device"] == d.name)
        devices.append([(str(i), ""), (d.name, ""), (KIND_ES.get(d.kind, d.kind), ""), (d.site, ""),
                        (", ".join(sorted(s["check_name"] for s in mine)), ""), (text, cls), (str(n), "")])
    inventory = settings.inventory.by_name
    rows = []
    incidents = 0
    for i, a in enumerate(found, 1):
        device = inventory.get(a["device"])
        vendor = device.vendor.email if device is not None and device.vendor and device.vendor.email else None
        evs = events.get(a["id"], [])
        told = [f"{local(e['at'])}: {e['detail'].split(' [outbox')[0]}" for e in evs if e["event"] == "notified"]
        incident = bool(vendor and any(vendor in (e["detail"] or "") for e in evs if e["event"] == "notified"))
        incidents += incident
        if a["status"] == "resolved":
            end = f"resuelta {local(a['resolved_at'])} por {a['resolved_by']}" + (f": {a['comment']}" if a["comment"] else "")
        else:
            end = "abierta" + (f", tomada por {a['acked_by']} {local(a['acked_at'])}" if a["acked_by"] else "")
        severity = "Crítico" if a["severity"] >= 2 else "Advertencia"
        rows.append([(str(i), ""), (str(a["id"]), ""), (local(a["opened_at"]), ""), (a["device"], ""),
                     (a["reading"], ""), (severity, "bad" if a["severity"] >= 2 else ""),
                     ((a["message"] or a["text"] or str(a["value"] or "")) + (" (oscila)" if a["flapping"] else ""), ""),
                     ("Incidente (escalado al proveedor)" if incident else "Evento", ""),
                     ("; ".join(told) or "—", ""), (a["acked_by"] or "", ""),
                     (end, "ok" if a["status"] == "resolved" else "bad")])
    header = {"Oficina": "Oficina de Tecnologías de la Información", "Fecha": f"{day:%d/%m/%Y}",
              "Periodo": f"{since.astimezone(tz):%d/%m/%Y %H:%M} a {until.astimezone(tz):%d/%m/%Y %H:%M} (hora de Lima)",
              "Responsable": settings.config.reports.responsible, "Equipos monitoreados": str(len(devices)),
              "Alertas": f"{len(rows)} ({incidents} incidente(s), {len(rows) - incidents} evento(s))"}
    return header, [
        Section("Equipos monitoreados", ["N°", "Equipo", "Tipo", "Sede", "Chequeos", "Estado", "Alertas"], devices,
                (5, 18, 24, 14, 24, 14, 8), sheet="Equipos"),
        Section("Alertas, eventos e incidentes del periodo",
                ["N°", "Alerta", "Inicio", "Equipo", "Lectura", "Severidad", "Detalle", "Clasificación",
                 "Escalamiento", "Tomada por", "Cierre"], rows, (4, 8, 12, 11, 18, 12, 22, 13, 30, 10, 22),
                sheet="Alertas")]


def write(settings, store, day: date, folder: Path, now: datetime | None = None) -> list[Path]:
    """Write the monitoring report of `day` as HTML, XLSX and PDF; return the paths."""
    header, secs = sections(settings, store, day, now)
    return write_document(folder, f"reporte-monitoreo-{day:%Y-%m-%d}",
                          "Reporte de monitoreo de la infraestructura y de los servicios de TI (Anexo 01)",
                          header, secs, pdf=True)
