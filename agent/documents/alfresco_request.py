"""Anexo 10 of S.04.04.01.02_P, the registro de la solicitud de recuperación del servicio del gestor
documental Alfresco: the helpdesk ticket's fields (seed lines 1999-2049) filled from one alfresco-restore
run — who asked, who was copied and assigned, the times to answer and to resolve, the authorisation
(activity 3), the state and what was attached. Written when the run notifies the service is back (14)."""

from __future__ import annotations

from datetime import datetime

from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.store import queries


class AlfrescoRequest(Document):
    """Anexo 10 for one Alfresco recovery: the ticket as the office's helpdesk form lays it out."""

    form = "registro-solicitud-alfresco"
    folder = "bitacoras"
    params = ("run_id",)

    def build(self, ctx: DocContext) -> Page:
        from agent.documents.run_checklist import responsible

        run_id = ctx.params["run_id"]
        run = queries.run_row(ctx.store, run_id)
        p, steps = run["params"], queries.run_step_rows(ctx.store, run_id)
        people = getattr(ctx.settings, "people", None)
        starter = people.person(run["started_by"]) if people is not None else None
        approvals = [d for d in queries.run_decision_rows(ctx.store, run_id, "autoriza", "approval")
                     if not d.get("superseded")]
        authorised = approvals[-1] if approvals else None
        opened = run["created_at"]
        resolved = (steps.get("notificar") or {}).get("ended_at")
        jefa = people.holders("jefa", ctx.now) if people is not None else []
        bd = people.holders("especialista_bd", ctx.now) if people is not None else []
        attached = sorted({str(a["message"]).split(": ", 1)[-1] for a in queries.run_action_rows(ctx.store, run_id)
                           if a["step_id"] in ("registrar-restauracion", "anexo-10") and a.get("message")})
        rows = [("Fecha de apertura", ctx.local(opened)),
                ("Tiempo de respuesta", _span(opened, authorised["at"] if authorised else None)),
                ("Tiempo para resolver", _span(opened, resolved)),
                ("Tipo", "Solicitud"),
                ("Categoría", "Recuperación del servicio del gestor documental Alfresco"),
                ("Solicitante", _person(starter, run["started_by"])),
                ("Con copia a", "; ".join(_person(x, x.login) for x in jefa) or "Jefe/a de la OTI"),
                ("Asignada a", "; ".join(_person(x, x.login) for x in bd) or "Especialista en BD"),
                ("Estado", "Resuelto" if resolved else ctx.labels.get("run_result", run["status"])),
                ("Duración total", _span(opened, run.get("ended_at") or ctx.now)),
                ("Origen de la solicitud", "Incidente en el servicio del gestor documental Alfresco (actividad 1)"),
                ("Solicitud de validación", (f"{'Autorizada' if authorised['decision'] == 'approved' else 'Denegada'}"
                                             f" por {responsible(ctx, authorised)} el {ctx.local(authorised['at'])}"
                                             + (f" — {authorised['comment']}" if authorised.get("comment") else ""))
                 if authorised else "pendiente"),
                ("Título", f"Recuperación del gestor documental Alfresco en {p.get('servidor', '')}"),
                ("Descripción", str(p.get("motivo", ""))),
                ("Solicitudes enlazadas", str(p.get("ticket", ""))),
                ("Archivo", "; ".join(attached) or "—")]
        header = {"ticket": str(p.get("ticket", "")), "ejecucion": run_id, "fecha": ctx.local(opened)}
        signers = {"Solicitado por": _person(starter, run["started_by"]),
                   "Autorizado por": responsible(ctx, authorised) if authorised else ""}
        return ctx.page(f"registro-solicitud-alfresco-{run_id}", header,
                        {"solicitud": [{"campo": k, "valor": v} for k, v in rows]}, signers=signers)


def _person(person, login: str) -> str:
    if person is None:
        return login
    return person.name + (f" <{person.email}>" if getattr(person, "email", None) else "")


def _span(start: datetime | None, end: datetime | None) -> str:
    """'2 h 05 min' between two times, or '—' while the second has not happened."""
    if start is None or end is None:
        return "—"
    minutes = max(0, round((end - start).total_seconds() / 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return (f"{days} d " if days else "") + (f"{hours} h " if hours or days else "") + f"{mins:02d} min"
