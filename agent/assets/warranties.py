"""The warranty of every device of the inventory (S.04.04.01.01_P flow 1 treats warranties as licences): the
only writer of the `warranties` table. One per device: the vendor and contract (the inventory's oti_vendor
gives the defaults), its start and end, its status. A later end is a renewal, recorded as one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update

from agent.assets import fields, renewals
from agent.store import queries
from agent.store.schema_assets import warranties


def check(form: dict) -> tuple[dict, dict]:
    """(the row's values as stored, the errors by form field in Spanish) from a posted warranty form."""
    errors: dict[str, str] = {}
    values = {
        "vendor": fields.text(form, "proveedor", "Proveedor", errors),
        "contract": fields.text(form, "contrato", "Contrato u orden", errors, required=False, longest=128),
        "starts": fields.day(form, "inicio", "Inicio de la garantía", errors),
        "ends": fields.day(form, "termino", "Fin de la garantía", errors),
        "status": fields.choice(form, "estado", "Estado", errors, fields.STATUSES),
        "note": fields.text(form, "nota", "Nota", errors, required=False, longest=2000) or None,
    }
    if values["starts"] and values["ends"] and values["ends"] < values["starts"]:
        errors["termino"] = "Fin de la garantía: es anterior a su inicio."
    return values, errors


def form_of(row: dict | None, device) -> dict:
    """The form for a device: its warranty as recorded, or the inventory's vendor and contract to start."""
    if row is None:
        vendor = device.vendor if device is not None else None
        return {"proveedor": vendor.name if vendor else "", "contrato": (vendor.contract or "") if vendor else "",
                "inicio": "", "termino": "", "estado": "vigente", "nota": ""}
    return {"proveedor": row["vendor"], "contrato": row["contract"], "inicio": row["starts"],
            "termino": row["ends"], "estado": row["status"], "nota": row["note"] or ""}


class Warranties:
    """The devices' warranties in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def get(self, device: str) -> dict | None:
        """A device's warranty as recorded, or None."""
        found = queries.asset_rows(self.store, "warranties", [device])
        return found[0] if found else None

    def set(self, device: str, values: dict, by: str) -> bool:
        """Record or change a device's warranty (the caller checked the device is in the inventory); return
        whether it was renewed (a later end than the one recorded)."""
        before = self.get(device)
        now = self.clock().astimezone(UTC)
        renewed = before is not None and renewals.is_renewal(before["ends"], values["ends"])
        with self.store.transaction() as conn:
            if before is None:
                conn.execute(insert(warranties).values(device=device, **values, updated_at=now, updated_by=by))
            else:
                conn.execute(update(warranties).where(warranties.c.device == device).values(
                    **values, updated_at=now, updated_by=by))
            if renewed:
                renewals.record(conn, "warranty", device, f"Garantía de {device} ({values['vendor']})",
                                before["ends"], values["ends"], by, now)
        return renewed
