"""The `nut` check against a real upsd with dummy-ups drivers fed real UPS dumps (../shared/recordings/nut):
status flags as readings, 120 V and 230 V UPS judged on their own nominal, a UPS going on battery seen at
the next poll, and upsd's refusals named."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.core.results import State
from agent.core.settings import load_all
from agent.monitoring.once import run_once
from tests.peers.nut import PASSWORD, USER, start_upsd

DUMPS = Path(__file__).resolve().parent / "fixtures" / "recordings" / "nut"     # ../shared/recordings/nut
UPS = {"apc": "APC__Smart-UPS_1000__snmp-ups__2.7.4__01.dev",
       "cyberpower": "Cyber_Power_Systems__PR1500RT2U__usbhid-ups__2.7.4__01.dev",
       "eaton": "Eaton__5PX_2000__usbhid-ups__2.7.4__01.dev",
       "liebert": "Liebert__GXT4-1500RT120__usbhid-ups__2.8.1__01.dev",
       "riello": "Riello__Sentinel_SDL_6000-7__snmp-ups__2.2.2__01.dev"}


@pytest.fixture(scope="module")
def upsd(tmp_path_factory):
    peer = start_upsd(tmp_path_factory.mktemp("nut"), {name: DUMPS / f for name, f in UPS.items()})
    yield peer
    peer.stop()


def _site(site, upsd, password=PASSWORD, **extra_devices):
    site.other_creds["nut"] = {"nut": {"user": USER, "password": site.secret("nut", password)}}
    for name in UPS:
        site.hosts[f"ups-{name}"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups",
                                     "oti_nut": {"ups": name, "port": upsd.port, "credential": "nut"}}
    site.hosts.update(extra_devices)
    site.group("energia", ["nut"], interval="60s", timeout="10s")
    return load_all(site.write())


def _poll(settings):
    return {r.device: r for r in asyncio.run(run_once(settings))}


def _r(result):
    assert result.up, result.error
    return {x.key: x for x in result.readings}


def test_real_ups_dumps_read_through_upsd_judged_on_their_own_nominal(site, upsd):
    res = _poll(_site(site, upsd))
    apc, cyber, eaton, liebert, riello = (_r(res[f"ups-{n}"]) for n in UPS)
    # the APC dump was taken on battery with the mains at 0 V
    assert apc["ups_output_source"].text == "battery" and apc["ups_output_source"].state == State.CRITICAL
    assert apc["ups_input_voltage_volts"].value == 0 and apc["ups_input_voltage_volts"].state == State.CRITICAL
    # 120 V units (CyberPower, Liebert GXT4-...RT120): 121 V and 120 V are normal mains, not a sag
    for ups in (cyber, liebert):
        assert ups["ups_input_voltage_volts"].value in (120, 121)
        assert ups["ups_input_voltage_volts"].state == State.OK
        assert ups["ups_output_source"].text == "normal"
    # the Eaton asks for a new battery and raises an alarm: warnings, not outages
    assert eaton["ups_battery_replace"].state == State.WARNING
    assert eaton["ups_alarm"].state == State.WARNING
    assert eaton["ups_output_source"].state == State.OK
    # the Riello on mains: every reading it has is OK
    assert riello["ups_status_info"].text == "OL"
    assert riello["ups_battery_charge_ratio"].value == 1.0
    assert riello["ups_battery_runtime_seconds"].value == 16560
    assert all(x.state in (State.OK, State.UNKNOWN) for x in riello.values())
    assert not [x for x in riello.values() if x.state == State.UNKNOWN and x.value is not None]


def test_a_ups_going_on_battery_is_seen_at_the_next_poll(site, upsd):
    settings = _site(site, upsd)
    assert _r(_poll(settings)["ups-riello"])["ups_output_source"].state == State.OK
    upsd.set("riello", ups__status="OB LB", battery__charge="12.0", battery__runtime="240", input__voltage="0.0")
    deadline = time.monotonic() + 15
    while True:
        r = _r(_poll(settings)["ups-riello"])
        if r["ups_output_source"].text == "battery" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    upsd.set("riello", ups__status="OL", battery__charge="100.0", battery__runtime="16560", input__voltage="233.0")
    assert r["ups_output_source"].text == "battery" and r["ups_output_source"].state == State.CRITICAL
    assert r["ups_battery_status"].text == "batteryLow" and r["ups_battery_status"].state == State.CRITICAL
    assert r["ups_battery_runtime_seconds"].state == State.CRITICAL
    assert r["ups_battery_charge_ratio"].state == State.CRITICAL


def test_upsd_refusals_are_named(site, upsd):
    res = _poll(_site(site, upsd, **{
        "ups-missing": {"ansible_host": "127.0.0.1", "oti_kind": "ups",
                        "oti_nut": {"ups": "nosuch", "port": upsd.port}},
        "ups-nowhere": {"ansible_host": "127.0.0.1", "oti_kind": "ups",
                        "oti_nut": {"ups": "apc", "port": _closed_port()}}}))
    assert not res["ups-missing"].up and "nosuch@127.0.0.1" in res["ups-missing"].error
    assert "upsd no conoce esa UPS" in res["ups-missing"].error
    assert not res["ups-nowhere"].up and "conexión rechazada" in res["ups-nowhere"].error
    assert all(PASSWORD not in (r.error or "") for r in res.values())


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
