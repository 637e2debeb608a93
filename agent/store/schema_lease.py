"""The leader lease of agents sharing one PostgreSQL store (issue 16): one row per lease name.

Part of the one schema (it shares `agent/store/schema.py`'s metadata). Written only by
`agent/store/lease.py`. Times are seconds since the epoch as the DATABASE's clock tells them, never an
agent's: two hosts whose clocks disagree still agree on whether a deadline has passed. One row per
lease, rewritten in place: the table does not grow (no retention rule needed).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from agent.store.schema import metadata

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),    # "leader": the one that runs schedules, backups, runs
    Column("holder", String(255), nullable=False),   # host:pid:token of the agent holding it ("" never held)
    Column("address", String(255)),                  # where the holder's console and API answer
    Column("term", Integer, nullable=False),         # +1 each time the lease changes hands (logs, /metrics)
    Column("acquired_at", Float),                    # when the holder took it (database clock, epoch s)
    Column("renewed_at", Float),                     # its last renewal
    Column("deadline", Float, nullable=False),       # taken by another agent once the database's clock passes it
)
