"""SNMP traps into the real daemon, sent by net-snmp's `snmptrap` (v2c and v3): a trap from a known device
polls it at once, so its alert opens in seconds, not at the next interval; wrong communities and unknown
senders are counted and dropped."""

from __future__ import annotations

import os
import re
import subprocess
import time

import httpx

from agent.demo import simulator
from tests.peers import programs

ON_BATTERY = "1.3.6.1.2.1.33.2.1"            # UPS-MIB upsTrapOnBattery
ENGINE_ID = "0x8000000001020304"
V3 = {"user": "trapuser", "auth": "trapAuthPass1", "priv": "trapPrivPass1"}


def _snmptrap(port: int, *auth: str, source: str = "127.0.0.1") -> None:
    """Send one upsTrapOnBattery to the daemon from `source`."""
    args = [programs.path("snmptrap"), *auth, f"--clientaddr={source}", f"127.0.0.1:{port}", "", ON_BATTERY]
    done = subprocess.run(args, env={**os.environ, "MIBS": ":", "SNMPCONFPATH": "/nonexistent"},
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr


def _metrics(daemon) -> str:
    return httpx.get(daemon.url + "/metrics", timeout=10).text


def _until(what: str, daemon, pattern: str, timeout: float = 20.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, _metrics(daemon), re.M)
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not in /metrics within {timeout:g}s\n{daemon.tail()}"
        time.sleep(0.2)


def test_a_trap_polls_its_device_at_once_v2c_and_v3_and_strangers_are_dropped(site, snmpsim, agentd):
    trap_port = simulator.free_udp_port()
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
    site.v2c("traps", "trap-community-1")
    site.snmp_creds["trapv3"] = {"version": "v3", "user": V3["user"], "auth_key": site.secret("t.auth", V3["auth"]),
                                 "priv_key": site.secret("t.priv", V3["priv"]), "engine_id": ENGINE_ID}
    site.group("energia", ["snmp"], interval="1h", timeout="20s")     # one poll at start, then only traps
    site.extra["traps"] = {"enabled": True, "listen": "127.0.0.1", "port": trap_port, "min_gap": 0,
                           "credentials": ["traps", "trapv3"]}
    daemon = agentd(site.write())
    source = r'oti_ups_output_source\{device="ups-01"[^}]*\} (\S+)'
    assert float(_until("the first poll", daemon, source).group(1)) == 3           # normal

    site.secret("ups", "ups-onbattery")                                 # the UPS goes on battery...
    _snmptrap(trap_port, "-v2c", "-c", "trap-community-1")              # ...and says so
    _until("on battery, seconds after the trap", daemon, r'oti_ups_output_source\{device="ups-01"[^}]*\} 5')
    _until("the trap counted", daemon,
           r'oti_snmp_traps_total\{device="ups-01",trap="upsTrapOnBattery"\} 1')

    site.secret("ups", "ups-rfc1628")                                   # mains back: a v3 trap this time
    _snmptrap(trap_port, "-v3", "-e", ENGINE_ID, "-u", V3["user"], "-l", "authPriv", "-a", "SHA", "-A", V3["auth"],
              "-x", "AES", "-X", V3["priv"])
    _until("back on mains after the v3 trap", daemon, r'oti_ups_output_source\{device="ups-01"[^}]*\} 3')

    site.secret("ups", "ups-onbattery")                                 # a trap nobody may send: no poll
    _snmptrap(trap_port, "-v2c", "-c", "wrong-community")
    _snmptrap(trap_port, "-v2c", "-c", "trap-community-1", source="127.0.0.2")   # no device has .2
    _until("the wrong community dropped", daemon, r"^oti_snmp_traps_dropped_total 1")
    _until("the stranger counted", daemon, r'oti_snmp_traps_total\{device="unknown",trap="upsTrapOnBattery"\} 1')
    time.sleep(1.0)
    assert re.search(r'oti_ups_output_source\{device="ups-01"[^}]*\} 3', _metrics(daemon)), \
        "a dropped trap must not poll the device"
    assert "trap upsTrapOnBattery from ups-01 (127.0.0.1): polling it now" in daemon.tail(100_000)
