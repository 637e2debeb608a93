"""Anexo 08 of S.04.04.01.02_P, the relación de desastres identificados que pueden afectar la continuidad
de servicios del centro de datos: the manual's three types, the one a disaster-recovery run declared marked,
with when, by whom and what was described (activity 5). Written by the run, kept beside its hoja de control."""

from __future__ import annotations

from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.store import queries

TYPES = ("incendio", "inundacion", "cataclismo")       # Anexo 08, in its order


class DisasterTypes(Document):
    """Anexo 08, for one declared disaster: the list of types with the declared one marked."""

    form = "relacion-desastres"
    folder = "desastres"
    params = ("run_id",)

    def build(self, ctx: DocContext) -> Page:
        run_id = ctx.params["run_id"]
        run = queries.run_row(ctx.store, run_id)
        declared = str(run["params"].get("tipo", ""))
        people = getattr(ctx.settings, "people", None)
        starter = people.person(run["started_by"]) if people is not None else None
        by = starter.name if starter else run["started_by"]
        rows = [{"n": str(i), "tipo": ctx.labels.get("disaster", kind),
                 "declarado": "X" if kind == declared else "",
                 "fecha": ctx.local(run["created_at"]) if kind == declared else "",
                 "por": by if kind == declared else "",
                 "descripcion": str(run["params"].get("descripcion", "")) if kind == declared else ""}
                for i, kind in enumerate(TYPES, 1)]
        header = {"ejecucion": run_id, "fecha": ctx.local(run["created_at"]),
                  "tipo": ctx.labels.get("disaster", declared)}
        return ctx.page(f"relacion-desastres-{run_id}", header, {"desastres": rows},
                        signers={"Elaborado por": by})
