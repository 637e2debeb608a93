"""The store at scale: what grows with time is pruned at its horizon (the office's records are not), the SQLite
write-ahead log is truncated after, and between refreshes a device's latest readings are written only where
something changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from agent.core.config import RetentionSection
from agent.core.results import CheckResult, Reading, State
from agent.store import Store
from agent.store import schema as t
from agent.store.retention import prune

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=900), NOW - timedelta(days=10)


def _count(store: Store, table) -> int:
    return store.scalar(select(func.count()).select_from(table))


def _fill(store: Store) -> None:
    with store.transaction() as conn:
        for when, tag in ((OLD, "old"), (RECENT, "new")):
            conn.execute(insert(t.state_changes).values(device="ups-01", reading=f"r-{tag}", check_name="snmp",
                                                        to_state=1, at=when))
            alert = conn.execute(insert(t.alerts).values(
                device="ups-01", reading=f"r-{tag}", check_name="snmp", severity=1, state=0, status="resolved",
                opened_at=when, changed_at=when, resolved_at=when)).inserted_primary_key[0]
            conn.execute(insert(t.alert_events).values(alert_id=alert, event="opened", at=when))
            conn.execute(insert(t.outbox).values(to="jefa@entidad.example", subject=tag, body="-", created_at=when,
                                                 status="sent", sent_at=when))
            conn.execute(insert(t.uptime_days).values(device="ups-01", check_name="snmp",
                                                      day=when.date().isoformat()))
            run = f"run-{tag}"
            conn.execute(insert(t.runs).values(id=run, runbook="x", runbook_path="x.yaml", runbook_digest="d",
                                               title="x", params="{}", status="successful", started_by="luis",
                                               created_at=when, ended_at=when))
            conn.execute(insert(t.run_events).values(run_id=run, event="ended", at=when))
        # an alert still open, however old, is never pruned
        conn.execute(insert(t.alerts).values(device="sw-01", reading="if", check_name="snmp", severity=1, state=1,
                                             status="open", opened_at=OLD, changed_at=OLD))


def test_what_is_past_its_horizon_is_pruned_and_the_wal_truncated(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    _fill(store)
    gone = prune(store, RetentionSection(), NOW)
    # 900 days: monitoring history goes; the runs (records, five years by default) stay
    assert gone == {"state_changes": 1, "alerts": 1, "alert_events": 1, "outbox": 1, "uptime_days": 1}
    assert _count(store, t.runs) == 2
    assert prune(store, RetentionSection(runs_days=365), NOW) == {"runs": 1, "run_events": 1}
    assert _count(store, t.state_changes) == 1 and _count(store, t.outbox) == 1
    assert {r["status"] for r in store.rows(select(t.alerts))} == {"resolved", "open"}
    assert [r["id"] for r in store.rows(select(t.runs))] == ["run-new"]
    wal = tmp_path / "store.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL is truncated after pruning"
    assert prune(store, RetentionSection(), NOW) == {}                 # nothing more to forget
    shorter = prune(store, RetentionSection(history_days=5, mail_days=5), NOW)
    assert shorter == {"state_changes": 1, "outbox": 1}
    store.close()


def _switch(ports_down: set[int]) -> CheckResult:
    readings = [Reading("if_oper_status", float(2 if i in ports_down else 1),
                        State.WARNING if i in ports_down else State.OK, "", (("ifindex", str(i)),),
                        "down" if i in ports_down else "up") for i in range(1, 345)]
    return CheckResult("snmp", "sw-01", NOW, 0.1, readings)


def test_between_refreshes_only_the_readings_that_changed_are_written(tmp_path: Path):
    from agent.store.store import _spread

    store = Store(f"sqlite:///{tmp_path / 'store.db'}", latest_every_s=300)
    store.record([_switch(set())], now=NOW)
    first = {r["reading"]: r["updated_at"] for r in store.latest("sw-01")}
    assert len(first) == 344
    # a device's first refresh falls somewhere in the period (spread by its name): change before it
    later = NOW + timedelta(seconds=(1 - _spread(("sw-01", "snmp"))) * 300 / 2)
    changes = store.record([_switch({7})], now=later)                 # one port flaps
    assert [c.reading for c in changes] == ['if_oper_status{ifindex="7"}']
    rows = {r["reading"]: r for r in store.latest("sw-01")}
    rewritten = [k for k, r in rows.items() if r["updated_at"] != first[k]]
    assert rewritten == ['if_oper_status{ifindex="7"}'], f"{len(rewritten)} rows rewritten for one change"
    assert rows['if_oper_status{ifindex="7"}']["state"] == int(State.WARNING)
    store.record([_switch({7})], now=NOW + timedelta(seconds=301))      # past the refresh: every value again
    assert all(r["updated_at"] != first[k] for k, r in ((r["reading"], r) for r in store.latest("sw-01")))
    store.close()
