"""The monitoring report of the infrastructure and IT services (Anexo 01 of S.04.04.01.03_P).

Activities 7–12: the equipment monitored and how it stands, then every alert of the period — when
it began, on which equipment and reading, what it said, to whom it was escalated and when, who
took it, how it ended. An alert overcome without the vendor is an *evento* (activity 8); one
escalated to the vendor is an *incidente* (activities 9–10).
"""

from __future__ import annotations

from datetime import timedelta

from agent.core.results import State
from agent.documents.base import DocContext, Document
from agent.documents.daily import period_end, zone_name
from agent.documents.render import Page
from agent.store import queries


def _devices(ctx: DocContext, statuses: list[dict], worst: dict, found: list[dict]) -> list[dict]:
    rows = []
    for i, d in enumerate(ctx.settings.inventory, 1):
        mine = [s for s in statuses if s["device"] == d.name]
        if not mine:
            state = ("Sin datos", "")
        elif any(not s["up"] for s in mine):
            state = ("Sin respuesta", "bad")
        else:
            w = worst.get(d.name, State.OK)
            state = (ctx.labels.get("states", w.name), "ok" if w == State.OK else "bad")
        rows.append({"n": str(i), "equipo": d.name, "tipo": ctx.labels.get("kinds", d.kind), "sede": d.site,
                     "chequeos": ", ".join(sorted(s["check_name"] for s in mine)), "estado": state,
                     "alertas": str(sum(1 for a in found if a["device"] == d.name))})
    return rows


def _alert_row(ctx: DocContext, i: int, a: dict, evs: list[dict]) -> tuple[dict, bool]:
    device = ctx.settings.inventory.by_name.get(a["device"])
    vendor = device.vendor.email if device is not None and device.vendor and device.vendor.email else None
    told = [f"{ctx.local(e['at'])}: {e['detail'].split(' [outbox')[0]}" for e in evs if e["event"] == "notified"]
    incident = queries.vendor_escalated(a, evs, vendor)
    if a["status"] == "resolved":
        end = f"resuelta {ctx.local(a['resolved_at'])} por {a['resolved_by']}" + (f": {a['comment']}" if a["comment"] else "")
    else:
        end = "abierta" + (f", tomada por {a['acked_by']} {ctx.local(a['acked_at'])}" if a["acked_by"] else "")
    critical = a["severity"] >= State.CRITICAL
    detail = (a["message"] or a["text"] or str(a["value"] or "")) + (" (oscila)" if a["flapping"] else "")
    return {"n": str(i), "alerta": str(a["id"]), "inicio": ctx.local(a["opened_at"]), "equipo": a["device"],
            "lectura": a["reading"], "severidad": (ctx.labels.get("severity", a["severity"].name), "bad" if critical else ""),
            "detalle": detail, "clasificacion": "Incidente (escalado al proveedor)" if incident else "Evento",
            "escalamiento": "; ".join(told) or "—", "tomada_por": a["acked_by"] or "",
            "cierre": (end, "ok" if a["status"] == "resolved" else "bad")}, incident


class MonitoringReport(Document):
    """Anexo 01 of S.04.04.01.03_P: equipment and the period's alerts, mailed with the daily checklist."""

    form = "reporte-monitoreo"
    schedule = "daily"
    mail_template = "reporte-monitoreo"
    params = ("day",)

    def build(self, ctx: DocContext) -> Page:
        day = ctx.params["day"]
        until = period_end(ctx.settings, day, ctx.now)
        since = until - timedelta(days=1)
        found = queries.alerts_during(ctx.store, since, until)
        events = queries.alert_events(ctx.store, [a["id"] for a in found])
        devices = _devices(ctx, queries.check_statuses(ctx.store), queries.worst_state(ctx.store), found)
        rows = [_alert_row(ctx, i, a, events.get(a["id"], [])) for i, a in enumerate(found, 1)]
        incidents = sum(1 for _, incident in rows if incident)
        header = {"oficina": ctx.config.reports.office, "fecha": f"{day:%d/%m/%Y}",
                  "periodo": f"{ctx.local(since)} a {ctx.local(until)} ({zone_name(ctx.settings)})",
                  "responsable": ctx.config.reports.responsible, "equipos": str(len(devices)),
                  "alertas": f"{len(rows)} ({incidents} incidente(s), {len(rows) - incidents} evento(s))"}
        return ctx.page(f"reporte-monitoreo-{day:%Y-%m-%d}", header,
                        {"equipos": devices, "alertas": [r for r, _ in rows]})
