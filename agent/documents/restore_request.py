"""Anexo 05 of S.04.04.01.02_P, the registro de recuperación de copias de respaldo: one restore request, as
the unit made it (activity 8), who validated and authorised it (9–10), and how it ended (15–16). Written from
the run's parameters and journal when the result is recorded, kept with the bitácora (Anexo 06)."""

from __future__ import annotations

from datetime import date

from agent.documents.base import DocContext, Document
from agent.documents.render import Page, human_bytes
from agent.store import queries


class RestoreRequest(Document):
    """Anexo 05: the request, its authorisation and its result, for one run of restore-from-tape."""

    form = "solicitud-restauracion"
    folder = "bitacoras"
    params = ("run_id",)

    def build(self, ctx: DocContext) -> Page:
        from agent.documents.run_checklist import responsible

        run_id = ctx.params["run_id"]
        run = queries.run_row(ctx.store, run_id)
        p = run["params"]
        decisions = [d for d in queries.run_decision_rows(ctx.store, run_id)
                     if d["kind"] == "approval" and not d.get("superseded")]
        authorised = decisions[-1] if decisions else None
        restore = next((r for r in reversed(queries.restore_list(ctx.store)) if r["run_id"] == run_id), None)
        people = getattr(ctx.settings, "people", None)
        unit = people.units.get(str(p.get("unidad", ""))) if people is not None else None
        wanted = str(p.get("fecha", ""))
        rows = [("Unidad orgánica solicitante", unit.name if unit else str(p.get("unidad", ""))),
                ("Solicitante", str(p.get("solicitante", ""))),
                ("Correo del solicitante", str(p.get("correo_solicitante", ""))),
                ("Ticket de la mesa de ayuda", str(p.get("ticket", ""))),
                ("Activo de información", str(p.get("activo", ""))),
                ("Fecha de la copia solicitada", f"{date.fromisoformat(wanted):%d/%m/%Y}" if wanted else "la más reciente"),
                ("Motivo", str(p.get("motivo", ""))),
                ("Destino de la recuperación", str(p.get("destino", ""))),
                ("Autorización", (f"{'Autorizado' if authorised['decision'] == 'approved' else 'Denegado'} por "
                                  f"{responsible(ctx, authorised)} el {ctx.local(authorised['at'])}"
                                  + (f" — {authorised['comment']}" if authorised.get("comment") else ""))
                 if authorised else "pendiente")]
        if restore is not None:
            rows += [("Resultado", ctx.labels.get("restore_status", restore["status"])),
                     ("Copia recuperada", ctx.local(restore["backup_date"], "%d/%m/%Y") or "—"),
                     ("Archivos y directorios", f"{restore['files']} archivos, {restore['directories']} directorios"),
                     ("Peso", human_bytes(restore["bytes"]) if restore["bytes"] else "—")]
        status = ctx.labels.get("restore_status", restore["status"]) if restore else "en curso"
        header = {"ejecucion": run_id, "fecha": ctx.local(run["created_at"]), "estado": status}
        starter = people.person(run["started_by"]) if people is not None else None
        signers = {"Solicitado por": str(p.get("solicitante", "")),
                   "Autorizado por": responsible(ctx, authorised) if authorised else "",
                   "Registrado por": starter.name if starter else run["started_by"]}
        return ctx.page(f"solicitud-restauracion-{run_id}", header,
                        {"solicitud": [{"campo": k, "valor": v} for k, v in rows]}, signers=signers)
