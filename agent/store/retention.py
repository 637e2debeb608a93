"""What the store forgets, and when: every table that grows with time has a horizon (`store.retention`).

Pruned: readings' state changes, resolved alerts with their events, mail already sent, daily availability
rows, finished runs with their steps, actions, decisions, journal, waits and links, and the network
equipment's syslog events. Never pruned here: the
office's records that are not monitoring (backups, restores, restore drills, tapes and boxes, custody movements, the access
log, accounts) — they are small and an auditor asks for them. On SQLite the write-ahead log is then
truncated, so the file on disk follows what was deleted. The hash chains' links of pruned run and alert events
are marked `pruned` in the same transaction: the chains stay whole (`agent/store/chain.py`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, text

from agent.store import chain
from agent.store import schema as t
from agent.store import schema_people as p

_LOGGER = logging.getLogger(__name__)


def prune(store, retention, now: datetime) -> dict[str, int]:
    """Delete what is older than its horizon; return the rows deleted per table."""
    def cut(days: int) -> datetime:
        return now - timedelta(days=days)

    out: dict[str, int] = {}
    with store.transaction() as conn:
        for journal in ("alert_events", "run_events"):     # no event is chained between marking and deleting
            chain.lock(conn, journal)

        def gone(name: str, statement) -> None:
            n = conn.execute(statement).rowcount or 0
            if n:
                out[name] = out.get(name, 0) + n

        gone("state_changes", delete(t.state_changes).where(t.state_changes.c.at < cut(retention.history_days)))
        old_alerts = select(t.alerts.c.id).where(and_(t.alerts.c.status == "resolved",
                                                      t.alerts.c.resolved_at < cut(retention.alerts_days)))
        # the journals' links of what goes are marked pruned, not broken (agent/store/chain.py says why)
        chain.prune(conn, "alert_events",
                    select(t.alert_events.c.id).where(t.alert_events.c.alert_id.in_(old_alerts)))
        gone("alert_events", delete(t.alert_events).where(t.alert_events.c.alert_id.in_(old_alerts)))
        gone("alerts", delete(t.alerts).where(t.alerts.c.id.in_(old_alerts)))
        gone("outbox", delete(t.outbox).where(and_(t.outbox.c.sent_at.is_not(None),
                                                   t.outbox.c.sent_at < cut(retention.mail_days))))
        day = (now - timedelta(days=retention.uptime_days)).date().isoformat()
        gone("uptime_days", delete(t.uptime_days).where(t.uptime_days.c.day < day))
        old_runs = select(t.runs.c.id).where(and_(t.runs.c.ended_at.is_not(None),
                                                  t.runs.c.ended_at < cut(retention.runs_days)))
        chain.prune(conn, "run_events", select(t.run_events.c.id).where(t.run_events.c.run_id.in_(old_runs)))
        for table in (t.run_steps, t.run_actions, t.run_decisions, t.run_events, t.maintenance, p.run_waits,
                      p.approval_links):
            gone(table.name, delete(table).where(table.c.run_id.in_(old_runs)))
        gone("runs", delete(t.runs).where(t.runs.c.id.in_(old_runs)))
        gone("network_events", delete(t.network_events).where(t.network_events.c.at < cut(retention.network_events_days)))
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    if out:
        _LOGGER.info("store: pruned %s", ", ".join(f"{k}={v}" for k, v in sorted(out.items())))
    return out
