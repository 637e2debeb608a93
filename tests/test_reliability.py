"""Reliability: what the agent does when a device dies, mail is down, text is hostile, a key has a
passphrase, the disk or the clock misbehave — each a fault found by trying to break it (issue 11)."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap

from agent.core.settings import load_all
from agent.monitoring.once import run_once
from tests.peers.programs import path


def _poll(site):
    return {r.device: r for r in asyncio.run(run_once(load_all(site.write())))}


def _passphrase_key(sshd, tmp_path, phrase: str):
    key = tmp_path / "id_frase"
    subprocess.run([path("ssh-keygen"), "-q", "-t", "ed25519", "-N", phrase, "-C", "oti-frase", "-f", str(key)],
                   check=True)
    with open(sshd.public_dir / "authorized_keys", "a") as f:
        f.write(key.with_suffix(".pub").read_text())
    return key


def test_an_ssh_key_with_a_passphrase_logs_in_and_a_wrong_one_says_so(site, sshd, tmp_path):
    key = _passphrase_key(sshd, tmp_path, "frase secreta")
    for name, phrase in (("srv-frase", "frase secreta"), ("srv-mala", "otra frase")):
        site.ssh_device(name, sshd)
        site.ssh_creds[f"ssh-{name}"].update(key_file=str(key), passphrase=site.secret(name, phrase))
    site.group("servidores", ["ssh_host"])
    found = _poll(site)
    assert found["srv-frase"].up, found["srv-frase"].error
    bad = found["srv-mala"]
    assert not bad.up and bad.error_kind == "auth", bad.error
    assert "ssh-srv-mala" in bad.error and "passphrase" in bad.error and "otra frase" not in bad.error


def _bmc_site(site, port: int, password: str):
    from tests.peers.ipmi import USER

    site.hosts["srv-bmc"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_physical",
                             "oti_ipmi": {"address": "127.0.0.1", "port": port, "credential": "bmc"}}
    site.ipmi_creds["bmc"] = {"user": USER, "password": site.secret("bmc", password)}
    return load_all(site.write())


def _power_state(settings):
    from concurrent.futures import ThreadPoolExecutor

    from agent.monitoring.once import probe_context
    from agent.transports.ipmi import power_state

    async def go():
        ctx = probe_context(settings, ThreadPoolExecutor(2))
        try:
            return await power_state(settings.inventory.by_name["srv-bmc"], ctx)
        finally:
            await ctx.aclose()
    return asyncio.run(go())


def test_a_dead_bmc_is_silence_and_a_wrong_password_is_a_refusal(site, tmp_path):
    import pytest

    from agent.demo.simulator import free_udp_port
    from agent.errors import ProbeAuthFailed, ProbeTimeout
    from tests.peers.common import stop
    from tests.peers.ipmi import PASSWORD, start_bmc

    bmc = start_bmc("srv-bmc", tmp_path / "bmc")
    try:
        assert _power_state(_bmc_site(site, bmc.port, PASSWORD)) in ("on", "off")
        with pytest.raises(ProbeAuthFailed) as refused:
            _power_state(_bmc_site(site, bmc.port, "no-es-la-clave"))
        assert "password" in str(refused.value) and "no-es-la-clave" not in str(refused.value)
        with pytest.raises(ProbeTimeout) as silent:                   # nothing listens there: not an auth problem
            _power_state(_bmc_site(site, free_udp_port(), PASSWORD))
        assert "does not answer" in str(silent.value) and "password" not in str(silent.value)
    finally:
        stop(bmc.process)


def test_ipmitool_gets_only_the_environment_it_needs(site, tmp_path, monkeypatch):
    from agent.transports import ipmi

    dump = tmp_path / "env.txt"
    fake = tmp_path / "ipmitool"
    fake.write_text(f"#!/bin/sh\nenv > {dump}\necho 'Chassis Power is on'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(ipmi, "IPMITOOL", str(fake))
    monkeypatch.setenv("OTI_CANARY_SECRET", "canary-7f3a9c")            # another secret of the agent's
    assert _power_state(_bmc_site(site, 9, "clave-bmc")) == "on"
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert env["IPMI_PASSWORD"] == "clave-bmc"
    assert "OTI_CANARY_SECRET" not in env and "canary-7f3a9c" not in dump.read_text()
    assert set(env) <= {"IPMI_PASSWORD", "PATH", "LANG", "LC_ALL", "PWD", "SHLVL", "_"}


HOSTILE = "[/x] [/bold] <script>alert(1)</script>"


def test_text_from_devices_and_people_prints_as_text_not_markup(site, tmp_path, smtp, monkeypatch):
    """ifName/ifAlias from a real snmpd carry `[/x]`, `[/bold]` and `<script>`; a host name too."""
    from agent.alerts import AlertBook
    from agent.store import Store
    from tests.operator import cli
    from tests.peers.common import stop
    from tests.peers.snmp import SNMPD_COMMUNITY, start_snmpd

    monkeypatch.setenv("COLUMNS", "250")
    proc, peer = start_snmpd(tmp_path / "snmpd", extra=textwrap.dedent(f"""\
        override .1.3.6.1.2.1.31.1.1.1.1.1 octet_str "{HOSTILE}"
        override .1.3.6.1.2.1.31.1.1.1.18.1 octet_str "alias {HOSTILE}"
        override .1.3.6.1.2.1.2.2.1.8.1 integer 2
        override .1.3.6.1.2.1.2.2.1.7.1 integer 1
        """))
    try:
        port, _inbox = smtp
        cred = site.v2c("sw", SNMPD_COMMUNITY)
        site.snmp_device("sw-[/x]", "switch", "switch-ifmib", cred, peer.port,
                         snmp={"important_ports": ["^alias "]})       # down since the first poll: an alarm
        site.group("red", ["snmp"])
        site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                              "password": site.secret("smtp", "mailpw"), "recipients": {"is": ["is@x.example"]}}
        site.extra["alerts"] = {"policies": [{"name": "todo", "steps": [{"to": ["is"]}]}]}
        # who acknowledges is the person root is, whose name (typed into the registry) is hostile too
        from tests.agentd import PEOPLE
        persons = [{**p, "name": "Luis [/x] Quispe"} if p["login"] == "luis" else p
                   for p in PEOPLE["persons"]]
        site.extra["people"] = {**PEOPLE, "persons": persons}
        config = site.write()
        checked = cli(config, "check")
        assert checked.returncode == 0 and "Traceback" not in checked.stderr, checked.stderr   # a port down: WARNING
        assert "[/x] [/bold] <script>" in checked.stdout and "sw-[/x]" in checked.stdout

        settings = load_all(config)
        store = Store(settings.config.store.url, settings.config.base_dir)
        results = asyncio.run(run_once(settings))
        book = AlertBook(settings, store)
        book.process(store.record(results))
        alert_id = next(a["id"] for a in book.list() if "[/x]" in a["reading"])
        book.outbox.enqueue(["is@x.example"], f"alerta {HOSTILE}", "cuerpo")
        acked = cli(config, "alerts", "ack", str(alert_id), "--comment", HOSTILE)
        assert acked.returncode == 0 and "Luis [/x] Quispe (luis)" in acked.stdout, acked.stderr
        shown = cli(config, "alerts", "show", str(alert_id))
        assert shown.returncode == 0 and HOSTILE in shown.stdout, shown.stdout + shown.stderr   # the comment
        for args in (["alerts"], ["alerts", "show", str(alert_id)], ["outbox", "list"], ["inventory"]):
            done = cli(config, *args)
            assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, (args, done.stderr)
            assert "[/x]" in done.stdout, (args, done.stdout)
    finally:
        stop(proc)


def test_a_config_problem_about_hostile_text_is_printed_whole(site, tmp_path):
    from tests.operator import cli

    site.snmp_device("sw-01", "switch", "[/bold]perfil", site.v2c("sw", "x"), 161)
    site.group("red", ["snmp"])
    done = cli(site.write(), "config", "check")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unknown profile '[/bold]perfil'" in done.stderr.replace("\n", "")


def test_a_crash_report_is_private_and_never_follows_a_link(tmp_path, monkeypatch, capsys):
    import os
    import stat
    import sys
    import tempfile

    import pytest

    import agent.cli as cli_mod
    from agent.core import settings as settings_mod

    victim = tmp_path / "victim"
    victim.write_text("a root-owned file")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "oti-agent-crash.log").symlink_to(victim)          # an unprivileged user's trap

    def boom(_path, **_kw):
        raise RuntimeError(f"boom {HOSTILE}")

    monkeypatch.setattr(settings_mod, "load_all", boom)
    monkeypatch.setattr(sys, "argv", ["oti-agent", "check", "-c", str(tmp_path / "x.yaml")])
    with pytest.raises(SystemExit) as stopped:
        cli_mod.main()
    assert stopped.value.code == 1
    assert victim.read_text() == "a root-owned file"
    said = capsys.readouterr().err
    assert "unexpected error" in said and "[/x]" in said
    report = next(p for p in tmp_path.glob("oti-agent-crash-*.log"))
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o600 and "RuntimeError" in report.read_text()


def test_a_device_that_stops_answering_is_an_alert_of_its_own(site, snmpsim, smtp):
    """A UPS goes silent (its community no longer answers): after `no_answer_runs` polls it is an alert
    `sin respuesta` that escalates, its readings turn UNKNOWN, the checklist says since when; it ends
    when the UPS answers again."""
    from datetime import UTC, datetime, timedelta

    from openpyxl import load_workbook

    from agent.alerts import AlertBook
    from agent.core.results import State
    from agent.documents.compose import compose
    from agent.monitoring.jobs import all_jobs
    from agent.monitoring.once import probe_context
    from agent.monitoring.runner import Runner
    from agent.store import Store, queries

    port, inbox = smtp
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
    site.group("energia", ["snmp"], interval="1m")
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "recipients": {"is": ["is@x.example"]}}
    site.extra["alerts"] = {"no_answer_runs": 2, "no_answer_after": "1h",
                            "policies": [{"name": "todo", "steps": [{"to": ["is"]}]}]}
    settings = load_all(site.write())
    store = Store(settings.config.store.url, settings.config.base_dir)
    now = [datetime(2026, 11, 30, 14, 0, tzinfo=UTC)]
    book = AlertBook(settings, store, clock=lambda: now[0])
    jobs = [j for js in all_jobs(settings).values() for j in js]
    from concurrent.futures import ThreadPoolExecutor

    pool, loop = ThreadPoolExecutor(2), asyncio.new_event_loop()
    runner = Runner(probe_context(settings, pool, store), 8, silence=True, wall=lambda: now[0])

    def poll():
        results = loop.run_until_complete(runner.run(jobs))       # one event loop, as in the daemon
        book.process(store.record(results, now=now[0]))
        book.tick()
        now[0] += timedelta(minutes=1)

    poll()
    assert not book.list()
    site.secret("ups", "no-such-community")                           # the card stops answering
    poll()
    assert not book.list()                                             # one silent poll is not yet an alert
    stale = queries.latest(store, device="ups-01")
    assert stale and all(r["state"] == State.UNKNOWN for r in stale if r["name"] != "check_answered")
    poll()
    (alert,) = book.list()
    assert alert["reading"] == 'check_answered{check="snmp"}' and alert["severity"] == State.CRITICAL
    assert "sin respuesta desde 09:01" in alert["message"]            # 14:01 UTC is 09:01 in Lima
    assert any("sin respuesta" in m["body"] for m in book.outbox.sent())

    day = compose("checklist-diario", settings, store, now=now[0], day=now[0].date())
    rows = [[c.value for c in r] for r in load_workbook(day.paths[1]).active.iter_rows()]
    ups = next(r for r in rows if r[1] == "Operatividad de ups-01 (UPS)")
    assert ups[3] == "X" and "sin respuesta desde 09:01" in ups[4]

    site.secret("ups", "ups-rfc1628")                                  # back
    poll()
    assert not book.list(), book.list()
    (ended,) = book.list(status=("resolved",))
    assert ended["comment"] == "responde de nuevo"
    loop.close()
    pool.shutdown()


def test_a_healthy_host_queued_behind_dead_ones_is_not_reported_down(site, sshd, tmp_path):
    """Six SSH hosts that accept and never speak hold the only two probe threads; the healthy host's
    timeout counts its own work, not the time it waited for a thread."""
    import socket

    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(64)                                  # the kernel accepts; nobody ever sends a banner
    try:
        for i in range(6):
            site.ssh_device(f"muerto-{i}", sshd)
            site.hosts[f"muerto-{i}"]["oti_ssh"]["port"] = dead.getsockname()[1]
        site.ssh_device("zz-sano", sshd)            # sorted last: queued behind every dead one
        site.group("servidores", [{"check": "ssh_host", "options": {"connect_timeout": 2}}], timeout="3s")
        site.extra["scheduler"] = {"ssh_threads": 2}
        found = _poll(site)
        assert found["zz-sano"].up, found["zz-sano"].error
        assert all(not found[f"muerto-{i}"].up for i in range(6))
    finally:
        dead.close()


def test_a_healthy_device_is_published_before_the_dead_one_of_its_group_times_out(site, snmpsim):
    from agent.daemon import Daemon
    from agent.demo.simulator import free_udp_port
    from agent.monitoring.jobs import group_jobs

    cred = site.v2c("ups", "ups-rfc1628")
    site.snmp_device("ups-sana", "ups", "ups-rfc1628", cred, snmpsim.port)
    site.snmp_device("ups-muerta", "ups", "ups-rfc1628", cred, free_udp_port())   # nothing answers there
    site.hosts["ups-muerta"]["oti_snmp"].update(timeout=4, retries=0)
    site.group("energia", ["snmp"], interval="1m", timeout="5s")
    settings = load_all(site.write())
    daemon = Daemon.create(settings)
    group = settings.config.check_groups[0]

    async def go():
        task = asyncio.create_task(daemon.run_group(group, group_jobs(settings, group)))
        for _ in range(40):                                       # at most 2 s: long before the dead one's 4 s
            results, _counters = daemon.snapshot.view()
            if any(r.device == "ups-sana" for r in results):
                break
            await asyncio.sleep(0.05)
        published = {r.device for r in daemon.snapshot.view()[0]}
        running = not task.done()
        await task
        return published, running

    published, running = asyncio.run(go())
    assert published == {"ups-sana"} and running
    assert {r.device for r in daemon.snapshot.view()[0]} == {"ups-sana", "ups-muerta"}
    from agent.store import queries

    assert {r["device"] for r in queries.check_statuses(daemon.store)} == {"ups-sana", "ups-muerta"}


def test_availability_is_counted_on_the_offices_days(site):
    """A poll at 22:00 in Lima on 30 November is 03:00 UTC on 1 December: it belongs to November's report."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from agent.core.results import CheckResult
    from agent.documents.compose import compose
    from agent.store import Store

    site.hosts["ups-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups"}
    settings = load_all(site.write())
    store = Store.for_config(settings.config)
    late = datetime(2026, 11, 30, 22, 0, tzinfo=ZoneInfo("America/Lima"))
    store.record([CheckResult("snmp", "ups-01", late, 0.1)], now=late)
    nov = compose("informe-mensual", settings, store, now=late, month="2026-11").page.sections["disponibilidad"]
    dec = compose("informe-mensual", settings, store, now=late, month="2026-12").page.sections["disponibilidad"]
    assert [r["chequeos"] for r in nov] == ["1"] and [r["chequeos"] for r in dec] == ["0"]


def test_files_the_agent_writes_are_not_world_readable(site, tmp_path):
    import os
    import stat

    from tests.operator import cli

    site.hosts["ups-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups"}
    site.extra["documents_dir"] = "docs"
    config = site.write()
    done = cli(config, "report", "daily")
    assert done.returncode == 0, done.stderr
    written = [p for p in (tmp_path / "var").iterdir()] + [p for p in (tmp_path / "docs").rglob("*")]
    assert any(p.name == "test.db" for p in written) and any(p.suffix == ".pdf" for p in written)
    loose = [f"{p} {stat.filemode(os.stat(p).st_mode)}" for p in written
             if os.stat(p).st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    assert not loose, loose

    site.extra["documents_group_readable"] = True              # an office that shares them with its group
    config = site.write()
    assert cli(config, "report", "daily").returncode == 0
    pdf = next((tmp_path / "docs").rglob("*.pdf"))
    assert stat.S_IMODE(os.stat(pdf).st_mode) == 0o640 and stat.S_IMODE(os.stat(pdf.parent).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "var" / "test.db").st_mode) == 0o600
