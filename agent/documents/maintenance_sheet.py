"""Anexo 2 of S.04.04.01.01_P, the Ficha de control de mantenimientos realizados (flow 2, activities 9 and
22): every maintenance recorded, preventive or corrective, in the manual's columns; of one year when the
`anio` parameter says so, else all. Written on demand from the console's «Licencias y garantías»."""

from __future__ import annotations

from agent.assets import fields
from agent.assets.maintenance import KINDS
from agent.documents.base import DocContext, Document
from agent.documents.licences import jefa
from agent.documents.render import Page
from agent.store import queries


class MaintenanceSheet(Document):
    """Anexo 2: the maintenance control sheet."""

    form = "ficha-mantenimientos"
    folder = "activos"

    def build(self, ctx: DocContext) -> Page:
        year = str(ctx.params.get("anio") or "")
        rows = [r for r in queries.asset_rows(ctx.store, "maintenance_records") if r["day"].startswith(year)]
        lines = [{"n": str(r["id"]), "tipo": KINDS.get(r["kind"], r["kind"]), "fecha": fields.dmy(r["day"]),
                  "servicio": r["service"], "proveedor": r["provider"], "descripcion": r["description"],
                  "documento": r["document"] + (f" (acta N° {r['service_record_id']})" if r["service_record_id"]
                                                else ""),
                  "detalle": r["detail"] + (f" — alerta N° {r['alert_id']}" if r["alert_id"] else ""),
                  "equipos": r["goods"], "estado": r["final_state"], "observaciones": r["remarks"]} for r in rows]
        header = {"periodo": year or "todos los registrados", "total": str(len(lines))}
        signers = {"Elaborado por": str(ctx.params.get("por") or ctx.config.reports.responsible),
                   "Revisado por": jefa(ctx)}
        return ctx.page(f"ficha-mantenimientos-{year or 'todos'}", header, {"mantenimientos": lines},
                        signers=signers)
