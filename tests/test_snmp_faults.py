"""SNMP faults, against a hostile responder and snmpsim: malformed answers are named and counted,
a value of the wrong type is UNKNOWN, a walk that never ends is bounded, and the client's socket and
request-ids give a forger nothing to aim at (issue 11, findings 9, 10, 22, 23)."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.core.results import State
from agent.core.settings import load_all
from agent.demo import simulator
from agent.monitoring.jobs import all_jobs
from agent.monitoring.once import probe_context, run_once
from agent.monitoring.runner import Runner
from agent.monitoring.snapshot import Snapshot
from agent.transports.snmp import codec
from agent.transports.snmp.client import Endpoint, V2cClient, V2cSession
from tests.conftest import REPO
from tests.peers.hostile_snmp import COLUMN, HostileSnmp
from tests.peers.programs import path

SYS_UPTIME = codec.encode_oid("1.3.6.1.2.1.1.3.0")


@pytest.fixture
def hostile():
    with HostileSnmp() as peer:
        yield peer


def _device(site, name: str, mode: str, port: int, profile: str = "ups-rfc1628", timeout: float = 0.4, **snmp):
    site.snmp_device(name, "ups", profile, site.v2c(f"c-{name}", mode), port)
    site.hosts[name]["oti_snmp"].update(timeout=timeout, **snmp)


def _poll(site) -> dict:
    site.group("g", ["snmp"], interval="30s", timeout="10s")
    return {r.device: r for r in asyncio.run(run_once(load_all(site.write())))}


# ---------------------------------------------------------------- 9: a malformed answer is not silence

MALFORMED = {          # mode of the hostile responder -> what the error must say about it
    "garbage": "not an SNMP message",
    "empty": "truncated TLV header",
    "truncated": "past the end of the packet",
    "bad-length": "bad BER length",
    "wrong-request-id": "request-id",
    "v3-header": "SNMPv3",
    "v1-response": "SNMPv1",
    "v1-trap": "SNMPv1",
    "v2-trap": "not a Response-PDU (tag 0xa7)",
    "echo": "not a Response-PDU (tag 0xa0)",
    "bad-oid": "OID",
    "unknown-tag": "unexpected value tag 0x47",
    "empty-request-id": "bad PDU header",
}


@pytest.mark.parametrize("mode", sorted(MALFORMED))
def test_a_malformed_answer_is_named_as_such_not_as_silence(site, hostile, mode):
    _device(site, "ups-x", mode, hostile.port)
    res = _poll(site)["ups-x"]
    assert not res.up
    assert res.error.startswith(f"snmp: malformed answer from ups-x (127.0.0.1:{hostile.port}): "), res.error
    assert MALFORMED[mode] in res.error
    assert "community is wrong" not in res.error and res.error_kind == "unavailable"


def test_silence_is_still_no_answer_and_garbage_beside_a_good_answer_is_harmless(site):
    # one responder each: what comes from an address is blamed on that address, whoever asked it
    with HostileSnmp() as a, HostileSnmp() as b, HostileSnmp() as c:
        _device(site, "ups-silent", "silence", a.port)
        _device(site, "ups-noisy", "garbage-then-valid", b.port)
        _device(site, "ups-elsewhere", "valid-from-another-port", c.port)
        res = _poll(site)
    assert res["ups-silent"].error_kind == "timeout" and "no answer" in res["ups-silent"].error
    assert res["ups-noisy"].up, res["ups-noisy"].error
    # the right answer from a port that was not asked is not taken (responses match by request-id AND address)
    assert res["ups-elsewhere"].error_kind == "timeout", res["ups-elsewhere"].error


def test_malformed_datagrams_are_counted_per_device_on_metrics(site):
    with HostileSnmp() as noisy, HostileSnmp() as clean:
        _device(site, "ups-noisy", "garbage-then-valid", noisy.port)
        _device(site, "ups-clean", "valid", clean.port)
        site.group("g", ["snmp"], interval="30s", timeout="10s")
        settings = load_all(site.write())

        async def two_runs() -> bytes:     # one live client across runs, as in the daemon
            with ThreadPoolExecutor(1) as pool:
                ctx = probe_context(settings, pool)
                runner, snapshot = Runner(ctx), Snapshot(settings.inventory, snmp_counts=ctx.snmp_malformed)
                jobs = [j for js in all_jobs(settings).values() for j in js]
                try:
                    for _ in range(2):
                        snapshot.update(await runner.run(jobs))
                    return snapshot.exposition()
                finally:
                    await ctx.aclose()

        text = asyncio.run(two_runs())
        garbage_sent = noisy.requests["garbage-then-valid"]       # one garbage datagram before each answer
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text.decode()) for s in fam.samples}
    assert garbage_sent >= 2
    assert samples[("oti_snmp_malformed_total", (("device", "ups-noisy"),))] == garbage_sent
    assert samples[("oti_snmp_malformed_total", (("device", "ups-clean"),))] == 0
    lint = subprocess.run([path("promtool"), "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr


# ---------------------------------------------------------------- 10: a value of the wrong type is UNKNOWN

WRONG_TYPE = "tipo inesperado: el equipo envía texto donde se espera un número"


@pytest.fixture(scope="module")
def wrong_types(tmp_path_factory):
    """snmpsim serving a UPS whose firmware sends some numbers as OCTET STRING (community `wrong-types`)."""
    work = tmp_path_factory.mktemp("sim-wrong-types")
    simulator.prepare_data(work, {"wrong-types": REPO / "tests/fixtures/snmprec/ups-wrong-types.snmprec"})
    port = simulator.free_udp_port()
    sim = simulator.start(work, [("127.0.0.1", port)], ready_community="wrong-types")
    yield port
    sim.stop()


def test_text_where_a_number_is_expected_is_unknown_with_the_reason(site, wrong_types):
    _device(site, "ups-wt", "wrong-types", wrong_types, timeout=2)
    res = _poll(site)["ups-wt"]
    assert res.up, res.error
    r = {x.key: x for x in res.readings}
    for key in ("ups_battery_status", "ups_battery_runtime_seconds", 'ups_input_voltage_volts{line="1"}'):
        assert r[key].state == State.UNKNOWN and r[key].message == WRONG_TYPE, r[key]
        assert r[key].value is None and r[key].text is None
    assert r["ups_output_source"].state == State.UNKNOWN and "un OID" in r["ups_output_source"].message
    assert r["ups_battery_charge_ratio"].value == 1.0 and r["ups_battery_charge_ratio"].state == State.OK
    assert res.state == State.UNKNOWN


def test_a_metric_declared_info_still_reads_text(site, tmp_path, wrong_types):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ups-ident.yaml").write_text(textwrap.dedent("""\
        profile: ups-ident
        kinds: [ups]
        metrics:
          - {name: ups_model, oid: 1.3.6.1.2.1.33.1.1.2.0, type: info, help: Model}
          - {name: ups_runtime_text, oid: 1.3.6.1.2.1.33.1.2.3.0, type: info, help: Run time as the device says it}
        """))
    site.extra["profiles_dirs"] = ["profiles"]
    _device(site, "ups-id", "wrong-types", wrong_types, profile="ups-ident", timeout=2)
    r = {x.key: x for x in _poll(site)["ups-id"].readings}
    assert (r["ups_model"].state, r["ups_model"].text) == (State.OK, "EX-3000 RT")
    assert (r["ups_runtime_text"].state, r["ups_runtime_text"].text) == (State.OK, "47 min")


# ---------------------------------------------------------------- 22: a walk that never ends is bounded

TABLE_PROFILE = f"""\
profile: hostile-table
kinds: [ups]
tables:
  - name: rows
    metrics:
      - {{name: hostile_row_value, column: {COLUMN}, help: one row of the hostile column}}
"""


def _table_device(site, tmp_path, mode: str, port: int, **snmp) -> None:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    (tmp_path / "profiles" / "hostile-table.yaml").write_text(TABLE_PROFILE)
    site.extra["profiles_dirs"] = ["profiles"]
    _device(site, "walker", mode, port, profile="hostile-table", timeout=2, **snmp)


def test_an_endless_walk_stops_at_the_row_cap_fast_and_in_bounded_requests(site, tmp_path, hostile):
    _table_device(site, tmp_path, "endless-walk", hostile.port)
    t0 = time.monotonic()
    res = _poll(site)["walker"]
    elapsed = time.monotonic() - t0
    assert not res.up and res.error_kind == "unavailable"
    assert f"walk of {COLUMN} passed 10000 rows" in res.error and "walk_max_rows" in res.error, res.error
    assert hostile.requests["endless-walk"] <= 10_000 // 25 + 2       # 25 rows per GETBULK, then the cap
    assert elapsed < 4.0


def test_a_walk_is_bounded_by_bytes_too(site, tmp_path, hostile):
    _table_device(site, tmp_path, "bulky-walk", hostile.port, walk_max_bytes=1_000_000)
    res = _poll(site)["walker"]
    assert not res.up and "passed 1000000 bytes" in res.error and "walk_max_bytes" in res.error, res.error
    assert hostile.requests["bulky-walk"] <= 1_000_000 // (25 * 1400) + 2


def test_a_configured_row_cap_is_the_one_applied(site, tmp_path, hostile):
    _table_device(site, tmp_path, "endless-walk", hostile.port, walk_max_rows=50)
    res = _poll(site)["walker"]
    assert "passed 50 rows" in res.error and hostile.requests["endless-walk"] <= 4


@pytest.mark.parametrize(("mode", "after", "before"), [("backwards-walk", "3", "5"), ("repeating-walk", "3", "3")])
def test_a_walk_that_goes_back_or_repeats_stops_at_once(site, tmp_path, hostile, mode, after, before):
    _table_device(site, tmp_path, mode, hostile.port)
    res = _poll(site)["walker"]
    assert not res.up and res.error_kind == "unavailable"
    assert f"{COLUMN}.{after} after {COLUMN}.{before}" in res.error and "not increasing" in res.error, res.error
    # the first GETBULK asks two rows of each column, the second meets the jump: nothing is asked after it
    assert hostile.requests[mode] == 2


# ---------------------------------------------------------------- 23: the socket and the request-ids

def _udp_sockets() -> set:
    return {c.laddr for c in psutil.Process().net_connections(kind="udp4")}


def test_the_socket_is_bound_to_the_routes_source_address_not_the_wildcard(hostile):
    async def scenario():
        before = _udp_sockets()
        client = V2cClient()
        try:
            session = V2cSession(client, Endpoint("h", "127.0.0.1", hostile.port, 1.0, 0), b"valid")
            await session.get([SYS_UPTIME])
            return _udp_sockets() - before
        finally:
            client.close()

    opened = asyncio.run(scenario())
    assert opened and all(addr.ip == "127.0.0.1" for addr in opened), opened


def test_the_first_requests_of_a_run_share_one_socket(hostile):
    async def scenario():
        before = _udp_sockets()
        client = V2cClient()
        try:
            sessions = [V2cSession(client, Endpoint(f"d{i}", "127.0.0.1", hostile.port, 1.0, 0), b"valid")
                        for i in range(50)]
            await asyncio.gather(*(s.get([SYS_UPTIME]) for s in sessions))
            return _udp_sockets() - before
        finally:
            client.close()

    assert len(asyncio.run(scenario())) == 1


def test_request_ids_are_random_not_a_sequence(hostile):
    async def scenario(n: int):
        client = V2cClient()
        try:
            session = V2cSession(client, Endpoint("h", "127.0.0.1", hostile.port, 1.0, 0), b"valid")
            for _ in range(n):
                await session.get([SYS_UPTIME])
        finally:
            client.close()

    asyncio.run(scenario(300))
    ids = hostile.request_ids
    assert len(ids) == 300 and len(set(ids)) == 300
    assert all(abs(a - b) != 1 for a, b in zip(ids, ids[1:], strict=False))       # no two consecutive numbers
    assert sum(b > a for a, b in zip(ids, ids[1:], strict=False)) < 200            # not even mostly rising
    assert all(0 < i < 2**31 for i in ids) and max(ids) - min(ids) > 2**28      # spread over the id space
