"""Anexo 01 of S.04.04.01.02_P, the matriz de activos de información para copias de respaldo: the asset
matrix file as the office's form, one row per asset in the manual's eleven columns, Observación included.

The agent adds to an asset's own observation what it knows that the matrix does not say: the Anexo 02
category that filled its periodicity, criticality or retention, and a server the inventory does not know
(the backup still runs; the IP column shows the name as written)."""

from __future__ import annotations

from agent.core.assets import CATEGORIES, retention_text
from agent.documents.base import DocContext, Document
from agent.documents.render import Page

LEVELS = {"completo": "Completo", "incremental": "Incremental", "diferencial": "Diferencial"}


class AssetMatrixForm(Document):
    """Anexo 01: the matrix of information assets to back up, as the config's asset file has it."""

    form = "matriz-activos"
    folder = "copias"
    params = ("day",)

    def build(self, ctx: DocContext) -> Page:
        matrix = ctx.settings.assets
        inventory = ctx.settings.inventory
        rows = []
        for asset in matrix.assets if matrix is not None else []:
            device = inventory.by_name.get(asset.server) if inventory is not None else None
            notes = [asset.observation] if asset.observation else []
            if asset.category:
                notes.append(f"Categoría del Anexo 02: {CATEGORIES[asset.category]['title']}")
            if device is None and not _looks_like_ip(asset.server):
                notes.append(f"el servidor {asset.server} no está en el inventario")
            rows.append({"responsable": asset.owner, "activo": asset.name, "tipo": asset.type,
                         "ip": device.address if device is not None else asset.server,
                         "recursos": "; ".join(asset.resources), "periodicidad": asset.periodicity.describe(),
                         "horario": f"{asset.time:%H:%M}", "copia": LEVELS[asset.level],
                         "criticidad": ctx.labels.get("criticality", asset.criticality),
                         "retencion": retention_text(asset.retention_days), "observacion": "; ".join(notes)})
        day = ctx.params["day"]
        header = {"oficina": ctx.config.reports.office, "fecha": f"{day:%d/%m/%Y}",
                  "responsable": ctx.config.backups.responsible, "activos": str(len(rows))}
        return ctx.page(f"matriz-activos-{day:%Y-%m-%d}", header, {"activos": rows})


def _looks_like_ip(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
