"""The access log's entries: the only writer of the `access_log` table (the monthly report reads it
through `agent/store/queries.py`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert, update

from agent.errors import AgentError
from agent.store import queries
from agent.store.schema import access_log


class AccessLog:
    """Entries to the datacenter, in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def add(self, day: date, name: str, id_number: str, company: str, activity: str, time_in: str,
            time_out: str | None, recorded_by: str) -> int:
        """Record an entry (activity 9 of flow 1); return its number."""
        with self.store.transaction() as conn:
            return conn.execute(insert(access_log).values(
                day=day.isoformat(), name=name, id_number=id_number, company=company, activity=activity,
                time_in=time_in, time_out=time_out, recorded_by=recorded_by,
                created_at=self.clock().astimezone(UTC))).inserted_primary_key[0]

    def entry(self, entry_id: int) -> dict:
        """One entry; an error naming the number when there is none."""
        found = queries.access_entry(self.store, entry_id)
        if found is None:
            raise AgentError(f"no access-log entry {entry_id}")
        return found

    def leave(self, entry_id: int, time_out: str) -> None:
        """Record the time someone left."""
        with self.store.transaction() as conn:
            conn.execute(update(access_log).where(access_log.c.id == entry_id).values(time_out=time_out))
