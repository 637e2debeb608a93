"""Tables of the store, and the migrations that create them, one numbered step per schema change.

A migration is appended, never edited: a store created by any earlier version is brought up to
date by running the steps it has not seen, each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text,
                        Connection)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

latest_readings = Table(
    "latest_readings", metadata,
    Column("device", String(128), primary_key=True),
    Column("reading", String(512), primary_key=True),      # name{labels}
    Column("check_name", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("labels", Text, nullable=False),                # JSON list of [label, value]
    Column("value", Float),
    Column("text", Text),
    Column("state", Integer, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("message", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

state_changes = Table(
    "state_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(128), nullable=False),
    Column("reading", String(512), nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("from_state", Integer),                         # NULL: first time seen
    Column("to_state", Integer, nullable=False),
    Column("value", Float),
    Column("text", Text),
    Column("message", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_state_changes_device_at", "device", "at"),
    Index("ix_state_changes_at", "at"),
)

check_status = Table(
    "check_status", metadata,
    Column("device", String(128), primary_key=True),
    Column("check_name", String(64), primary_key=True),
    Column("up", Boolean, nullable=False),
    Column("error", Text),
    Column("error_kind", String(16)),
    Column("duration_s", Float, nullable=False),
    Column("last_run", DateTime(timezone=True), nullable=False),
    Column("runs_total", Integer, nullable=False, default=0),
    Column("errors_total", Integer, nullable=False, default=0),
)


def _v1(conn: Connection) -> None:
    """Readings, state changes and per-check status."""
    for table in (latest_readings, state_changes, check_status):
        table.create(conn)


runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("runbook", String(128), nullable=False),
    Column("runbook_path", Text, nullable=False),
    Column("runbook_digest", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("params", Text, nullable=False),                # JSON
    Column("status", String(32), nullable=False),
    Column("started_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("pid", Integer),
    Column("message", Text),
)

run_steps = Table(
    "run_steps", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("step_id", String(128), primary_key=True),
    Column("status", String(32), nullable=False),          # pending running awaiting_* successful failed skipped canceled timeout
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("message", Text),
)

run_actions = Table(
    "run_actions", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("step_id", String(128), primary_key=True),
    Column("target", String(128), primary_key=True),       # '' for steps without targets
    Column("status", String(32), nullable=False),          # started done failed
    Column("attempt", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("by", String(128)),
    Column("message", Text),
)

run_decisions = Table(
    "run_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),            # approval | confirm | resolve
    Column("role", String(64)),
    Column("by", String(128), nullable=False),
    Column("decision", String(16), nullable=False),        # approved rejected confirmed retry skip done abort
    Column("comment", Text),
    Column("values", Text),                                # JSON readings a person entered
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_run_decisions_run", "run_id", "step_id"),
)

run_events = Table(
    "run_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("step_id", String(128)),
    Column("target", String(128)),
    Column("event", String(32), nullable=False),
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_run_events_run", "run_id", "id"),
)

maintenance = Table(
    "maintenance", metadata,
    Column("device", String(128), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
)


def _v2(conn: Connection) -> None:
    """Runbook runs: the journal of steps, actions, decisions and events, and maintenance."""
    for table in (runs, run_steps, run_actions, run_decisions, run_events, maintenance):
        table.create(conn)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1),
    (2, _v2),
]
