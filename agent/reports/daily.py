"""The daily checklist of IT services (Anexo 07 of S.04.04.01.02_P): computed, never typed.

Responsible, date, and one line per item — each piece of equipment of the inventory and each
backed-up asset — with "Sí" or "No" and an observation, from the last day's readings, check runs,
alerts and backups. A device is "Sí" when its checks answered, none of its readings is CRITICAL
now and none of its alerts of the day is still open; otherwise the observation says why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from agent.documents import write_table
from agent.store.schema import alerts, backup_runs, check_status, latest_readings
from agent.store.times import aware

COLUMNS = ["Ítem", "Actividades", "Sí", "No", "Observación"]
KIND_ES = {"ups": "UPS", "ac": "aire acondicionado de precisión", "switch": "switch", "router": "router",
           "firewall": "firewall", "storage": "almacenamiento", "server_physical": "servidor físico",
           "server_virtual": "servidor virtual", "db": "servidor de base de datos", "backup": "servidor de respaldo",
           "tape_library": "librería de cintas", "pbx": "central telefónica", "fire": "detección de incendio",
           "flood": "sistema anti-aniego"}


def period_end(settings, day: date, now: datetime | None = None) -> datetime:
    """The checklist of a past day is as of its morning review (`reports.daily_time`); today's is as of
    `now` (the caller's clock: the daemon's, a test's)."""
    tz = ZoneInfo(settings.config.agent.timezone)
    now = (now or datetime.now(UTC)).astimezone(tz)
    review = time.fromisoformat(settings.config.reports.daily_time)
    return (now if day == now.date() else datetime.combine(day, review, tz)).astimezone(UTC)


def items(settings, store, day: date, now: datetime | None = None) -> list[tuple[str, bool, str]]:
    """(activity, ok, observation) over the 24 hours before `period_end`."""
    tz = ZoneInfo(settings.config.agent.timezone)
    until = period_end(settings, day, now)
    since = until - timedelta(days=1)
    with store.engine.connect() as conn:
        statuses = [dict(r._mapping) for r in conn.execute(select(check_status))]
        critical = [dict(r._mapping) for r in conn.execute(select(latest_readings).where(and_(
            latest_readings.c.state == 2, latest_readings.c.name != "compliance_ok")))]
        verdicts = [dict(r._mapping) for r in conn.execute(select(latest_readings).where(
            latest_readings.c.name == "compliance_ok").order_by(latest_readings.c.reading))]
        day_alerts = [dict(r._mapping) for r in conn.execute(select(alerts).where(and_(
            alerts.c.opened_at < until, or_(alerts.c.resolved_at.is_(None), alerts.c.resolved_at >= since))))]
        runs = [dict(r._mapping) for r in conn.execute(select(backup_runs).where(backup_runs.c.started_at < until)
                                                       .order_by(backup_runs.c.started_at))]
    out = []
    for d in settings.inventory:
        what = f"Operatividad de {d.name} ({KIND_ES.get(d.kind, d.kind)})"
        mine = [s for s in statuses if s["device"] == d.name]
        notes = [f"{s['check_name']} sin respuesta: {s['error']}" for s in mine if not s["up"]]
        notes += [f"{r['reading']} en estado crítico ({r['message'] or r['text'] or r['value']})"
                  for r in critical if r["device"] == d.name]
        open_ = [a for a in day_alerts if a["device"] == d.name and a["status"] != "resolved"]
        closed = [a for a in day_alerts if a["device"] == d.name and a["status"] == "resolved"]
        if open_:
            acked = sorted({a["acked_by"] for a in open_ if a["acked_by"]})
            notes.append(f"{len(open_)} alerta(s) abierta(s) (N° {', '.join(str(a['id']) for a in open_)})"
                         + (f", tomadas por {', '.join(acked)}" if acked else ", sin tomar"))
        if not mine:
            out.append((what, False, "sin monitoreo registrado en el día"))
            continue
        ok = not notes
        if ok and closed:
            notes.append(f"{len(closed)} alerta(s) resuelta(s) en el día")
        out.append((what, ok, "; ".join(notes)))
    import json

    areas = {"parches": "parches", "wsus": "parches (WSUS)", "antivirus": "antivirus"}
    for v in verdicts:            # compliance is per host: a WSUS server's verdicts are about its clients
        labels = dict(json.loads(v["labels"] or "[]"))
        host = labels.get("host", v["device"])
        out.append((f"Cumplimiento de {areas.get(labels.get('area', ''), labels.get('area', ''))} de {host}",
                    v["state"] == 0, v["message"] or ""))
    for asset in (settings.assets.assets if settings.assets else []):
        mine = [r for r in runs if r["asset"] == asset.id]
        good = [r for r in mine if r["status"] in ("ok", "warning")]
        last_good = aware(good[-1]["ended_at"]) if good else None
        fresh = last_good is not None and until - last_good <= asset.periodicity.max_gap() + timedelta(
            seconds=settings.config.backups.grace)
        last = mine[-1] if mine else None
        note = (f"última copia buena {last_good.astimezone(tz):%d/%m/%Y %H:%M}" if last_good else "sin copia registrada")
        if last and last["status"] not in ("ok", "warning", "running"):
            note += f"; última ejecución {last['status']}"
        out.append((f"Copia de respaldo de {asset.name} ({asset.periodicity.describe().lower()})",
                    fresh and (last is None or last["status"] in ("ok", "warning", "running")), note))
    return out


def write(settings, store, day: date, folder: Path, responsible: str, now: datetime | None = None) -> list[Path]:
    """Write the checklist of `day` as HTML, XLSX and PDF; return the paths."""
    rows = [[(str(i), ""), (what, ""), ("X" if ok else "", "ok"), ("" if ok else "X", "bad"), (note, "")]
            for i, (what, ok, note) in enumerate(items(settings, store, day, now), 1)]
    end = period_end(settings, day, now).astimezone(ZoneInfo(settings.config.agent.timezone))
    header = {"Responsable": responsible, "Fecha": f"{day:%d/%m/%Y}",
              "Periodo": f"24 horas hasta el {end:%d/%m/%Y %H:%M} (hora de Lima)",
              "Conformes": f"{sum(1 for r in rows if r[2][0])} de {len(rows)}"}
    return write_table(folder, f"checklist-diario-{day:%Y-%m-%d}",
                       "Checklist diario de estado de los servicios TI (Anexo 07)", header, COLUMNS, rows,
                       (6, 60, 6, 6, 70), pdf=True)
