"""The read model of flow 1 of S.04.03.02_P beyond the door's entries (those are in `queries.py`): the
requests to enter (activities 5–7), the entries of a request, the exit reviews (9), and the silences that
are maintenance windows. Kept beside `queries.py` (which is at its size limit); the same rules: rows as dicts,
JSON decoded, written only by their owners (`agent/access/requests.py`, `agent/access/log.py`).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, select

from agent.core.times import utc
from agent.store import schema as t
from agent.store.schema_access import access_requests as r
from agent.store.schema_access import access_reviews as v


def _decoded(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["conflicts"] = json.loads(row["conflicts"]) if row["conflicts"] else []
    return rows


def access_requests(store, *, statuses: tuple[str, ...] | None = None, first_day: str | None = None,
                    end_day: str | None = None, room: str | None = None) -> list[dict]:
    """Requests to enter by day and time: of some statuses, on the days [first_day, end_day), of a room."""
    q = select(r)
    if statuses is not None:
        q = q.where(r.c.status.in_(statuses))
    if first_day is not None:
        q = q.where(r.c.day >= first_day)
    if end_day is not None:
        q = q.where(r.c.day < end_day)
    if room is not None:
        q = q.where(r.c.room == room)
    return _decoded(store.rows(q.order_by(r.c.day, r.c.time_from, r.c.id)))


def access_request(store, request_id: int) -> dict | None:
    """One request, or None."""
    found = _decoded(store.rows(select(r).where(r.c.id == request_id)))
    return found[0] if found else None


def access_request_entries(store, request_ids: list[int]) -> dict[int, list[dict]]:
    """The entries made at the door for some requests (their visits), by day and time in, by request."""
    out: dict[int, list[dict]] = {i: [] for i in request_ids}
    q = select(t.access_log).where(t.access_log.c.request_id.in_(request_ids))
    for row in store.rows(q.order_by(t.access_log.c.day, t.access_log.c.time_in, t.access_log.c.id)):
        out[row["request_id"]].append(row)
    return out


def access_reviews(store, entry_ids: list[int]) -> dict[int, list[dict]]:
    """The exit reviews (activity 9) of some entries, oldest first, by entry; the alerts shown decoded."""
    out: dict[int, list[dict]] = {i: [] for i in entry_ids}
    for row in store.rows(select(v).where(v.c.entry_id.in_(entry_ids)).order_by(v.c.at, v.c.id)):
        row["alerts"] = json.loads(row["alerts"] or "[]")
        out[row["entry_id"]].append(row)
    return out


def silences_during(store, since: datetime, until: datetime) -> list[dict]:
    """Silences (maintenance windows set by hand) in force at some moment of [since, until)."""
    return store.rows(select(t.silences).where(and_(t.silences.c.created_at < utc(until),
                                                    t.silences.c.until > utc(since)))
                      .order_by(t.silences.c.created_at, t.silences.c.id))
