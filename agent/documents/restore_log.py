"""Anexo 06 of S.04.04.01.02_P, the bitácora de restauración de servidores: every restore recorded
(activity 16), positive or negative."""

from __future__ import annotations

from datetime import date

from agent.documents.base import DocContext, Document
from agent.documents.render import Page, human_bytes
from agent.store import queries

STATUS_CLASS = {"completado": "ok", "fallido": "bad", "sin_copia": "bad"}


class RestoreLog(Document):
    """Anexo 06: requester, backup date, server, restore name, files, directories, size, status."""

    form = "bitacora-restauracion"
    folder = "bitacoras"
    pdf = False

    def build(self, ctx: DocContext) -> Page:
        found = queries.restore_list(ctx.store)
        rows = []
        for i, r in enumerate(found, 1):
            note = "; ".join(x for x in (
                f"fecha solicitada {date.fromisoformat(r['requested_date']):%d/%m/%Y}" if r["requested_date"] else "",
                f"jobs {r['jobs']}" if r["jobs"] else "", r["note"] or "", f"ejecución {r['run_id']}") if x)
            rows.append({"n": str(i), "solicitante": r["requester"],
                         "fecha_backup": ctx.local(r["backup_date"], "%d/%m/%Y"), "servidor": r["server"] or "",
                         "nombre": r["restore_name"] or "", "files": str(r["files"]),
                         "directorios": str(r["directories"]), "peso": human_bytes(r["bytes"]) if r["bytes"] else "",
                         "estado": (ctx.labels.get("restore_status", r["status"]), STATUS_CLASS.get(r["status"], "")),
                         "observaciones": note})
        header = {"oficina": ctx.config.reports.office, "encargado": ctx.config.backups.responsible,
                  "actualizacion": ctx.local(found[-1]["at"], "%d/%m/%Y") if found else ""}
        return ctx.page("bitacora-restauracion", header, {"restauraciones": rows})
