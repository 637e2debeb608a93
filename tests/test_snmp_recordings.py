"""Real devices' walks (../shared/recordings/snmprec, from LibreNMS's test data) served by snmpsim, read by an
inventory that names no profile: the agent detects the right profiles, reads at least what the expectation
files say (tests/fixtures/snmprec/expected_*.yaml, each with LibreNMS's own count beside it), never shows an
impossible value as OK, and a device no profile fits is CRITICAL, not silent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from agent.core.results import State
from agent.core.settings import load_all
from agent.demo import simulator
from agent.monitoring.once import run_once
from checks.snmp.profiles import load_profiles

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO / "tests" / "fixtures" / "recordings" / "snmprec"     # ../shared/recordings, byte-exact
OWN = REPO / "tests" / "fixtures" / "snmprec"
EXPECTED = {k: v for f in sorted(OWN.glob("expected_*.yaml")) for k, v in (yaml.safe_load(f.read_text()) or {}).items()}


SANE = {}
for _p in load_profiles([]).values():
    for _m in _p.all_metrics:
        if _m.sane_range and not _m.enum:
            SANE.setdefault(_m.name, _m.sane_range)


def _source(key: str) -> Path:
    """`ups/apc_smart1500` is a shared recording; `profiles/x` one of ours."""
    return OWN / f"{key}.snmprec" if key.startswith("profiles/") else SHARED / f"{key}.snmprec"


def _community(key: str) -> str:
    return key.replace("/", "__")


@pytest.fixture(scope="module")
def polled(tmp_path_factory):
    """Every recording in one snmpsim, every device polled once by `run_once` with detection."""
    recordings = {_community(k): _source(k) for k in EXPECTED}
    recordings["unknown-device"] = OWN / "unknown-device.snmprec"
    work = tmp_path_factory.mktemp("recordings")
    simulator.prepare_data(work, recordings)
    port = simulator.free_udp_port()
    sim = simulator.start(work, [("127.0.0.1", port)], ready_community=next(iter(recordings)))
    try:
        from tests.conftest import Site

        site = Site(work / "site")
        for key in EXPECTED:
            name = _community(key).replace("_", "-").replace(".", "-")
            site.snmp_device(name, "ups", None, site.v2c(name, _community(key)), port,
                             snmp={"timeout": 3, "retries": 1})
        site.snmp_device("unknown-device", "ups", None, site.v2c("unknown", "unknown-device"), port)
        site.group("all", ["snmp"], interval="60s", timeout="50s")
        settings = load_all(site.write())
        results = {r.device: r for r in asyncio.run(run_once(settings))}
        yield {key: results[_community(key).replace("_", "-").replace(".", "-")] for key in EXPECTED} | \
            {"unknown-device": results["unknown-device"]}
    finally:
        sim.stop()


def _applied(result) -> set[str]:
    return {dict(r.labels)["profile"] for r in result.readings if r.name == "snmp_profile_values"}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_a_recording_is_read_by_the_profiles_it_needs(polled, key):
    expected, result = EXPECTED[key], polled[key]
    assert result.up, result.error
    assert set(expected["profiles"]) <= _applied(result), f"{key}: detected {sorted(_applied(result))}"
    valued = [r for r in result.readings if (r.value is not None or (r.kind == "info" and r.text)) and r.name not in
              ("snmp_agent_uptime_seconds", "snmp_profile_values") and not r.name.startswith("if_")]
    assert len(valued) >= expected["min_readings"], \
        f"{key}: {len(valued)} readings with a value, expected {expected['min_readings']}"
    for r in result.readings:
        lo_hi = SANE.get(r.name)
        if r.value is not None and lo_hi and r.kind == "gauge" and r.text is None:
            assert lo_hi[0] <= r.value <= lo_hi[1], f"{key}: {r.key} = {r.value} {r.unit} shown as a value"
    silent = [r for r in result.readings if r.name == "snmp_profile_values" and r.state == State.CRITICAL]
    assert not silent, f"{key}: {silent[0].message}"


def test_a_device_no_profile_fits_is_critical_and_says_why(polled):
    result = polled["unknown-device"]
    assert result.up, result.error
    finding = [r for r in result.readings if r.name == "snmp_profile_values"]
    assert finding and finding[0].state == State.CRITICAL
    assert "ningún perfil responde: revise el perfil o la credencial" in finding[0].message
    assert result.state == State.CRITICAL
