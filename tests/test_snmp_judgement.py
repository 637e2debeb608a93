"""Judgement that fits the device, on real agents (snmpsim): voltage limits relative to the nominal the device
declares or the inventory sets, the phases a single-phase unit does not have, ports that were never connected,
impossible values; and counter rates (wrap, reset) through the same code on a recording read offline."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.core.results import State
from agent.core.settings import load_all
from agent.demo import simulator
from agent.monitoring.once import probe_context, run_once
from checks.snmp.check import DeviceMemory, SnmpCheck, SnmpRaw
from checks.snmp.profiles import load_profiles
from tests.tools.snmprec_read import RecordingSession, parse

REPO = Path(__file__).resolve().parent.parent
RIELLO = REPO / "tests" / "fixtures" / "recordings" / "snmprec" / "ups" / "netmanplus_204.snmprec"
UPS = (simulator.RECORDINGS / "ups-rfc1628.snmprec").read_text()
SWITCH = (simulator.RECORDINGS / "switch24.snmprec").read_text()
IN_V, OUT_V = "1.3.6.1.2.1.33.1.3.3.1.3.1", "1.3.6.1.2.1.33.1.4.4.1.2.1"
CONFIG_OUT, CONFIG_IN, TEMP = "1.3.6.1.2.1.33.1.9.3.0", "1.3.6.1.2.1.33.1.9.1.0", "1.3.6.1.2.1.33.1.2.7.0"


def _set(text: str, oid: str, value: str | None) -> str:
    """The recording with one OID's value replaced (None: the OID removed)."""
    pattern = re.compile(rf"^{re.escape(oid)}\|[^|]*\|.*$", re.M)
    assert pattern.search(text), oid
    return pattern.sub("" if value is None else f"{oid}|2|{value}", text)


VARIANTS = {
    "ups-120": _set(_set(_set(_set(UPS, IN_V, "118"), OUT_V, "120"), CONFIG_OUT, "120"), CONFIG_IN, "120"),
    "ups-120-sag": _set(_set(_set(_set(UPS, IN_V, "90"), OUT_V, "120"), CONFIG_OUT, "120"), CONFIG_IN, "120"),
    "ups-120-undeclared": _set(_set(_set(_set(UPS, IN_V, "117"), OUT_V, "121"), CONFIG_OUT, None), CONFIG_IN, None),
    "ups-230": UPS,
    "ups-impossible": _set(_set(UPS, IN_V, "2360"), TEMP, "-273"),
    "switch-all-up": re.sub(r"^(1\.3\.6\.1\.2\.1\.2\.2\.1\.8\.\d+)\|2\|2$", r"\1|2|1", SWITCH, flags=re.M),
    "switch24": SWITCH,
}


@pytest.fixture(scope="module")
def sim_port(tmp_path_factory):
    work = tmp_path_factory.mktemp("judgement")
    files = {}
    for name, text in VARIANTS.items():
        files[name] = work / f"{name}.src"
        files[name].write_text(text)
    files["riello"] = RIELLO
    simulator.prepare_data(work, files)
    port = simulator.free_udp_port()
    sim = simulator.start(work, [("127.0.0.1", port)], ready_community="ups-230")
    yield port
    sim.stop()


def _poll(site, port, devices: dict[str, tuple[str, dict]]):
    for name, (community, snmp) in devices.items():
        kind = "switch" if community.startswith("switch") else "ups"
        site.snmp_device(name, kind, None, site.v2c(name, community), port, snmp=snmp)
    site.group("g", ["snmp"], interval="60s", timeout="30s")
    results = asyncio.run(run_once(load_all(site.write())))
    return {r.device: {x.key: x for x in r.readings} for r in results}


def test_voltage_limits_are_relative_to_the_nominal_the_device_declares_or_the_inventory_sets(site, sim_port):
    r = _poll(site, sim_port, {"u120": ("ups-120", {}), "u120sag": ("ups-120-sag", {}),
                               "u120bare": ("ups-120-undeclared", {}), "u230": ("ups-230", {}),
                               "u230as120": ("ups-230", {"nominal_voltage": 120})})
    line = 'ups_input_voltage_volts{line="1"}'
    assert r["u120"][line].value == 118 and r["u120"][line].state == State.OK        # 120 V mains: not a sag
    assert r["u120sag"][line].state == State.CRITICAL                                 # 90 V on 120 V is
    assert r["u120bare"][line].state == State.OK          # no declared nominal: the output's 121 V says 120
    assert r["u230"][line].value == 231 and r["u230"][line].state == State.OK
    # the inventory's nominal wins over the device's: 231 V on a declared 120 V site is far too high? no: the
    # limits are low-side (a sag); the same 231 V is fine, and a 230 V site's 120 V would be CRITICAL
    assert r["u230as120"][line].state == State.OK


def test_a_single_phase_ups_has_one_line_not_three_with_zero_volts(site, sim_port):
    r = _poll(site, sim_port, {"riello": ("riello", {})})["riello"]
    lines = sorted(k for k in r if k.startswith("ups_input_voltage_volts"))
    assert lines == ['ups_input_voltage_volts{line="1"}'], lines
    assert r[lines[0]].value == 242 and r[lines[0]].state == State.OK
    assert not [k for k, v in r.items() if v.state == State.CRITICAL], "a healthy Riello opens no CRITICAL"


def test_impossible_values_are_unknown_never_ok(site, sim_port):
    r = _poll(site, sim_port, {"bad": ("ups-impossible", {})})["bad"]
    for key in ('ups_input_voltage_volts{line="1"}', "ups_battery_temperature_celsius"):
        assert r[key].value is None and r[key].state == State.UNKNOWN, r[key]
        assert r[key].message.startswith("valor imposible"), r[key].message


def test_a_port_alarms_when_it_was_up_and_goes_down_never_when_it_was_never_connected(site, sim_port):
    site.snmp_device("sw", "switch", None, site.v2c("up", "switch-all-up"), sim_port)
    site.snmp_device("sw-important", "switch", None, site.v2c("now", "switch24"), sim_port,
                     snmp={"important_ports": [r"^Gi1/0/5$"]})
    site.group("g", ["snmp"], interval="60s", timeout="30s")
    settings = load_all(site.write())
    sw, important = settings.inventory.by_name["sw"], settings.inventory.by_name["sw-important"]
    later = sw.model_copy(update={"snmp": sw.snmp.model_copy(update={"credential": "now"})})
    check = SnmpCheck()

    async def polls():
        with ThreadPoolExecutor(2) as pool:
            ctx = probe_context(settings, pool)
            try:
                first = check.evaluate(await check.collect(sw, ctx), sw, {})           # every port up
                then = check.evaluate(await check.collect(later, ctx), later, {})      # four went down
                fresh = check.evaluate(await check.collect(important, ctx), important, {})
                return first, then, fresh
            finally:
                await ctx.aclose()

    first, then, fresh = asyncio.run(polls())
    def down(readings):
        return sorted(dict(x.labels)["ifname"] for x in readings
                      if x.name == "if_oper_status" and x.state == State.WARNING)
    assert down(first) == []
    assert down(then) == ["Gi1/0/10", "Gi1/0/15", "Gi1/0/20", "Gi1/0/5"]
    # first seen down: not an alarm (never connected), except the port the inventory marks important
    assert down(fresh) == ["Gi1/0/5"]
    never = next(x for x in fresh if x.name == "if_oper_status" and dict(x.labels)["ifname"] == "Gi1/0/10")
    assert never.state == State.OK and "sin conexión desde que se vigila" in never.message


RATE_PROFILE = """
profile: rates-test
kinds: [switch]
tables:
  - name: interfaces
    index_label: ifindex
    metrics:
      - name: if_speed_bytes_per_second
        column: 1.3.6.1.2.1.31.1.1.1.15
        scale: 125000
        unit: bytes_per_second
      - name: if_receive_errors_total
        column: 1.3.6.1.2.1.2.2.1.14            # ifInErrors, Counter32
        type: counter
        rate: {name: if_receive_errors_per_second, thresholds: {direction: above, warning: 1, critical: 20}}
      - name: if_receive_bytes_total
        column: 1.3.6.1.2.1.31.1.1.1.6          # ifHCInOctets, Counter64
        type: counter
        unit: bytes
        rate: {name: if_receive_utilisation_ratio, unit: ratio, of: if_speed_bytes_per_second,
               thresholds: {direction: above, warning: 0.8, critical: 0.95}}
"""


def _one_port(errors: int, octets: int) -> str:
    return "\n".join(["1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.99999", f"1.3.6.1.2.1.2.2.1.14.1|65|{errors}",
                      f"1.3.6.1.2.1.31.1.1.1.6.1|70|{octets}", "1.3.6.1.2.1.31.1.1.1.15.1|66|1"]) + "\n"


def test_counter_rates_handle_a_32_bit_wrap_and_a_reset_and_give_utilisation(tmp_path):
    from agent.core.inventory import device_model

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "rates-test.yaml").write_text(RATE_PROFILE)
    profile = load_profiles([tmp_path / "profiles"])["rates-test"]
    device = device_model().model_validate({"name": "sw", "address": "127.0.0.1", "oti_kind": "switch",
                                            "oti_snmp": {"credential": "x"}})
    memory = DeviceMemory()                    # what the daemon keeps between polls

    def poll(t: float, errors: int, octets: int) -> dict:
        src = tmp_path / f"at-{t:g}.snmprec"
        src.write_text(_one_port(errors, octets))
        session = RecordingSession(parse(src))

        async def read():
            return SnmpRaw([profile], {}, await session.walk(profile.walk_roots), memory, t)

        readings = SnmpCheck().evaluate(asyncio.run(read()), device, {})
        return {r.name: r for r in readings if r.labels}

    first = poll(1.0, 1000, 0)
    assert first["if_receive_errors_per_second"].value is None
    assert "primera lectura" in first["if_receive_errors_per_second"].message
    second = poll(61.0, 1600, 125000 * 60)            # 600 errors and 1 Mb/s for a minute
    assert second["if_receive_errors_per_second"].value == 10.0
    assert second["if_receive_errors_per_second"].state == State.WARNING
    assert second["if_receive_utilisation_ratio"].value == 1.0
    assert second["if_receive_utilisation_ratio"].state == State.CRITICAL
    poll(121.0, 2**32 - 100, 125000 * 60)
    wrapped = poll(181.0, 500, 125000 * 60)           # the 32-bit counter went round: 600 more, not -4e9
    assert wrapped["if_receive_errors_per_second"].value == 10.0
    assert wrapped["if_receive_utilisation_ratio"].value == 0.0
    reset = poll(241.0, 5, 10)                         # the device restarted: no rate, no alarm
    for name in ("if_receive_errors_per_second", "if_receive_utilisation_ratio"):
        assert reset[name].value is None and "reinició" in reset[name].message
