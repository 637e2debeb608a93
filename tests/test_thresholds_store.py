"""Hysteresis, and the store's latest readings and history of state changes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from agent.core.results import CheckResult, Reading, State
from agent.core.thresholds import Thresholds, evaluate
from agent.store import Store
from agent.store.migrations import MIGRATIONS
from agent.store.schema import schema_version


def test_hovering_value_does_not_flap():
    limits = Thresholds(direction="above", warning=30, critical=35, hysteresis=1)
    values = [29.0, 30.2, 29.6, 30.1, 29.3, 28.9, 35.0, 34.5, 34.1, 33.9, 29.5, 28.5]
    states, previous = [], None
    for v in values:
        previous = evaluate(v, limits, previous)
        states.append(previous.name)
    assert states == ["OK", "WARNING", "WARNING", "WARNING", "WARNING", "OK",
                      "CRITICAL", "CRITICAL", "CRITICAL", "WARNING", "WARNING", "OK"]


def test_below_direction_and_missing_value():
    runtime = Thresholds(direction="below", warning=900, critical=300, hysteresis=60)
    assert evaluate(299, runtime) == State.CRITICAL
    assert evaluate(330, runtime, State.CRITICAL) == State.CRITICAL    # within hysteresis
    assert evaluate(361, runtime, State.CRITICAL) == State.WARNING
    assert evaluate(None, runtime) == State.UNKNOWN


def _result(device, value, state):
    return CheckResult("snmp", device, datetime.now(UTC), 0.01,
                       [Reading("ups_battery_runtime_seconds", value, state, "seconds")])


def test_store_keeps_latest_and_state_history(tmp_path):
    store = Store("sqlite:///var/oti.db", tmp_path)
    assert store.migrate() == MIGRATIONS[-1][0]
    assert (tmp_path / "var" / "oti.db").exists()
    changes = store.record([_result("ups1", 2820, State.OK)])
    assert [(c.from_state, c.to_state) for c in changes] == [(None, State.OK)]
    assert store.record([_result("ups1", 2800, State.OK)]) == []          # no change, no history row
    store.record([_result("ups1", 240, State.CRITICAL)])
    store.record([_result("ups1", 2700, State.OK)])
    latest = store.latest("ups1")
    assert len(latest) == 1 and latest[0]["value"] == 2700 and latest[0]["state"] == int(State.OK)
    history = [(c["from_state"], c["to_state"]) for c in store.changes("ups1")]
    assert history == [(None, 0), (0, 2), (2, 0)]
    store.close()
    # reopening: the schema is not re-applied and the last states are remembered
    again = Store("sqlite:///var/oti.db", tmp_path)
    with again.engine.connect() as conn:
        assert [r.version for r in conn.execute(select(schema_version))] == [v for v, _ in MIGRATIONS]
    assert again.record([_result("ups1", 2690, State.OK)]) == []
    statuses = again.check_statuses()
    assert statuses[0]["runs_total"] == 5 and statuses[0]["errors_total"] == 0
    with again.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_latest_readings_follow_state_changes_at_once_and_values_at_an_interval(tmp_path):
    store = Store("sqlite:///oti.db", tmp_path, latest_every_s=300)
    store.record([_result("ups1", 2820, State.OK)])
    store.record([_result("ups1", 2700, State.OK)])            # same state, within 5 minutes: not rewritten
    assert store.latest("ups1")[0]["value"] == 2820
    store.record([_result("ups1", 200, State.CRITICAL)])       # a state change is written at once
    row = store.latest("ups1")[0]
    assert (row["value"], row["state"]) == (200, int(State.CRITICAL))


def test_a_silent_device_shows_its_readings_as_unknown_once_and_after_a_restart(tmp_path):
    def reading(port, state=State.OK):
        return Reading("if_oper_status", None, state, "", (("ifname", port),), text="up", kind="info")

    def silent(device):
        return CheckResult("snmp", device, datetime.now(UTC), 5.0, error="no answer", error_kind="timeout")

    store = Store("sqlite:///oti.db", tmp_path)
    store.record([CheckResult("snmp", "sw1", datetime.now(UTC), 0.1, [reading("Gi1/0/1"), reading("Gi1/0/2")]),
                  CheckResult("snmp", "sw2", datetime.now(UTC), 0.1, [reading("Gi1/0/1")])])
    changes = store.record([silent("sw1")])
    assert sorted((c.device, c.reading, c.to_state, c.message) for c in changes) == [
        ("sw1", 'if_oper_status{ifname="Gi1/0/1"}', State.UNKNOWN, "sin dato: el equipo no responde"),
        ("sw1", 'if_oper_status{ifname="Gi1/0/2"}', State.UNKNOWN, "sin dato: el equipo no responde")]
    assert store.record([silent("sw1")]) == []                 # already stale: nothing new to say
    assert {r["state"] for r in store.latest("sw1")} == {int(State.UNKNOWN)}
    assert {r["state"] for r in store.latest("sw2")} == {int(State.OK)}         # the other switch untouched
    store.record([CheckResult("snmp", "sw1", datetime.now(UTC), 0.1, [reading("Gi1/0/1")])])   # back
    store.close()
    again = Store("sqlite:///oti.db", tmp_path)               # restarted: the shapes come from the store
    changes = again.record([silent("sw1")])
    assert [(c.reading, c.from_state, c.to_state) for c in changes] == [
        ('if_oper_status{ifname="Gi1/0/1"}', State.OK, State.UNKNOWN)]     # Gi1/0/2 was stale already


def test_a_store_of_version_8_gains_the_people_tables_and_keeps_its_decisions(tmp_path, monkeypatch):
    """Version 9 adds columns to run_decisions and runs: an older store's rows stay, not superseded."""
    import sqlite3

    from agent.store import store as store_mod

    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:8])
    Store("sqlite:///var/old.db", tmp_path).close()
    monkeypatch.undo()
    path = tmp_path / "var" / "old.db"
    with sqlite3.connect(path) as db:                    # as version 8 left them
        for column in ("channel", "address", "held_as", "superseded"):
            db.execute(f"alter table run_decisions drop column {column}")
        db.execute("alter table runs drop column trigger")
        db.execute("insert into run_decisions (run_id, step_id, kind, role, by, decision, at) values "
                   "('r1', 'aprobacion-jefa', 'approval', 'jefa', 'maria', 'approved', '2026-01-02 10:00:00')")
    store = Store("sqlite:///var/old.db", tmp_path)
    assert store.migrate() == MIGRATIONS[-1][0] >= 9
    from agent.runbook.journal import Journal

    (decision,) = Journal(store).decisions("r1")
    assert decision["by"] == "maria" and decision["decision"] == "approved" and not decision["superseded"]
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {"accounts", "api_tokens", "web_sessions", "run_waits", "approval_links", "schedule_runs"} <= tables
