"""What a person types into the asset forms, checked: each helper reads one field of a posted form, records a
Spanish error naming the field when it is wrong, and returns the value as the store keeps it (dates as
YYYY-MM-DD, soles as céntimos). Shared by licences, warranties, the maintenance sheet and service records."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

# vigente: noticed before it ends; no_renueva: the unit said it will not renew (activity 16: end of the
# procedure, no more notices); baja: taken out of use
STATUSES = {"vigente": "Vigente", "no_renueva": "No se renovará", "baja": "De baja"}


def text(form: dict, field: str, label: str, errors: dict, *, required: bool = True, longest: int = 256) -> str:
    """A line or paragraph of text, stripped."""
    value = str(form.get(field) or "").strip()
    if required and not value:
        errors[field] = f"{label}: es obligatorio."
    elif len(value) > longest:
        errors[field] = f"{label}: a lo más {longest} caracteres (tiene {len(value)})."
    return value


def day(form: dict, field: str, label: str, errors: dict, *, required: bool = True) -> str | None:
    """A date (AAAA-MM-DD, as a date input sends it; dd/mm/aaaa also), as YYYY-MM-DD; None when empty."""
    value = str(form.get(field) or "").strip()
    if not value:
        if required:
            errors[field] = f"{label}: es obligatoria (AAAA-MM-DD)."
        return None
    found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)
    try:
        return (date(int(found[3]), int(found[2]), int(found[1])) if found else date.fromisoformat(value)).isoformat()
    except ValueError:
        errors[field] = f"{label}: escriba una fecha válida (AAAA-MM-DD)."
        return None


def whole(form: dict, field: str, label: str, errors: dict, *, required: bool = True, low: int = 0,
          high: int = 10**9) -> int | None:
    """A whole number between low and high; None when empty (and not required)."""
    value = str(form.get(field) or "").strip()
    if not value:
        if required:
            errors[field] = f"{label}: es obligatorio."
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        errors[field] = f"{label}: escriba un número entero entre {low} y {high}."
        return None
    return int(value)


def soles(form: dict, field: str, label: str, errors: dict) -> int | None:
    """An amount in soles ('12,345.67', '12345.67', 'S/ 12345'), as céntimos; None when empty."""
    value = re.sub(r"\s|^S/\.?", "", str(form.get(field) or "").strip())
    if not value:
        return None
    value = value.replace(",", "") if "." in value else value.replace(",", ".")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount >= 10**12:
        errors[field] = f"{label}: escriba un importe en soles, por ejemplo 12,345.67."
        return None
    return int((amount * 100).to_integral_value())


def choice(form: dict, field: str, label: str, errors: dict, options: dict[str, str]) -> str:
    """One of the options' keys."""
    value = str(form.get(field) or "").strip()
    if value not in options:
        errors[field] = f"{label}: elija {', '.join(options.values())}."
    return value


def money(cents: int | None) -> str:
    """Céntimos as the office writes soles: '12,345.67' ('' for none)."""
    return "" if cents is None else f"{cents / 100:,.2f}"


def dmy(iso: str | None) -> str:
    """A stored date as dd/mm/aaaa ('' for none)."""
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else ""
