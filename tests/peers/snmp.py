"""snmpsim (recorded devices, v2c and v3 by context) and net-snmp snmpd (v2c and v3 authPriv)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from agent.demo import simulator
from agent.transports.snmp import codec
from tests.peers.common import stop

SIM_V3 = {"user": "simuser", "auth_key": "simAuthPass1", "priv_key": "simPrivPass1"}
SNMPD_V3 = {"user": "ciV3user", "auth_key": "ciAuthPass123", "priv_key": "ciPrivPass123"}
SNMPD_COMMUNITY = "ci-ro-community"


@dataclass
class SnmpPeer:
    """Where a simulated agent listens."""

    host: str
    port: int


def start_snmpsim(workdir: Path) -> tuple[simulator.Simulator, SnmpPeer]:
    """Serve every recording in demo/snmprec (community = file name) with v2c and the v3 user."""
    recordings = {p.stem: p for p in simulator.RECORDINGS.glob("*.snmprec")}
    simulator.prepare_data(workdir, recordings)
    port = simulator.free_udp_port()
    sim = simulator.start(workdir, [("127.0.0.1", port)], v3=SIM_V3, ready_community="ups-rfc1628")
    return sim, SnmpPeer("127.0.0.1", port)


def start_snmpd(workdir: Path, extra: str = "") -> tuple[subprocess.Popen, SnmpPeer]:
    """Start net-snmp's snmpd on a free loopback port with a v2c community and a v3 authPriv user
    (`extra`: more snmpd.conf lines, e.g. `override` of what the device says)."""
    port = simulator.free_udp_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf, log, persist = workdir / "snmpd.conf", workdir / "snmpd.log", workdir / "persist"
    persist.mkdir(exist_ok=True)
    conf.write_text(f"""agentAddress udp:127.0.0.1:{port}
rocommunity {SNMPD_COMMUNITY} 127.0.0.1
createUser {SNMPD_V3['user']} SHA "{SNMPD_V3['auth_key']}" AES "{SNMPD_V3['priv_key']}"
rouser {SNMPD_V3['user']} authpriv
sysLocation oti-agent-tests
sysName snmpd-loopback
""" + extra)
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(persist), "MIBS": ":"}
    proc = subprocess.Popen(["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(log),
                             "-p", str(workdir / "snmpd.pid")], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_udp(proc, port, SNMPD_COMMUNITY, log)
    return proc, SnmpPeer("127.0.0.1", port)


def _wait_udp(proc, port: int, community: str, log: Path, timeout: float = 30.0) -> None:
    import socket

    packet = codec.encode_request(codec.GET, 7, community.encode(), [codec.encode_oid("1.3.6.1.2.1.1.3.0")])
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"snmpd exited with {proc.returncode}: {proc.stderr.read()[-800:]!r}")
            s.sendto(packet, ("127.0.0.1", port))
            try:
                s.recvfrom(65535)
                return
            except TimeoutError:
                continue
    stop(proc)
    raise RuntimeError(f"snmpd did not answer on 127.0.0.1:{port} within {timeout:g}s; log {log}")
