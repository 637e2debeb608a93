"""PostgreSQL keeps text as long as SQLite does (issue 16: two agents share a PostgreSQL store).

The schema gives its text columns lengths (`String(64)`): SQLite, the store every test and every
single-agent office uses, never enforces them, so the agent writes what it must — an outbox `source`
such as `run:<id>:step:<step>:<target>` is longer than 64 — and PostgreSQL refused that very write
("value too long for type character varying(64)") in the middle of a run. Rather than one length guessed
right per column, a String is an unbounded VARCHAR on PostgreSQL: both stores accept the same rows.
Imported by the package (agent/store/__init__.py), before any table is created; migration 15 widens the
columns of a PostgreSQL store created before.
"""

from __future__ import annotations

from sqlalchemy import Connection, String
from sqlalchemy.ext.compiler import compiles


@compiles(String, "postgresql")
def _unbounded(type_, compiler, **kw) -> str:
    return "VARCHAR"


def widen_columns(conn: Connection) -> None:
    """Make every bounded VARCHAR column of the store's tables unbounded (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return
    rows = conn.exec_driver_sql(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND data_type = 'character varying' AND character_maximum_length IS NOT NULL").all()
    for table, column in rows:
        conn.exec_driver_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR')
