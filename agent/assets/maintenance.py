"""The Ficha de control de mantenimientos realizados (Anexo 2 of S.04.04.01.01_P; flow 2, activities 9 and
22): the only writer of `maintenance_records`. One row per maintenance, preventive or corrective, in the
manual's columns (N.º, Tipo de Mantenimiento, Fecha, Servicio, Proveedor, Descripción del Servicio,
Documento, Detalle del Servicio, Equipos o bienes que participan, Estado Final, Observaciones), tied to the
inventory device it was about and, when it answered one, to its alert and its service record (Anexo 3).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from agent.assets import fields
from agent.store.schema_assets import maintenance_records

KINDS = {"preventivo": "Preventivo", "correctivo": "Correctivo"}
FINAL_STATES = {"operativo": "Operativo", "observado": "Operativo con observaciones",
                "inoperativo": "Inoperativo", "baja": "Para baja (bienes patrimoniales)"}


def check(form: dict) -> tuple[dict, dict]:
    """(the row's values as stored, the errors by form field in Spanish) from a posted maintenance form; the
    links (device, alert, service record) are the caller's to check against the inventory and the store."""
    errors: dict[str, str] = {}
    final = fields.choice(form, "estado_final", "Estado final", errors, FINAL_STATES)
    values = {
        "kind": fields.choice(form, "tipo", "Tipo de mantenimiento", errors, KINDS),
        "day": fields.day(form, "fecha", "Fecha", errors),
        "service": fields.text(form, "servicio", "Servicio", errors),
        "provider": fields.text(form, "proveedor", "Proveedor", errors),
        "description": fields.text(form, "descripcion", "Descripción del servicio", errors, longest=2000),
        "document": fields.text(form, "documento", "Documento", errors, required=False),
        "detail": fields.text(form, "detalle", "Detalle del servicio", errors, required=False, longest=4000),
        "goods": fields.text(form, "equipos", "Equipos o bienes que participan", errors, longest=2000),
        "final_state": FINAL_STATES.get(final, ""),
        "remarks": fields.text(form, "observaciones", "Observaciones", errors, required=False, longest=2000),
    }
    return values, errors


class MaintenanceSheet:
    """The maintenance control sheet in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def add(self, values: dict, by: str, *, device: str | None = None, alert_id: int | None = None,
            service_record_id: int | None = None) -> int:
        """Record a maintenance carried out; return its N.º."""
        with self.store.transaction() as conn:
            return conn.execute(insert(maintenance_records).values(
                **values, device=device, alert_id=alert_id, service_record_id=service_record_id, recorded_by=by,
                created_at=self.clock().astimezone(UTC))).inserted_primary_key[0]

