"""Anexo 3 of S.04.04.01.01_P, the Acta de servicio de mantenimiento técnico (flow 2, activities 13 and 17):
one record, as the specialist filled it in the console (from a visit, or from the alert escalated to the
vendor it closes), in the manual's layout, signed by the specialist and the user."""

from __future__ import annotations

from agent.assets.service_records import goods_of
from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.errors import DocumentError
from agent.store import queries

STATEMENTS = ("Se hace de conocimiento mediante la presente acta, que se ha realizado el servicio de mantenimiento a "
              "los equipos reportados por el área usuaria y el estado en los que se dejan para la asignación y/o uso "
              "de quien corresponda.",
              "Es responsabilidad del usuario mantener el uso del/los bien(es) o accesorio(s) de cómputo en buen "
              "estado, de acuerdo con lo señalado en la presente acta.")


class ServiceRecord(Document):
    """Anexo 3: one technical service record."""

    form = "acta-servicio"
    folder = "activos"
    params = ("acta",)

    def build(self, ctx: DocContext) -> Page:
        number = int(ctx.params["acta"])
        found = queries.asset_rows(ctx.store, "service_records", [number])
        if not found:
            raise DocumentError(f"no service record {number} (see «Licencias y garantías» in the console)")
        r = found[0]
        goods = [{"n": f"{i:02d}", **g} for i, g in enumerate(goods_of(r), 1)]
        lines = [line.strip() for line in r["requirement"].splitlines() if line.strip()]
        detail = [{"n": f"{i:02d}", "item": f"✓ {line}"} for i, line in enumerate(lines, 1)]
        evaluation = [{"n": "01", "evaluacion": f"• OBSERVACIÓN: {r['observation']}"},
                      {"n": "02", "evaluacion": f"• DIAGNÓSTICO: {r['diagnosis']}"},
                      {"n": "03", "evaluacion": f"• CONCLUSIONES: {r['conclusions']}"}]
        header = {"fecha": ctx.local(r["at"]), "usuario": r["user"], "unidad": r["unit"], "motivo": r["reason"],
                  "acta": f"{r['id']:04d}"}
        if r["alert_id"]:
            header["alerta"] = f"N° {r['alert_id']}" + (f" ({r['device']})" if r["device"] else "")
        signers = {"Especialista de la OTI": f"{r['recorded_by']} — Oficina de Tecnologías de la Información",
                   "Usuario": f"{r['user']} — {r['unit']}"}
        return ctx.page(f"acta-servicio-{r['id']:04d}", header,
                        {"bienes": goods, "requerimiento": detail, "evaluacion": evaluation,
                         "constancia": [{"n": str(i), "texto": s} for i, s in enumerate(STATEMENTS, 1)]}, signers=signers)
