"""The monthly IT services report (S.04.03.02_P, flows 1–3): what the jefa reads to decide.

Availability of each device (the share of its check runs that were answered), the switches of the
communications rooms, the month's alerts (events and incidents), backups (runs, failures, success
rate), tapes sent to and received from custody, and the datacenter access log (Anexo 1 of
S.04.03.02_P: date, name, ID, company, activity, time in, time out).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from agent.documents import Section, write_document
from agent.reports.daily import KIND_ES
from agent.store.schema import (access_log, alert_events, alerts, backup_runs, custody_movements, latest_readings,
                                uptime_days)
from agent.store.times import aware

MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre"]
ACCESS_COLUMNS = ["Fecha ingreso", "Nombre y apellidos", "Identificación / DNI", "Entidad / proveedor",
                  "Actividad realizada", "Hora de ingreso", "Hora de salida", "Firma salida"]


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """'2026-11' -> the month's first instant and the next month's, in the office's zone."""
    first = date.fromisoformat(month + "-01")
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return datetime.combine(first, datetime.min.time(), tz), datetime.combine(nxt, datetime.min.time(), tz)


def _pct(part: int, total: int) -> str:
    return f"{100 * part / total:.2f} %" if total else "—"


def sections(settings, store, month: str) -> tuple[dict[str, str], list[Section]]:
    tz = ZoneInfo(settings.config.agent.timezone)
    since, until = month_bounds(month, tz)
    s_utc, u_utc = since.astimezone(UTC), until.astimezone(UTC)
    with store.engine.connect() as conn:
        days = [dict(r._mapping) for r in conn.execute(select(uptime_days).where(and_(
            uptime_days.c.day >= f"{s_utc:%Y-%m-%d}", uptime_days.c.day < f"{u_utc:%Y-%m-%d}")))]
        worst: dict[str, int] = {}
        for device, state in conn.execute(select(latest_readings.c.device, latest_readings.c.state)):
            worst[device] = max(worst.get(device, 0), state if state != 3 else 0)
        month_alerts = [dict(r._mapping) for r in conn.execute(select(alerts).where(and_(
            alerts.c.opened_at >= s_utc, alerts.c.opened_at < u_utc)).order_by(alerts.c.opened_at))]
        notified = [dict(r._mapping) for r in conn.execute(select(alert_events).where(and_(
            alert_events.c.event == "notified", alert_events.c.alert_id.in_([a["id"] for a in month_alerts]))))]
        runs = [dict(r._mapping) for r in conn.execute(select(backup_runs).where(and_(
            backup_runs.c.started_at >= s_utc, backup_runs.c.started_at < u_utc)))]
        moves = [dict(r._mapping) for r in conn.execute(select(custody_movements).where(and_(
            custody_movements.c.at >= s_utc, custody_movements.c.at < u_utc)).order_by(custody_movements.c.at))]
        verdicts = [dict(r._mapping) for r in conn.execute(select(latest_readings).where(
            latest_readings.c.name == "compliance_ok").order_by(latest_readings.c.device, latest_readings.c.reading))]
        entries = [dict(r._mapping) for r in conn.execute(select(access_log).where(and_(
            access_log.c.day >= f"{since:%Y-%m-%d}", access_log.c.day < f"{until:%Y-%m-%d}"))
            .order_by(access_log.c.day, access_log.c.time_in))]

    per_device: dict[str, list[int]] = {}
    for d in days:
        agg = per_device.setdefault(d["device"], [0, 0])
        agg[0] += d["runs"]
        agg[1] += d["up_runs"]
    inventory = settings.inventory
    alerts_of = {d.name: [a for a in month_alerts if a["device"] == d.name] for d in inventory}
    availability = []
    for i, d in enumerate(inventory, 1):
        total, up = per_device.get(d.name, [0, 0])
        cls = "" if not total else "ok" if up == total else "bad"
        availability.append([(str(i), ""), (d.name, ""), (KIND_ES.get(d.kind, d.kind), ""),
                             (str(total), ""), (_pct(up, total), cls), (str(len(alerts_of[d.name])), "")])
    switches = []
    for i, d in enumerate([d for d in inventory if d.kind == "switch"], 1):
        total, up = per_device.get(d.name, [0, 0])
        state = {0: "Normal", 1: "Advertencia", 2: "Crítico"}.get(worst.get(d.name, 0), "—")
        switches.append([(str(i), ""), (d.name, ""), (d.location or d.site, ""), (_pct(up, total), ""),
                         (state, "bad" if worst.get(d.name, 0) else "ok"), (str(len(alerts_of[d.name])), "")])
    vendor_alerts = set()
    for e in notified:
        alert = next(a for a in month_alerts if a["id"] == e["alert_id"])
        dev = inventory.by_name.get(alert["device"])
        if dev is not None and dev.vendor and dev.vendor.email and dev.vendor.email in (e["detail"] or ""):
            vendor_alerts.add(alert["id"])
    incidents = []
    for i, a in enumerate(month_alerts, 1):
        incidents.append([(str(i), ""), (f"{aware(a['opened_at']).astimezone(tz):%d/%m/%Y %H:%M}", ""), (a["device"], ""),
                          (a["reading"], ""), ("Crítico" if a["severity"] >= 2 else "Advertencia", ""),
                          ("Incidente" if a["id"] in vendor_alerts else "Evento", ""),
                          ("Resuelta" if a["status"] == "resolved" else "Abierta",
                           "ok" if a["status"] == "resolved" else "bad")])
    backups = []
    assets = settings.assets.assets if settings.assets else []
    for i, asset in enumerate(assets, 1):
        mine = [r for r in runs if r["asset"] == asset.id]
        ok = sum(1 for r in mine if r["status"] in ("ok", "warning"))
        failed = len(mine) - ok
        backups.append([(str(i), ""), (asset.name, ""), (asset.periodicity.describe(), ""), (str(len(mine)), ""),
                        (str(ok), ""), (str(failed), "bad" if failed else ""), (_pct(ok, len(mine)), "")])
    custody = [[(str(i), ""), (f"{aware(m['at']).astimezone(tz):%d/%m/%Y}", ""),
                (m["box"], ""), (m["movement"], ""), ((m["tapes"] or "").replace(",", ", "), ""), (m["seal"] or "", ""),
                (m["by"], "")] for i, m in enumerate(moves, 1)]
    access = [[(date.fromisoformat(e["day"]).strftime("%d/%m/%Y"), ""), (e["name"], ""), (e["id_number"], ""),
               (e["company"], ""), (e["activity"], ""), (e["time_in"], ""), (e["time_out"] or "", ""), ("", "")]
              for e in entries]
    import json

    compliance = []
    for i, v in enumerate(verdicts, 1):
        labels = dict(json.loads(v["labels"] or "[]"))
        ok = v["state"] == 0
        compliance.append([(str(i), ""), (labels.get("host", v["device"]), ""),
                           ({"parches": "Parches (Linux)", "wsus": "Parches (WSUS)", "antivirus": "Antivirus"}
                            .get(labels.get("area", ""), labels.get("area", "")), ""),
                           ("Sí" if ok else "No", "ok" if ok else "bad"), (v["message"] or "", "")])
    total_runs = sum(v[0] for v in per_device.values())
    total_up = sum(v[1] for v in per_device.values())
    header = {"Oficina": "Oficina de Tecnologías de la Información",
              "Periodo": f"{MONTHS[since.month - 1]} de {since.year}",
              "Responsable": settings.config.reports.responsible,
              "Disponibilidad global": _pct(total_up, total_runs),
              "Alertas": f"{len(month_alerts)} ({len(vendor_alerts)} incidente(s) escalado(s) al proveedor)",
              "Copias de respaldo": f"{sum(len([r for r in runs if r['asset'] == a.id]) for a in assets)} ejecuciones, "
                                    f"{sum(1 for r in runs if r['status'] not in ('ok', 'warning'))} fallidas",
              "Ingresos al Centro de Datos": str(len(access)),
              "Cumplimiento (parches y antivirus)": f"{sum(1 for c in compliance if c[3][0] == 'Sí')} de "
                                                    f"{len(compliance)} conformes" if compliance else "sin datos"}
    return header, [
        Section("Disponibilidad por equipo", ["N°", "Equipo", "Tipo", "Chequeos", "Disponibilidad", "Alertas"],
                availability, (5, 20, 28, 10, 14, 9), sheet="Disponibilidad"),
        Section("Estado de los switches de los cuartos de comunicaciones",
                ["N°", "Switch", "Ubicación", "Disponibilidad", "Estado actual", "Alertas"], switches,
                (5, 20, 24, 14, 14, 9), sheet="Switches"),
        Section("Eventos e incidentes del mes", ["N°", "Inicio", "Equipo", "Lectura", "Severidad", "Clasificación",
                                                "Estado"], incidents, (5, 14, 14, 28, 11, 12, 10), sheet="Incidentes"),
        Section("Copias de respaldo", ["N°", "Activo de información", "Periodicidad", "Ejecuciones", "Conformes",
                                       "Fallidas", "Éxito"], backups, (5, 34, 18, 11, 10, 9, 10), sheet="Respaldos"),
        Section("Cintas enviadas y recibidas de custodia", ["N°", "Fecha", "Caja", "Movimiento", "Cintas",
                                                            "Precinto", "Registró"], custody,
                (5, 11, 11, 13, 34, 11, 14), sheet="Custodia"),
        Section("Cumplimiento de parches y antivirus (al cierre)", ["N°", "Equipo", "Área", "Conforme",
                                                                   "Observaciones"], compliance,
                (5, 20, 18, 10, 60), sheet="Cumplimiento"),
        Section("Control de acceso al Centro de Datos (Anexo 1 de S.04.03.02_P)", ACCESS_COLUMNS, access,
                (11, 22, 13, 18, 30, 9, 9, 12), sheet="Acceso"),
    ]


def write(settings, store, month: str, folder: Path) -> list[Path]:
    """Write the monthly report of `month` (YYYY-MM) as HTML, XLSX and PDF; return the paths."""
    header, secs = sections(settings, store, month)
    return write_document(folder, f"informe-mensual-{month}", "Informe mensual de servicios TI", header, secs,
                          pdf=True)
