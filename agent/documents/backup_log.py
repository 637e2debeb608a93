"""Anexo 03 of S.04.04.01.02_P, the bitácora diaria de copia de respaldo de servidores: one line per job
of the day (activity 5), written every morning for the day before."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agent.documents.base import DocContext, Document
from agent.documents.render import Page, human_bytes
from agent.store import queries

GOOD = queries.GOOD_BACKUP


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A day of the office: its first instant and the next day's."""
    start = datetime.combine(day, time(0), tz)
    return start, start + timedelta(days=1)


def _row(ctx: DocContext, i: int, r: dict, asset) -> dict:
    notes = []
    if r["attempt"] > 1:
        notes.append(f"reintento {r['attempt'] - 1}")
    if r["trigger"] == "manual":
        notes.append("ejecutada a pedido")
    notes += r["errors"][:4]
    if r["job_id"]:
        notes.append(f"{r['backend']} job {r['job_id']}")
    cls = "ok" if r["status"] in GOOD else "bad" if r["status"] != "running" else ""
    return {"n": str(i), "fecha": ctx.local(r["started_at"], "%d/%m/%Y"), "servidor": asset.server if asset else "",
            "activo": asset.name if asset else r["asset"], "tipo": ctx.labels.get("backup_level", r["level"]),
            "inicio": ctx.local(r["started_at"], "%H:%M:%S"), "fin": ctx.local(r["ended_at"], "%H:%M:%S"),
            "tamano": human_bytes(r["bytes"]) if r["status"] in GOOD else "", "archivos": str(r["files"]),
            "estado": (ctx.labels.get("backup_status", r["status"]), cls),
            "cintas": (r["volumes"] or "").replace(",", ", "), "observaciones": "; ".join(notes)}


class BackupLog(Document):
    """Anexo 03: every backup job of a day, with its result, size, tapes and errors."""

    form = "bitacora-copias"
    folder = "bitacoras"
    pdf = False
    schedule = "daily"
    at = "backups.log_time"
    params = ("day",)

    def scheduled_params(self, ctx: DocContext) -> dict:
        return {"day": ctx.today - timedelta(days=1)}       # the morning's bitácora is of the day before

    def build(self, ctx: DocContext) -> Page:
        day = ctx.params["day"]
        assets = {a.id: a for a in ctx.settings.assets.assets} if ctx.settings.assets else {}
        rows = [_row(ctx, i, r, assets.get(r["asset"]))
                for i, r in enumerate(queries.backup_runs(ctx.store, *day_bounds(day, ctx.tz)), 1)]
        header = {"oficina": ctx.config.reports.office, "fecha": f"{day:%d/%m/%Y}",
                  "responsable": ctx.config.backups.responsible, "copias": str(len(rows)),
                  "conformes": str(sum(1 for r in rows if r["estado"][1] == "ok"))}
        return ctx.page(f"bitacora-copias-{day:%Y-%m-%d}", header, {"copias": rows})
