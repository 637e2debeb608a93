"""The monthly IT services report (S.04.03.02_P, flows 1–3): what the jefa reads to decide.

Availability of each device (the share of its check runs that were answered), the switches of the
communications rooms, the month's alerts (events and incidents), backups (runs, failures, success
rate), tapes sent to and received from custody, each host's compliance at the close, the network
equipment's configuration, port and VPN events (flow 3, from syslog), the restore drills (assets drilled, result, measured recovery time against the objective, and those due that had none), and the datacenter access log (Anexo 1 of S.04.03.02_P). Written on the month's first working day.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from agent.core.results import State
from agent.documents import drill_report
from agent.documents.base import DocContext, Document
from agent.documents.licences import monthly_section
from agent.documents.render import Page
from agent.store import queries


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """'2026-11' -> the month's first instant and the next month's, in the office's zone."""
    first = date.fromisoformat(month + "-01")
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return datetime.combine(first, datetime.min.time(), tz), datetime.combine(nxt, datetime.min.time(), tz)


def _pct(part: int, total: int) -> str:
    return f"{100 * part / total:.2f} %" if total else "—"


def _availability(ctx: DocContext, uptime: dict, alerts_of: dict, worst: dict) -> tuple[list[dict], list[dict]]:
    devices, switches = [], []
    for d in ctx.settings.inventory:
        total, up = uptime.get(d.name, (0, 0))
        devices.append({"n": str(len(devices) + 1), "equipo": d.name, "tipo": ctx.labels.get("kinds", d.kind),
                        "chequeos": str(total),
                        "disponibilidad": (_pct(up, total), "" if not total else "ok" if up == total else "bad"),
                        "alertas": str(len(alerts_of[d.name]))})
        if d.kind == "switch":
            w = worst.get(d.name, State.OK)
            switches.append({"n": str(len(switches) + 1), "switch": d.name, "ubicacion": d.location or d.site,
                             "disponibilidad": _pct(up, total),
                             "estado": (ctx.labels.get("states", w.name), "bad" if w != State.OK else "ok"),
                             "alertas": str(len(alerts_of[d.name]))})
    return devices, switches


def _incidents(ctx: DocContext, month_alerts: list[dict]) -> tuple[list[dict], set[int]]:
    notified = queries.alert_events(ctx.store, [a["id"] for a in month_alerts], event="notified")
    inventory = ctx.settings.inventory.by_name
    vendor = set()
    for a in month_alerts:
        dev = inventory.get(a["device"])
        if queries.vendor_escalated(a, notified[a["id"]], dev.vendor.email if dev and dev.vendor else None):
            vendor.add(a["id"])
    rows = [{"n": str(i), "inicio": ctx.local(a["opened_at"]), "equipo": a["device"], "lectura": a["reading"],
             "severidad": ctx.labels.get("severity", a["severity"].name),
             "clasificacion": "Incidente" if a["id"] in vendor else "Evento",
             "estado": ("Resuelta", "ok") if a["status"] == "resolved" else ("Abierta", "bad")}
            for i, a in enumerate(month_alerts, 1)]
    return rows, vendor


def _backups(ctx: DocContext, runs: list[dict]) -> list[dict]:
    rows = []
    for i, asset in enumerate(ctx.settings.assets.assets if ctx.settings.assets else [], 1):
        mine = [r for r in runs if r["asset"] == asset.id]
        ok = sum(1 for r in mine if r["status"] in queries.GOOD_BACKUP)
        failed = len(mine) - ok
        rows.append({"n": str(i), "activo": asset.name, "periodicidad": asset.periodicity.describe(),
                     "ejecuciones": str(len(mine)), "conformes": str(ok),
                     "fallidas": (str(failed), "bad" if failed else ""), "exito": _pct(ok, len(mine))})
    return rows


def _others(ctx: DocContext, since: datetime, until: datetime) -> dict[str, list[dict]]:
    """Custody movements, compliance at the close, and the access log of the month."""
    custody = [{"n": str(i), "fecha": ctx.local(m["at"], "%d/%m/%Y"), "caja": m["box"], "movimiento": m["movement"],
                "cintas": (m["tapes"] or "").replace(",", ", "), "precinto": m["seal"] or "", "registro": m["by"]}
               for i, m in enumerate(queries.custody_movements(ctx.store, since=since, until=until), 1)]
    compliance = []
    for i, v in enumerate(sorted(queries.compliance_verdicts(ctx.store), key=lambda v: (v["device"], v["reading"])), 1):
        ok = v["state"] == State.OK
        compliance.append({"n": str(i), "equipo": v["labels"].get("host", v["device"]),
                           "area": ctx.labels.get("compliance_area_title", v["labels"].get("area", "")),
                           "conforme": ("Sí", "ok") if ok else ("No", "bad"), "observaciones": v["message"] or ""})
    access = [{"fecha": date.fromisoformat(e["day"]).strftime("%d/%m/%Y"), "nombre": e["name"], "dni": e["id_number"],
               "entidad": e["company"], "actividad": e["activity"], "ingreso": e["time_in"],
               "salida": e["time_out"] or "", "firma": ""}
              for e in queries.access_entries(ctx.store, f"{since:%Y-%m-%d}", f"{until:%Y-%m-%d}")]
    network = [{"n": str(i), "fecha": ctx.local(e["at"]), "equipo": e["device"],
                "tipo": ctx.labels.get("network_event", e["category"]), "usuario": e["user"] or "",
                "puerto": e["port"] or "", "detalle": e["detail"]}
               for i, e in enumerate(queries.network_events(ctx.store, since, until), 1)]
    return {"custodia": custody, "cumplimiento": compliance, "red": network, "acceso": access}


def _network_summary(ctx: DocContext, events: list[dict]) -> str:
    """'3 cambios de configuración, 12 de puertos, 5 conexiones VPN' (flow 3 in one line)."""
    if not events:
        return "sin eventos (o sin receptor de syslog)"
    counts = {c: sum(1 for e in events if e["tipo"] == ctx.labels.get("network_event", c))
              for c in ("configuracion", "puerto", "vpn")}
    return (f"{counts['configuracion']} cambio(s) de configuración, {counts['puerto']} de puertos, "
            f"{counts['vpn']} conexión(es) VPN")


class MonthlyReport(Document):
    """S.04.03.02_P: availability, switches, incidents, backups, custody, compliance and the access log."""

    form = "informe-mensual"
    schedule = "monthly"
    mail_template = "informe-mensual"
    params = ("month",)

    def build(self, ctx: DocContext) -> Page:
        month = ctx.params["month"]
        since, until = month_bounds(month, ctx.tz)
        month_alerts = queries.alerts_opened(ctx.store, since, until)
        uptime = queries.availability(ctx.store, f"{since:%Y-%m-%d}", f"{until:%Y-%m-%d}")   # the office's days
        alerts_of = {d.name: [a for a in month_alerts if a["device"] == d.name] for d in ctx.settings.inventory}
        devices, switches = _availability(ctx, uptime, alerts_of, queries.worst_state(ctx.store))
        incidents, vendor = _incidents(ctx, month_alerts)
        assets = {a.id for a in (ctx.settings.assets.assets if ctx.settings.assets else [])}
        runs = queries.backup_runs(ctx.store, since, until)
        sections = {"disponibilidad": devices, "switches": switches, "incidentes": incidents,
                    "respaldos": _backups(ctx, runs), **_others(ctx, since, until)}
        sections["licencias"], licences = monthly_section(ctx, since, until)     # S.04.04.01.01_P
        sections["simulacros"], drills = drill_report.monthly_section(ctx, since, until)   # issue 17
        total_runs, total_up = sum(v[0] for v in uptime.values()), sum(v[1] for v in uptime.values())
        compliance = sections["cumplimiento"]
        header = {"oficina": ctx.config.reports.office,
                  "periodo": f"{ctx.labels.get('months', since.month)} de {since.year}",
                  "responsable": ctx.config.reports.responsible, "disponibilidad": _pct(total_up, total_runs),
                  "alertas": f"{len(month_alerts)} ({len(vendor)} incidente(s) escalado(s) al proveedor)",
                  "copias": f"{sum(1 for r in runs if r['asset'] in assets)} ejecuciones, "
                            f"{sum(1 for r in runs if r['status'] not in queries.GOOD_BACKUP)} fallidas",
                  "ingresos": str(len(sections["acceso"])),
                  "red": _network_summary(ctx, sections["red"]),
                  "licencias": licences,
                  "simulacros": drills,
                  "cumplimiento": f"{sum(1 for c in compliance if c['conforme'][0] == 'Sí')} de {len(compliance)} "
                                  "conformes" if compliance else "sin datos"}
        return ctx.page(f"informe-mensual-{month}", header, sections, facts={"month": month})
