"""Two agents, one PostgreSQL (issue 16): one leads, the other stands by; kill -9 of the leader in the middle
of a backup and of a datacenter shutdown, the standby takes over within the lease, and every backup job,
power command and mail happens once. Plus the lease itself and the fencing of a leader that cannot renew,
on SQLite (no peer needed)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlalchemy import select

from agent.errors import StoreError
from agent.store import Store
from agent.store.leadership import EXIT_LOST, Leadership
from agent.store.lease import Lease
from agent.store.schema import backup_runs, outbox
from tests.agentd import AgentDaemon

LEASE_S = 3.0
LIMA = ZoneInfo("America/Lima")


# ------------------------------------------------------------------ the lease, on SQLite
def test_the_lease_has_one_holder_until_its_deadline_passes(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lease.db'}")
    a, b = Lease(store, 1.0, holder="host-a:1:aa", address="http://a"), Lease(store, 1.0, holder="host-b:2:bb")
    assert a.take() and not b.take()                      # the first one takes it; the other does not
    assert a.take()                                       # renewing is taking it again
    held = b.current()
    assert held.holder == "host-a:1:aa" and held.term == 1 and not held.expired
    assert held.describe() == "host-a (pid 1, console at http://a)"
    deadline = time.monotonic() + 5
    while not b.take():                                   # a's deadline passes: b takes it, a new term
        assert time.monotonic() < deadline, b.current()
        time.sleep(0.1)
    assert b.current().holder == "host-b:2:bb" and b.current().term == 2
    assert not a.take() and not a.release()               # a lost it: it can neither renew nor release it
    assert b.release() and a.take() and a.current().term == 3     # released: taken at once, no waiting


def test_a_leader_that_cannot_renew_stops_at_once_and_the_standby_takes_over(tmp_path):
    """Fencing by exit: the leader's watchdog ends it the moment its lease could lapse; the standby takes over
    after the database's deadline, never before."""
    store = Store(f"sqlite:///{tmp_path / 'lease.db'}")
    events: list[tuple[str, float]] = []

    async def scenario():
        exited = asyncio.Event()
        loop = asyncio.get_running_loop()

        def fenced(code):
            events.append((f"a exits {code}", time.monotonic()))
            loop.call_soon_threadsafe(exited.set)

        a = Leadership(store, 1.5, lambda: events.append(("a leads", time.monotonic())), shared=True,
                       holder="host-a:1:aa", exit=fenced)
        b = Leadership(store, 1.5, lambda: events.append(("b leads", time.monotonic())), shared=True,
                       holder="host-b:2:bb", exit=lambda code: events.append((f"b exits {code}", 0)))
        assert a.start() and not b.start()
        assert b.elsewhere() == "host-a (pid 1)" and a.elsewhere() is None
        assert 'oti_leader{agent="' in a.metrics() and a.metrics().endswith(" 1.0\n") and b.metrics().endswith(" 0.0\n")

        def unreachable():
            raise StoreError("store postgresql://db/oti: connection refused")
        a.lease.take = unreachable                         # a's database goes away (for a only)
        broke = time.monotonic()
        await asyncio.wait_for(exited.wait(), 5)
        deadline = time.monotonic() + 5
        while not b.leading:
            assert time.monotonic() < deadline, events
            await asyncio.sleep(0.05)
        a.stop()
        b.stop()
        return broke

    broke = asyncio.run(scenario())
    names = [e for e, _t in events]
    assert names == ["a leads", f"a exits {EXIT_LOST}", "b leads"], names
    exit_at, lead_at = events[1][1], events[2][1]
    assert exit_at - broke <= 1.5 + 0.3                    # at most the lease after the last renewal
    assert lead_at >= exit_at                             # the old leader is gone before the new one acts


# ------------------------------------------------------------------ two daemons on a real PostgreSQL
def _pg_url(pg) -> str:
    return f"postgresql+psycopg://alfresco@127.0.0.1:{pg.port}/alfresco"


def _on_postgres(config: Path, url: str) -> None:
    cfg = yaml.safe_load(config.read_text())
    cfg["store"] = {**cfg.get("store", {}), "url": url, "lease": f"{LEASE_S:g}s"}
    cfg.setdefault("http", {})["port"] = 0                # each agent its own free port (loopback)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _twin(config: Path, folder: Path) -> Path:
    """The same config for the second agent, in a folder (a host) of its own."""
    folder.mkdir()
    for item in config.parent.iterdir():
        if item.suffix == ".yaml":
            shutil.copy(item, folder / item.name)
        elif item.name == "secrets":
            shutil.copytree(item, folder / "secrets")
    return folder / config.name


def _health(daemon: AgentDaemon) -> dict:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)), timeout=5) as c:
        return c.get("http://oti-agent/api/v1/health").json()


def _leader_gauge(daemon: AgentDaemon) -> str:
    text = httpx.get(daemon.url + "/metrics", timeout=10).text
    return next((ln.rsplit(" ", 1)[1] for ln in text.splitlines() if ln.startswith("oti_leader{")), "absent")


def _pair(config_a: Path, config_b: Path) -> tuple[AgentDaemon, AgentDaemon]:
    """The first agent started leads; the second, started once the first leads, stands by."""
    a = AgentDaemon(config_a).start()
    try:
        assert _health(a)["role"] == "leader", a.tail()
        b = AgentDaemon(config_b).start()
    except BaseException:
        a.kill()
        raise
    return a, b


def _takeover(old: AgentDaemon, new: AgentDaemon, what: str) -> float:
    """kill -9 the leader; return how long the standby took to lead (bounded wait)."""
    killed = time.monotonic()
    old.kill()
    deadline = killed + 4 * LEASE_S + 20
    while _health(new)["role"] != "leader":
        assert time.monotonic() < deadline, new.tail()
        time.sleep(0.1)
    took = time.monotonic() - killed
    print(f"takeover after kill -9 in the middle of {what}: {took:.2f}s (lease {LEASE_S:g}s)", flush=True)
    return took


class _SlowBacula:
    """Bacula whose backup jobs first sleep on the client: a job is surely running when the leader dies."""

    SLEEP_S = 8

    @classmethod
    def start(cls, root: Path, jobs):
        from tests.peers.bacula import Bacula

        class Slow(Bacula):
            def _write_configs(self):
                super()._write_configs()
                conf = self.etc / "bacula-dir.conf"
                conf.write_text(conf.read_text().replace(
                    "  Type = Backup\n", f'  Type = Backup\n  ClientRunBeforeJob = "/bin/sleep {cls.SLEEP_S}"\n'))

        return Slow(root, jobs).start()


@pytest.mark.timeout(600)
def test_kill9_of_the_leader_during_a_backup_the_standby_follows_the_job_and_never_starts_it_again(
        site, tmp_path, postgres):
    from tests.test_backups import _data, _site

    peer = _SlowBacula.start(tmp_path / "bacula", _data(tmp_path))
    try:
        url = _pg_url(postgres)
        site.group("respaldos", ["backup_freshness"], interval="1s", timeout="0.5s", names=["fs-01", "ora-prod"])
        site.extra["store"] = {"url": url, "lease": f"{LEASE_S:g}s"}
        _site(site, tmp_path, peer, check_every="1s")
        matrix_file = tmp_path / "matriz.yaml"
        matrix = yaml.safe_load(matrix_file.read_text())
        now = datetime.now(LIMA)                           # the time of day only: due two minutes ago
        matrix["assets"][0]["time"] = (now - timedelta(minutes=2)).strftime("%H:%M")
        matrix["assets"][1].update(time=(now + timedelta(hours=3)).strftime("%H:%M"), periodicity="diario")
        matrix_file.write_text(yaml.safe_dump(matrix, allow_unicode=True))
        config_a = site.root / "config.yaml"
        _on_postgres(config_a, url)
        config_b = _twin(config_a, tmp_path / "host-b")
        store = Store(url)
        a, b = _pair(config_a, config_b)
        try:
            standby = _health(b)
            assert standby["role"] == "standby" and f"pid {a.proc.pid}" in standby["leader"], standby
            assert _leader_gauge(a) == "1.0" and _leader_gauge(b) == "0.0"
            refused = b.cli("run", "datacenter-shutdown", "--detach")
            assert refused.returncode != 0 and "standby" in refused.stderr, refused
            assert f"pid {a.proc.pid}" in refused.stderr, refused.stderr          # it names the leader
            deadline = time.monotonic() + 60
            while not [r for r in store.rows(select(backup_runs)) if r["job_id"]]:
                assert time.monotonic() < deadline, a.tail()
                time.sleep(0.1)
            assert "is running" in peer.console("status dir") or "running" in peer.console("list jobs")
            took = _takeover(a, b, "a backup")
            assert took <= LEASE_S + 5, took          # within the lease, and a generous slack
            deadline = time.monotonic() + 120
            while any(r["status"] == "running" for r in store.rows(select(backup_runs))):
                assert time.monotonic() < deadline, b.tail()
                time.sleep(0.3)
            time.sleep(2 * 1.0)                             # two more backup checks on the new leader
            rows = store.rows(select(backup_runs))
            assert [(r["asset"], r["attempt"], r["status"]) for r in rows] == [("docs", 1, "ok")], rows
            catalog = peer.console("list jobs")
            assert catalog.count("BackupDocs") == 1, catalog        # started once, by the old leader, in Bacula
            assert _leader_gauge(b) == "1.0"
        finally:
            b.stop()
            a.kill()
            store.close()
    finally:
        peer.stop()


@pytest.mark.timeout(900)
def test_kill9_of_the_leader_during_a_shutdown_the_standby_resumes_it_without_repeating_anything(
        datacenter, snmpsim, smtp, tmp_path, postgres):
    from tests.operator import journal_of, run_ids
    from tests.test_runbook_resume import FastOperator, _shutdown, _until_ended

    dc, (_port, inbox) = datacenter, smtp
    url = _pg_url(postgres)
    config_a = dc.write_config(tmp_path / "host-a", snmpsim.port, smtp[0])
    config_b = dc.write_config(tmp_path / "host-b", snmpsim.port, smtp[0])
    for config in (config_a, config_b):
        _on_postgres(config, url)
    dc.all_on()
    inbox.messages.clear()
    journal = journal_of(config_a)
    operator = FastOperator(config_a, dc, run_ids(config_a))
    operator.start()
    a, b = _pair(config_a, config_b)
    try:
        run_id = _shutdown(a, dc)
        deadline = time.monotonic() + 180
        while not journal.actions(run_id, "apagar-servidores-virtuales"):    # the first power command journalled
            assert time.monotonic() < deadline, (journal.steps(run_id), a.tail())
            time.sleep(0.05)
        at_kill = {sid: r["status"] for sid, r in journal.steps(run_id).items() if r["status"] != "pending"}
        took = _takeover(a, b, "a datacenter shutdown")
        print(f"killed with steps {at_kill}", flush=True)
        assert took <= LEASE_S + 5, took          # within the lease, and a generous slack
        run = _until_ended(journal, run_id, 300)
        assert run["status"] == "successful", (run, b.tail())
    finally:
        operator.stop.set()
        b.stop()
        a.kill()
    for name, bmc in dc.bmcs.items():                       # every power command once
        assert bmc.commands() == ["set shutdown 1"], (name, bmc.commands())
    assert sorted(dc.power_log()) == sorted(f"poweroff {n}" for n in
                                            ("vm-app", "vm-alfresco", "vm-intranet", "backup-01", "pbx-01"))
    done = Counter((e["step_id"], e["target"]) for e in journal.events_named(run_id, "action_done"))
    assert done and max(done.values()) == 1, done          # the journal: every action took effect once
    store = Store(url)
    try:                                                    # every mail once: one row per source, delivered once
        mails = store.rows(select(outbox.c.source, outbox.c.status, outbox.c.message_id))
    finally:
        store.close()
    sources = Counter(m["source"] for m in mails if m["source"])
    assert sources and max(sources.values()) == 1, sources
    delivered = Counter((m["Subject"], m["To"]) for m in inbox.messages)
    assert max(delivered.values()) == 1, delivered
    assert len(inbox.messages) == sum(1 for m in mails if m["status"] == "sent")
