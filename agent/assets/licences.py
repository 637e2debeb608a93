"""The Maestro de la OTI de licenciamiento (Anexo 1 of S.04.04.01.01_P): the only writer of the `licences`
table. One row per ITEM, in the manual's columns: REG SIAF, ORDEN, CANTIDAD ADQUIRIDA, SOFTWARE Y/O LICENCIA
DE SOFTWARE, TIPO DE LICENCIA, UBICACIÓN, INICIO, TERMINO, ESTIMACION VIDA UTIL (MESES), VALOR ADQUISICION
S/, AMORTIZ. ACUMULADA S/, SALDO NETO AL dd.mm.aa S/, ESTADO, NOTA CCP, Mes.

The amortisation and the net balance are not typed: they follow from the value, the useful life and the
date they are read at (straight line, by whole months since INICIO), so the master never disagrees with
itself. A later TERMINO is a renewal (activities 23–27): recorded, and the expiry notices start over.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert, update

from agent.assets import fields, renewals
from agent.errors import AgentError
from agent.store import queries
from agent.store.schema_assets import licences

# the manual's columns, in its order: form id -> heading (the form file repeats them for the document)
COLUMNS = {"item": "ITEM", "reg_siaf": "REG SIAF", "orden": "ORDEN", "cantidad": "CANTIDAD ADQUIRIDA",
           "software": "SOFTWARE Y/O LICENCIA DE SOFTWARE", "tipo": "TIPO DE LICENCIA", "ubicacion": "UBICACIÓN",
           "inicio": "INICIO", "termino": "TERMINO", "vida_util": "ESTIMACION VIDA UTIL (MESES)",
           "valor": "VALOR ADQUISICION S/", "amortizacion": "AMORTIZ. ACUMULADA S/",
           "saldo": "SALDO NETO AL dd.mm.aa S/", "estado": "ESTADO", "nota_ccp": "NOTA CCP", "mes": "Mes"}
TYPED = ("reg_siaf", "orden", "cantidad", "software", "tipo", "ubicacion", "inicio", "termino", "vida_util",
         "valor", "estado", "nota_ccp", "mes")


def check(form: dict) -> tuple[dict, dict]:
    """(the row's values as stored, the errors by form field in Spanish) from a posted licence form."""
    errors: dict[str, str] = {}
    values = {
        "siaf": fields.text(form, "reg_siaf", "REG SIAF", errors, required=False, longest=64),
        "order_no": fields.text(form, "orden", "Orden", errors, required=False, longest=64),
        "quantity": fields.whole(form, "cantidad", "Cantidad adquirida", errors, low=1),
        "software": fields.text(form, "software", "Software y/o licencia de software", errors),
        "licence_type": fields.text(form, "tipo", "Tipo de licencia", errors, required=False, longest=128),
        "location": fields.text(form, "ubicacion", "Ubicación", errors, required=False),
        "starts": fields.day(form, "inicio", "Inicio", errors),
        "ends": fields.day(form, "termino", "Término", errors, required=False),
        "life_months": fields.whole(form, "vida_util", "Estimación de vida útil (meses)", errors, required=False,
                                    low=1, high=1200),
        "value_cents": fields.soles(form, "valor", "Valor de adquisición", errors),
        "status": fields.choice(form, "estado", "Estado", errors, fields.STATUSES),
        "ccp_note": fields.text(form, "nota_ccp", "Nota CCP", errors, required=False),
        "month": fields.text(form, "mes", "Mes", errors, required=False, longest=32),
    }
    if values["starts"] and values["ends"] and values["ends"] < values["starts"]:
        errors["termino"] = "Término: es anterior al inicio."
    return values, errors


def form_of(row: dict) -> dict:
    """A stored row as the console's form shows it again (the inverse of `check`)."""
    return {"reg_siaf": row["siaf"], "orden": row["order_no"], "cantidad": str(row["quantity"]),
            "software": row["software"], "tipo": row["licence_type"], "ubicacion": row["location"],
            "inicio": row["starts"], "termino": row["ends"] or "", "vida_util": str(row["life_months"] or ""),
            "valor": fields.money(row["value_cents"]), "estado": row["status"], "nota_ccp": row["ccp_note"],
            "mes": row["month"]}


def months_between(start: date, at: date) -> int:
    """Whole months from `start` to `at` (0 before it)."""
    months = (at.year - start.year) * 12 + at.month - start.month - (at.day < start.day)
    return max(months, 0)


def amortisation(row: dict, at: date) -> tuple[int | None, int | None]:
    """(AMORTIZ. ACUMULADA, SALDO NETO) at `at`, in céntimos: straight line over the useful life; (None, None)
    without a value or a useful life."""
    value, life = row["value_cents"], row["life_months"]
    if value is None or not life:
        return None, None
    used = min(months_between(date.fromisoformat(row["starts"]), at), life)
    amortised = value * used // life
    return amortised, value - amortised


def state(status: str, ends: str | None, today: date, soon_days: int) -> tuple[str, str]:
    """ESTADO as the master shows it today, with its colour class: vigente / por vencer (N días) / vencida, or
    what a person set (no se renovará, de baja)."""
    if status != "vigente":
        return fields.STATUSES.get(status, status), ""
    if ends is None:
        return "Vigente (perpetua)", "ok"
    left = (date.fromisoformat(ends) - today).days
    if left < 0:
        return f"Vencida el {fields.dmy(ends)}", "bad"
    if left <= soon_days:
        return f"Por vencer ({left} días)", "bad"
    return "Vigente", "ok"


class Licences:
    """The licensing master in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def get(self, item: int) -> dict:
        """One row; an error naming the ITEM when there is none."""
        found = queries.asset_rows(self.store, "licences", [item])
        if not found:
            raise AgentError(f"no licence ITEM {item} in the licensing master")
        return found[0]

    def add(self, values: dict, by: str) -> int:
        """Record a licence received (activities 7 and 10); return its ITEM."""
        now = self.clock().astimezone(UTC)
        with self.store.transaction() as conn:
            return conn.execute(insert(licences).values(**values, created_at=now, updated_at=now,
                                                        updated_by=by)).inserted_primary_key[0]

    def update(self, item: int, values: dict, by: str) -> bool:
        """Change a licence; a later TERMINO is recorded as a renewal. Return whether it was renewed."""
        before = self.get(item)
        now = self.clock().astimezone(UTC)
        renewed = renewals.is_renewal(before["ends"], values.get("ends"))
        with self.store.transaction() as conn:
            conn.execute(update(licences).where(licences.c.id == item).values(**values, updated_at=now,
                                                                              updated_by=by))
            if renewed:
                renewals.record(conn, "licence", str(item), values["software"], before["ends"], values["ends"],
                                by, now)
        return renewed
