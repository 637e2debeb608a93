"""The snmp check against real agents: snmpsim recordings (v2c and v3) and net-snmp snmpd."""

from __future__ import annotations

import asyncio
import time

from agent.core.results import State
from agent.core.settings import load_all
from agent.monitoring.once import run_once
from tests.peers.snmp import SIM_V3, SNMPD_COMMUNITY, SNMPD_V3


def _poll(site, **kw):
    settings = load_all(site.write())
    return {r.device: r for r in asyncio.run(run_once(settings, **kw))}


def _readings(result):
    return {r.key: r for r in result.readings}


def test_ups_on_mains_reads_in_base_units(site, snmpsim):
    site.snmp_device("ups1", "ups", "ups-rfc1628", site.v2c("c", "ups-rfc1628"), snmpsim.port)
    site.group("power", ["snmp"], kinds=["ups"])
    res = _poll(site)["ups1"]
    assert res.up, res.error
    r = _readings(res)
    # upsEstimatedMinutesRemaining is 47 MINUTES in the MIB: the reading is in seconds
    assert r["ups_battery_runtime_seconds"].value == 47 * 60
    assert r["ups_battery_runtime_seconds"].state == State.OK
    assert r["ups_battery_status"].text == "batteryNormal"
    assert r["ups_output_source"].text == "normal"
    assert r['ups_input_voltage_volts{line="1"}'].value == 231
    assert r["ups_battery_charge_ratio"].value == 1.0
    assert res.state == State.OK


def test_ups_on_battery_is_critical(site, snmpsim):
    site.snmp_device("ups2", "ups", "ups-rfc1628", site.v2c("c", "ups-onbattery"), snmpsim.port)
    site.group("power", ["snmp"])
    r = _readings(_poll(site)["ups2"])
    assert r["ups_output_source"].text == "battery" and r["ups_output_source"].state == State.CRITICAL
    assert r["ups_battery_runtime_seconds"].value == 9 * 60
    assert r["ups_battery_runtime_seconds"].state == State.WARNING   # 540 s: under 900 (warning), over 300
    assert r["ups_battery_status"].state == State.CRITICAL


def test_precision_ac_alarm_and_temperatures(site, snmpsim):
    site.snmp_device("aap-ok", "ac", "liebert-gp", site.v2c("ok", "liebert-crac"), snmpsim.port)
    site.snmp_device("aap-alarm", "ac", "liebert-gp", site.v2c("bad", "liebert-crac-alarm"), snmpsim.port)
    site.group("clima", ["snmp"], kinds=["ac"])
    res = _poll(site)
    ok, bad = _readings(res["aap-ok"]), _readings(res["aap-alarm"])
    assert ok['ac_temperature_celsius{sensor_id="2",sensor="supply_air"}'].value == 18.1   # tenths of a degree
    assert ok["ac_system_state"].state == State.OK
    assert bad["ac_system_state"].text == "off" and bad["ac_system_state"].state == State.CRITICAL
    assert bad["ac_general_alarm"].state == State.CRITICAL
    assert bad["ac_conditions_present"].state == State.WARNING


def test_switch_ports_down_since_the_first_poll_are_not_alarms(site, snmpsim):
    site.snmp_device("sw1", "switch", "switch-ifmib", site.v2c("c", "switch24"), snmpsim.port)
    site.group("red", ["snmp"])
    r = _readings(_poll(site)["sw1"])
    ports = {k: v for k, v in r.items() if k.startswith("if_oper_status")}
    assert len(ports) == 24 and all(v.state == State.OK for v in ports.values())
    never = sorted(k.split('ifname="')[1].split('"')[0] for k, v in ports.items() if "sin conexión" in v.message)
    assert never == ["Gi1/0/10", "Gi1/0/15", "Gi1/0/20", "Gi1/0/5"]     # admin up, never seen up: not an alarm
    octets = [v for k, v in r.items() if k.startswith("if_receive_bytes_total") and "Gi1/0/24" in k][0]
    assert octets.kind == "counter" and octets.value > 2**32          # 64-bit counter, not wrapped


def test_snmpv3_authpriv_through_snmpsim_and_snmpd(site, snmpsim, snmpd):
    site.snmp_device("ups-v3", "ups", "ups-rfc1628",
                     site.v3("v3sim", SIM_V3["user"], SIM_V3["auth_key"], SIM_V3["priv_key"], "ups-rfc1628"),
                     snmpsim.port)
    site.snmp_device("host-v3", "switch", "switch-ifmib",
                     site.v3("v3d", SNMPD_V3["user"], SNMPD_V3["auth_key"], SNMPD_V3["priv_key"]), snmpd.port)
    site.group("v3", ["snmp"])
    res = _poll(site)
    assert res["ups-v3"].up, res["ups-v3"].error
    assert _readings(res["ups-v3"])["ups_battery_runtime_seconds"].value == 2820
    assert res["host-v3"].up, res["host-v3"].error
    assert any(k.startswith('if_oper_status{ifindex="1"') for k in _readings(res["host-v3"]))   # lo


def test_wrong_v3_password_is_an_auth_failure_naming_the_device(site, snmpd):
    site.snmp_device("sw-badpass", "switch", "switch-ifmib",
                     site.v3("v3bad", SNMPD_V3["user"], "wrong-password-1", SNMPD_V3["priv_key"]), snmpd.port)
    site.group("v3", ["snmp"])
    res = _poll(site)["sw-badpass"]
    assert not res.up and res.error_kind == "auth"
    assert "sw-badpass" in res.error and "credential" in res.error
    assert "wrong-password-1" not in res.error


def test_dead_device_costs_only_its_own_timeout(site, snmpsim, snmpd):
    from agent.demo.simulator import free_udp_port

    dead = free_udp_port()
    for i in range(3):
        site.snmp_device(f"dead{i}", "ups", "ups-rfc1628", site.v2c("d", "ups-rfc1628"), dead)
    site.snmp_device("alive", "ups", "ups-rfc1628", site.v2c("a", "ups-rfc1628"), snmpsim.port)
    site.snmp_device("v2c-snmpd", "switch", "switch-ifmib", site.v2c("s", SNMPD_COMMUNITY), snmpd.port)
    site.group("all", [{"check": "snmp", "timeout": "1.5s"}])
    t0 = time.monotonic()
    res = _poll(site)
    elapsed = time.monotonic() - t0
    for i in range(3):
        assert not res[f"dead{i}"].up and res[f"dead{i}"].error_kind == "timeout"
        assert f"dead{i}" in res[f"dead{i}"].error
    assert res["alive"].up and res["v2c-snmpd"].up
    # three dead devices polled concurrently: the whole run costs about one timeout, not three
    assert elapsed < 3 * 1.0


def test_wrong_community_reads_as_no_answer(site, snmpsim):
    site.snmp_device("ups-x", "ups", "ups-rfc1628", site.v2c("x", "no-such-community"), snmpsim.port)
    site.group("x", ["snmp"])
    res = _poll(site)["ups-x"]
    assert res.error_kind == "timeout" and "community" in res.error
