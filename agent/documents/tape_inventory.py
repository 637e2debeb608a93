"""Anexo 04 of S.04.04.01.02_P, the inventario de cintas: every tape, what it holds, and where it is
(library slot, office, custody box with its seal and dates)."""

from __future__ import annotations

from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.store import queries


class TapeInventory(Document):
    """Anexo 04: the tape inventory, written every morning after the backends are read."""

    form = "inventario-cintas"
    folder = "cintas"
    pdf = False
    schedule = "daily"
    at = "backups.log_time"
    params = ("day",)

    def refresh(self, settings, store) -> None:
        """Read every tape backend's volumes into the inventory first."""
        if settings.assets is None:
            return
        from agent.backups.service import BackupService
        from agent.backups.tapes import TapeInventory as Tapes

        svc, tapes = BackupService(settings, store), Tapes(store)
        for name in settings.config.backups.backends:
            backend = svc.backend(name)
            if backend.supports_tapes:
                tapes.sync(backend)

    def build(self, ctx: DocContext) -> Page:
        day = ctx.params["day"]
        tapes, boxes, jobs = queries.tape_list(ctx.store), queries.tape_boxes_list(ctx.store), queries.jobs_by_tape(ctx.store)
        keep = {}
        if ctx.settings.assets is not None:         # what the matrix's retention keeps each tape for
            from agent.backups.tapes import TapeInventory as Tapes

            keep = Tapes(ctx.store).keep_until(ctx.settings.assets)
        rows = []
        for i, t in enumerate(tapes, 1):
            box = boxes.get(t["box"] or "", {})
            expired = t["retention_until"] is not None and t["retention_until"].astimezone(ctx.tz).date() < day
            rows.append({"n": str(i), "cinta": t["label"], "pool": t["pool"] or "",
                         "estado": (ctx.labels.get("tape_status", t["status"]), "bad" if t["status"] == "error" else ""),
                         "primera": ctx.local(t["first_written"], "%d/%m/%Y"),
                         "ultima": ctx.local(t["last_written"], "%d/%m/%Y"),
                         "retencion": _retention(ctx, t, keep.get(t["label"]), expired),
                         "trabajos": "; ".join(jobs.get(t["label"], [])),
                         "ubicacion": ctx.labels.get("tape_location", t["location"]), "slot": str(t["slot"] or ""),
                         "caja": t["box"] or "", "precinto": box.get("seal") or "",
                         "envio": ctx.local(box.get("sent_at"), "%d/%m/%Y"),
                         "retorno": ctx.local(box.get("returned_at"), "%d/%m/%Y")})
        header = {"oficina": ctx.config.reports.office, "fecha": f"{day:%d/%m/%Y}",
                  "responsable": ctx.config.backups.responsible, "cintas": str(len(rows)),
                  "custodia": str(sum(1 for t in tapes if t["location"] == "custodia"))}
        return ctx.page(f"inventario-cintas-{day:%Y-%m-%d}", header, {"cintas": rows})


def _retention(ctx: DocContext, tape: dict, keep, expired: bool):
    """The backend's retention of a tape; flagged when it ends before the matrix's retention of what it holds."""
    text = ctx.local(tape["retention_until"], "%d/%m/%Y") + (" (vencida)" if expired else "")
    until = tape["retention_until"]
    if keep is None or until is None or until.astimezone(ctx.tz) >= keep[0].astimezone(ctx.tz):
        return text
    return (f"{text} — la matriz exige conservarla hasta {ctx.local(keep[0], '%d/%m/%Y')} ({keep[1]})", "bad")
