"""Restores recorded for the bitácora de restauración de servidores (Anexo 06, activity 16): the only
writer of the `restores` table."""

from __future__ import annotations

from sqlalchemy import insert

from agent.store.schema import restores


def record(store, row: dict) -> int:
    """Record one restore (completado, fallido or sin_copia); return its id."""
    with store.transaction() as conn:
        return conn.execute(insert(restores).values(**row)).inserted_primary_key[0]
