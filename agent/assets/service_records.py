"""The Acta de servicio de mantenimiento técnico (Anexo 3 of S.04.04.01.01_P; flow 2, activities 13 and 17):
the only writer of `service_records`. What the OTI evaluated and did: when, for whom (USUARIO, ÓRGANO /
UNIDAD, MOTIVO ATENCIÓN), the goods (Descripción, Marca / Modelo, Cod. Patrimonial, Serie, Observación), the
detail of the requirement and the evaluation (OBSERVACIÓN, DIAGNÓSTICO, CONCLUSIONES), signed by the
specialist. An alert escalated to its vendor closes with one: the record names the alert.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from agent.assets import fields
from agent.store.schema_assets import service_records

GOODS_ROWS = 3                         # the manual's acta has rows 01–03
GOOD_FIELDS = {"descripcion": "Descripción", "marca_modelo": "Marca / Modelo", "cod_patrimonial": "Cod. Patrimonial",
               "serie": "Serie", "observacion": "Observación"}


def _goods(form: dict, errors: dict) -> list[dict]:
    goods = []
    for n in range(1, GOODS_ROWS + 1):
        row = {k: fields.text(form, f"b{n}_{k}", f"Bien {n:02d}, {label}", errors, required=False, longest=256)
               for k, label in GOOD_FIELDS.items()}
        if any(row.values()):
            if not row["descripcion"]:
                errors[f"b{n}_descripcion"] = f"Bien {n:02d}, Descripción: es obligatoria si la fila tiene datos."
            goods.append(row)
    if not goods:
        errors["b1_descripcion"] = "Bienes evaluados: describa al menos un bien (fila 01)."
    return goods


def check(form: dict, zone: ZoneInfo) -> tuple[dict, dict]:
    """(the row's values as stored, the errors by form field in Spanish) from a posted acta form; the date
    and time are the office's (its zone), stored as an instant."""
    errors: dict[str, str] = {}
    day = fields.day(form, "fecha", "Fecha", errors)
    hhmm = str(form.get("hora") or "").strip()
    try:
        at = time.fromisoformat(hhmm) if len(hhmm) == 5 else None
    except ValueError:
        at = None
    if at is None:
        errors["hora"] = "Hora: escriba la hora como HH:MM (de 00:00 a 23:59)."
    values = {
        "at": datetime.combine(datetime.fromisoformat(day).date(), at, zone).astimezone(UTC) if day and at else None,
        "user": fields.text(form, "usuario", "Usuario", errors),
        "unit": fields.text(form, "unidad", "Órgano / unidad", errors),
        "reason": fields.text(form, "motivo", "Motivo de atención", errors, longest=2000),
        "goods": json.dumps(_goods(form, errors), ensure_ascii=False),
        "requirement": fields.text(form, "requerimiento", "Detalle del requerimiento", errors, longest=4000),
        "observation": fields.text(form, "observacion", "Observación", errors, required=False, longest=4000),
        "diagnosis": fields.text(form, "diagnostico", "Diagnóstico", errors, longest=4000),
        "conclusions": fields.text(form, "conclusiones", "Conclusiones", errors, longest=4000),
    }
    return values, errors


def goods_of(row: dict) -> list[dict]:
    """The goods of a stored record."""
    return json.loads(row["goods"] or "[]")


class ServiceRecords:
    """The technical service records in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def add(self, values: dict, by: str, *, device: str | None = None, alert_id: int | None = None) -> int:
        """Record an acta (`by` is the specialist who signs it); return its number."""
        with self.store.transaction() as conn:
            return conn.execute(insert(service_records).values(
                **values, device=device, alert_id=alert_id, recorded_by=by,
                created_at=self.clock().astimezone(UTC))).inserted_primary_key[0]
