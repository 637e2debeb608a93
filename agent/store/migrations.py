"""The migrations of the store, one numbered step per schema change.

A migration is appended, never edited: a store created by any earlier version is brought up to
date by running the steps it has not seen, each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Table

from agent.store.schema import (
    access_log,
    accounts,
    alert_events,
    alerts,
    api_tokens,
    approval_links,
    backup_runs,
    check_status,
    custody_movements,
    latest_readings,
    login_failures,
    maintenance,
    network_events,
    outbox,
    pending_updates,
    policy_episodes,
    restores,
    run_actions,
    run_decisions,
    run_events,
    run_steps,
    run_waits,
    runs,
    schedule_runs,
    silences,
    state_changes,
    tape_box_items,
    tape_boxes,
    tapes,
    uptime_days,
    web_sessions,
)


def _v1(conn: Connection) -> None:
    """Readings, state changes and per-check status."""
    for table in (latest_readings, state_changes, check_status):
        table.create(conn)


def _v2(conn: Connection) -> None:
    """Runbook runs: the journal of steps, actions, decisions and events, and maintenance."""
    for table in (runs, run_steps, run_actions, run_decisions, run_events, maintenance):
        table.create(conn)


def _v3(conn: Connection) -> None:
    """Backups: every run of every asset's job, the tape inventory, custody boxes and their movements."""
    for table in (backup_runs, tapes, tape_boxes, tape_box_items, custody_movements):
        table.create(conn)


def _v4(conn: Connection) -> None:
    """Restores from tape: the bitácora de restauración de servidores (Anexo 06)."""
    restores.create(conn)


def _v5(conn: Connection) -> None:
    """Alerts and their events, the mail outbox, silences, daily availability, the access log, and the
    updates each host has been missing since when."""
    for table in (alerts, alert_events, outbox, silences, uptime_days, access_log, pending_updates):
        table.create(conn)


def _add_columns(conn: Connection, table: Table, *names: str) -> None:
    """Add columns a table gained after it was first created (a store made by an older version lacks
    them; one made since has them already, from the table's current definition)."""
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateColumn

    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            ddl = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")


def _v6(conn: Connection) -> None:
    """The outbox says what became of each message: queued, sent, failed (its own fault), withdrawn."""
    _add_columns(conn, outbox, "status")
    conn.execute(outbox.update().where(outbox.c.sent_at.is_not(None)).values(status="sent"))


def _v7(conn: Connection) -> None:
    """A check that fails says since when: the daily checklist's "sin respuesta desde HH:MM"."""
    _add_columns(conn, check_status, "failing_since")


def _v8(conn: Connection) -> None:
    """A message that failed for a reason of its own waits its backoff before the next try."""
    _add_columns(conn, outbox, "next_at")


def _v9(conn: Connection) -> None:
    """People act as themselves: local accounts, API tokens, web sessions, failed logins; the daemon asks
    people for their approvals (waits, single-use links), starts runbooks on schedules and policies; a
    decision says through which channel and from where, and a round sent back is superseded."""
    for table in (accounts, api_tokens, login_failures, web_sessions, run_waits, approval_links, schedule_runs,
                  policy_episodes):
        table.create(conn)
    _add_columns(conn, run_decisions, "channel", "address", "held_as", "superseded")
    _add_columns(conn, runs, "trigger")


def _v10(conn: Connection) -> None:
    """An access-log entry waits for the jefa's authorisation (requested → authorised or refused, by whom,
    when, with her comment). Entries recorded before were transcribed from the door's notebook after the
    people had been let in: they stay, authorised, with nobody named as having authorised them. A message
    being sent names the process sending it, so a claim left by a process that died is released at once."""
    _add_columns(conn, access_log, "status", "decided_by", "decided_as", "decided_at", "decision_comment")
    conn.execute(access_log.update().where(access_log.c.decided_at.is_(None)).values(status="authorised"))
    _add_columns(conn, outbox, "claimed_by")


def _v11(conn: Connection) -> None:
    """The syslog receiver keeps the network equipment's configuration changes, port changes and VPN logins."""
    network_events.create(conn)


def _v12(conn: Connection) -> None:
    """Flow 1 of S.04.03.02_P before and after the door: requests to enter on a date and time (activity 5), the
    new date coordinated (6), the jefa's decision (7); the entry made at the door names the request it is the
    visit of; the room's state reviewed at the exit (9)."""
    from agent.store.schema_access import access_requests, access_reviews

    for table in (access_requests, access_reviews):
        table.create(conn)
    _add_columns(conn, access_log, "request_id")


def _v13(conn: Connection) -> None:
    """The helpdesk (S.04.04.02_P): every call to GLPI, stored before it goes out; which ticket belongs to
    which alert or run."""
    from agent.store.schema_helpdesk import helpdesk_calls

    helpdesk_calls.create(conn)


def _v14(conn: Connection) -> None:
    """IT asset management (S.04.04.01.01_P): the licensing master (Anexo 1), each device's warranty, the
    maintenance control sheet (Anexo 2), the service records (Anexo 3), renewals and expiry notices."""
    from agent.store import schema_assets as a

    for table in (a.licences, a.warranties, a.maintenance_records, a.service_records, a.asset_renewals,
                  a.expiry_notices):
        table.create(conn)


def _v15(conn: Connection) -> None:
    """Two agents on one PostgreSQL store: the leader lease (who runs schedules, backups, documents and runs);
    text columns as long as SQLite lets them be (agent/store/postgres.py)."""
    from agent.store.postgres import widen_columns
    from agent.store.schema_lease import leases

    leases.create(conn, checkfirst=True)       # checkfirst: a store that saw 16 before 15 existed
    widen_columns(conn)


def _v16(conn: Connection) -> None:
    """The power policy's state per UPS, latched so a restart of the agent finds where it was."""
    from agent.store.schema_power import power_states

    power_states.create(conn)


def _v17(conn: Connection) -> None:
    """The archive of written documents: each one's verification code and its files' SHA-256."""
    from agent.store.schema_records import document_files, document_records

    document_records.create(conn)
    document_files.create(conn)


def _v18(conn: Connection) -> None:
    """The journals of runs, alerts, custody and access are hash-chained (issue 17): the links, the heads and the
    daily anchors, with every row already there linked in id order (agent/store/chain.py)."""
    from datetime import UTC, datetime

    from agent.store.chain import link_existing
    from agent.store.schema_chain import chain_anchors, chain_heads, chain_links

    for table in (chain_links, chain_heads, chain_anchors):
        table.create(conn)
    link_existing(conn, datetime.now(UTC))


def _v19(conn: Connection) -> None:
    """The restore drills' evidence (issue 17): what was restored, where, how long it took, what was checked."""
    from agent.store.schema_drills import restore_drills

    restore_drills.create(conn)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1),
    (2, _v2),
    (3, _v3),
    (4, _v4),
    (5, _v5),
    (6, _v6),
    (7, _v7),
    (8, _v8),
    (9, _v9),
    (10, _v10),
    (11, _v11),
    (12, _v12),
    (13, _v13),
    (14, _v14),
    (15, _v15),
    (16, _v16),
    (17, _v17),
    (18, _v18),
    (19, _v19),
]
