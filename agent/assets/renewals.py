"""Renewals (S.04.04.01.01_P flow 1, activities 23–27): a licence or warranty whose TERMINO moved later. The
only writer of `asset_renewals`, called inside the licence's or warranty's own transaction; the monthly
report lists the month's renewals from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from agent.store.schema_assets import asset_renewals


def is_renewal(previous_end: str | None, new_end: str | None) -> bool:
    """Whether a new end date renews: it is later than the one before (a first end date is not a renewal)."""
    return bool(previous_end and new_end and new_end > previous_end)


def record(conn, kind: str, item: str, name: str, previous_end: str | None, new_end: str, by: str,
           at: datetime) -> None:
    """Record one renewal, in the caller's transaction."""
    conn.execute(insert(asset_renewals).values(kind=kind, item=item, name=name, previous_end=previous_end,
                                               new_end=new_end, by=by, at=at))
