"""The read model of the restore drills (issue 17): the evidence rows `agent/backups/drills.py` writes.
Kept beside `queries.py` (which is at its size limit); the same rules: rows as dicts, JSON decoded."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, select

from agent.core.times import utc
from agent.store.schema_drills import restore_drills as d


def _decoded(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["checks"] = json.loads(row["checks"]) if row["checks"] else []
    return rows


def drill(store, run_id: str) -> dict | None:
    """The evidence of one drill (its run), or None."""
    rows = _decoded(store.rows(select(d).where(d.c.run_id == run_id)))
    return rows[0] if rows else None


def drills(store, since: datetime | None = None, until: datetime | None = None,
           asset: str | None = None) -> list[dict]:
    """Drills recorded in [since, until), of an asset; oldest first."""
    cond = []
    if since is not None:
        cond.append(d.c.at >= utc(since))
    if until is not None:
        cond.append(d.c.at < utc(until))
    if asset is not None:
        cond.append(d.c.asset == asset)
    q = select(d).where(and_(*cond)) if cond else select(d)
    return _decoded(store.rows(q.order_by(d.c.at, d.c.id)))
