"""The daemon as a user runs it: `oti-agent serve`, /metrics, promtool, a real Prometheus, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.core.config import AgentConfig
from agent.core.inventory import device_model
from agent.demo.simulator import free_udp_port
from agent.monitoring.runner import Job, Runner
from checks.base import Check, ProbeContext
from tests.conftest import REPO
from tests.peers.common import free_tcp_port, stop

OTI = REPO / ".venv" / "bin" / "oti-agent"


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def _wait_metrics(port: int, proc, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}: {proc.stderr.read()}")
        try:
            text = _scrape(port)
            if needle in text:
                return text
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared on /metrics")


@pytest.fixture
def daemon(site, snmpsim, tmp_path):
    """`oti-agent serve` on a UPS, a precision AC, a switch and a dead device."""
    site.http_port = free_tcp_port()
    site.snmp_device("ups1", "ups", "ups-rfc1628", site.v2c("u", "ups-rfc1628"), snmpsim.port,
                     oti_criticality="critico")
    site.snmp_device("aap1", "ac", "liebert-gp", site.v2c("a", "liebert-crac"), snmpsim.port)
    site.snmp_device("sw1", "switch", "switch-ifmib", site.v2c("s", "switch24"), snmpsim.port)
    site.snmp_device("ups-dead", "ups", "ups-rfc1628", site.v2c("d", "ups-rfc1628"), free_udp_port())
    site.group("snmp", [{"check": "snmp", "timeout": "1s"}], interval="2s", timeout="1s")
    config = site.write()
    proc = subprocess.Popen([str(OTI), "serve", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_metrics(site.http_port, proc, 'oti_up{check="snmp",device="ups-dead"')
        yield proc, site.http_port, tmp_path
    finally:
        stop(proc)


def test_metrics_page_passes_promtool_and_names_things_right(daemon):
    proc, port, _ = daemon
    text = _wait_metrics(port, proc, "oti_ups_battery_runtime_seconds")
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    base = (("device", "ups1"), ("kind", "ups"), ("site", "sede-central"))
    assert samples[("oti_ups_battery_runtime_seconds", base)] == 2820
    assert samples[("oti_up", tuple(sorted(base + (("check", "snmp"),))))] == 1
    dead = (("check", "snmp"), ("device", "ups-dead"), ("kind", "ups"), ("site", "sede-central"))
    assert samples[("oti_up", dead)] == 0
    assert samples[("oti_check_errors_total", (("check", "snmp"), ("device", "ups-dead"), ("reason", "timeout")))] >= 1
    assert any(n == "oti_if_receive_bytes_total" for n, _ in samples)
    # a state series only for readings that are not OK (absent: OK), and each device's worst state
    states = {lbl: v for (n, lbl), v in samples.items() if n == "oti_reading_state"}
    assert all(v > 0 for v in states.values()), states
    assert not any(("reading", "ac_system_state") in lbl for lbl in states)       # the AC is on: OK
    assert samples[("oti_device_state", base)] == 0
    assert samples[("oti_device_state", (("device", "ups-dead"), ("kind", "ups"), ("site", "sede-central")))] == 2


def test_prometheus_scrapes_the_daemon_and_answers_promql(daemon, prometheus_factory):
    _proc, port, _ = daemon
    prom = prometheus_factory(port)
    result = prom.wait_for('oti_ups_battery_runtime_seconds{device="ups1"} / 60')
    assert float(result[0]["value"][1]) == 47.0                      # minutes of battery left
    down = prom.wait_for('oti_up{device="ups-dead"} == 0')
    assert down[0]["metric"]["device"] == "ups-dead"


def test_daemon_keeps_polling_records_and_stops_on_sigterm(daemon):
    proc, port, tmp_path = daemon
    first = _scrape(port)
    runs = [line for line in first.splitlines() if line.startswith('oti_check_runs_total{check="snmp",device="ups1"}')]
    time.sleep(2.5)
    later = [line for line in _scrape(port).splitlines()
             if line.startswith('oti_check_runs_total{check="snmp",device="ups1"}')]
    assert float(later[0].split()[-1]) > float(runs[0].split()[-1])   # still polling despite the dead device
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    log = proc.stderr.read()
    assert "check=snmp device=ups-dead failing (timeout)" in log
    assert log.count("device=ups-dead failing") == 1                 # logged once, not every run
    assert "group=snmp checks=4 failed=1 duration=" in log and "stopping" in log
    from agent.store import Store

    store = Store("sqlite:///var/test.db", tmp_path)
    latest = {r["reading"]: r for r in store.latest("ups1")}
    assert latest["ups_battery_runtime_seconds"]["value"] == 2820


class _Raises(Check):
    name = "raises"

    async def collect(self, device, ctx):
        raise RuntimeError("bug in a probe")


class _Hangs(Check):
    name = "hangs"

    async def collect(self, device, ctx):
        await asyncio.sleep(3600)


class _Fine(Check):
    name = "fine"

    async def collect(self, device, ctx):
        return 1

    def evaluate(self, raw, device, previous):
        return []


def test_a_probe_that_raises_or_hangs_costs_only_itself(caplog):
    dev = device_model().model_validate({"name": "d1", "address": "127.0.0.1", "oti_kind": "ups"})

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            runner = Runner(ProbeContext(AgentConfig(), pool), 8)
            t0 = time.monotonic()
            results = await runner.run([Job(_Raises(), dev, 5), Job(_Hangs(), dev, 0.5), Job(_Fine(), dev, 5)])
            return results, time.monotonic() - t0

    (raised, hung, fine), elapsed = asyncio.run(scenario())
    assert raised.error_kind == "internal" and "bug in a probe" in raised.error
    assert hung.error_kind == "timeout" and "0.5s" in hung.error
    assert fine.up
    assert elapsed < 2
    assert datetime.now(UTC) >= raised.started


def test_results_wait_for_a_slow_store_instead_of_piling_up_in_memory():
    """A thousand devices answering faster than the store writes: the polls wait, at most `in_hand` results
    are polled and not yet written."""
    devices = [device_model().model_validate({"name": f"d{i}", "address": "127.0.0.1", "oti_kind": "ups"})
               for i in range(40)]
    held, most, written = [0], [0], []

    async def slow_store(result):
        held[0] += 1
        most[0] = max(most[0], held[0])
        await asyncio.sleep(0.01)
        written.append(result.device)
        held[0] -= 1

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            runner = Runner(ProbeContext(AgentConfig(), pool), 64)
            await runner.run_each([Job(_Fine(), d, 5) for d in devices], slow_store, in_hand=3)

    asyncio.run(scenario())
    assert sorted(written) == sorted(d.name for d in devices)       # every result reached the store
    assert most[0] == 3                                                # and never more than 3 at once


class _FailsTwoWays(Check):
    """A host that times out, then refuses the session: the same failure seen two ways."""
    name = "twoways"
    calls = 0

    async def collect(self, device, ctx):
        from agent.errors import CheckError, ProbeTimeout

        type(self).calls += 1
        if type(self).calls == 1:
            raise ProbeTimeout("twoways d1: no answer within 1s")
        raise CheckError("twoways d1: No existing session")


def test_a_failure_seen_two_ways_is_one_error_line(caplog):
    dev = device_model().model_validate({"name": "d1", "address": "127.0.0.1", "oti_kind": "ups"})

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            runner = Runner(ProbeContext(AgentConfig(), pool), 8)
            return [await runner.run_one(Job(_FailsTwoWays(), dev, 5)) for _ in range(3)]

    with caplog.at_level("DEBUG", logger="agent.monitoring.runner"):
        kinds = [r.error_kind for r in asyncio.run(scenario())]
    assert kinds == ["timeout", "unavailable", "unavailable"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "failing (timeout)" in errors[0], errors


class _BadPassword(Check):
    name = "badpass"
    calls = 0

    async def collect(self, device, ctx):
        type(self).calls += 1
        from agent.errors import ProbeAuthFailed

        raise ProbeAuthFailed("snmp v3 d1: authentication rejected")


def test_auth_failure_is_not_retried_until_its_hold_expires():
    dev = device_model().model_validate({"name": "d1", "address": "127.0.0.1", "oti_kind": "ups"})
    now = [0.0]

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            runner = Runner(ProbeContext(AgentConfig(), pool), 8, auth_hold_s=900, clock=lambda: now[0])
            job = Job(_BadPassword(), dev, 5)
            first = await runner.run_one(job)
            now[0] = 60
            second = await runner.run_one(job)
            now[0] = 901
            third = await runner.run_one(job)
            return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first.error_kind == second.error_kind == third.error_kind == "auth"
    assert _BadPassword.calls == 2            # the run at t=60 s did not touch the device
