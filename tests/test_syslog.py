"""The daemon's syslog receiver (S.04.03.02_P flow 3): util-linux `logger` and a Python sender on loopback,
UDP and TCP, RFC 3164 and RFC 5424; the events in the store, in /metrics and in the monthly report."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from agent.monitoring.syslog import classify, load_patterns
from agent.store import Store, queries
from agent.transports.syslog import parse
from tests.operator import cli
from tests.peers.common import free_tcp_port
from tests.peers.programs import path as program

LIMA = timezone(timedelta(hours=-5))


def test_headers_of_both_rfcs_and_of_devices_that_follow_neither():
    m = parse(b"<189>1 2026-11-12T10:15:00-05:00 fw-01 - - - - logdesc=\"SSL VPN tunnel up\"", "127.0.0.6")
    assert (m.facility, m.severity, m.host, m.at) == (23, 5, "fw-01", datetime(2026, 11, 12, 10, 15, tzinfo=LIMA))
    assert m.text == 'logdesc="SSL VPN tunnel up"'
    m = parse(b"<13>Nov 12 10:15:00 sw-core admin: hola", "127.0.0.1")
    assert (m.host, m.app, m.text, m.at) == ("sw-core", "admin", "hola", None)       # no year: arrival time
    cisco = b"<189>4711: *Mar  1 00:10:12.123: %SYS-5-CONFIG_I: Configured from console by admin on vty0"
    m = parse(cisco, "127.0.0.1")                                   # Cisco's own header: all of it is text
    assert m.text.endswith("Configured from console by admin on vty0") and m.severity == 5
    assert parse(b"\xff\xfe garbage without PRI", "127.0.0.1").severity == 5          # never raises


@pytest.mark.parametrize(("text", "category", "vendor", "user", "port"), [
    ("%SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.1.1.5)", "configuracion", "cisco", "admin", None),
    ("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/7, changed state to down", "puerto", "cisco", None,
     "GigabitEthernet1/0/7"),
    ("%ASA-6-113039: Group <VPN-OTI> User <mrojas> IP <200.48.1.9> AnyConnect parent session started.", "vpn",
     "cisco-asa", "mrojas", None),
    ('date=2026-11-12 time=10:15:00 logid="0101039947" type="event" subtype="vpn" logdesc="SSL VPN tunnel up" '
     'user="lquispe" remip=181.65.2.3 tunneltype="ssl-tunnel"', "vpn", "fortinet", "lquispe", None),
    ("UI_COMMIT: User 'netadmin' requested 'commit' operation (comment: none)", "configuracion", "juniper",
     "netadmin", None),
    ("interface,info ether5 link down", "puerto", "mikrotik", None, "ether5"),
    ("ports: port 12 is now off-line", "puerto", "aruba", None, "12")])
def test_the_shipped_patterns_recognise_each_vendors_events(text, category, vendor, user, port):
    pattern, groups = classify(text, load_patterns([]))
    assert (pattern.category, pattern.vendor, groups.get("user"), groups.get("port")) == (category, vendor, user, port)
    assert classify("%SYS-6-LOGGINGHOST_STARTSTOP: Logging to host 10.1.1.9 started", load_patterns([])) is None


def test_a_bad_pattern_file_names_its_line(tmp_path):
    bad = tmp_path / "mios.yaml"
    bad.write_text("patterns:\n  - {vendor: x, category: puerto, pattern: 'ok'}\n"
                   "  - {vendor: x, category: puerto, pattern: '(unclosed'}\n  - {vendor: x, category: otra, pattern: a}\n")
    with pytest.raises(Exception) as err:
        load_patterns([bad])
    text = str(err.value)
    assert f"{bad}:3: patterns.1.pattern" in text and "not a regular expression" in text, text
    assert f"{bad}:4: patterns.2.category" in text and "'otra' is not one of" in text, text


def _send_udp(port: int, data: bytes, source: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.sendto(data, ("127.0.0.1", port))


def _send_tcp(port: int, frames: list[bytes], source: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))         # RFC 6587 octet counting


def test_the_daemon_keeps_the_networks_events_for_the_monthly_report(site, tmp_path, agentd):
    site.hosts["sw-core"] = {"ansible_host": "127.0.0.1", "oti_kind": "switch", "oti_location": "Cuarto piso 3"}
    site.hosts["fw-01"] = {"ansible_host": "127.0.0.6", "oti_kind": "firewall"}
    port = free_tcp_port()
    site.extra["syslog"] = {"enabled": True, "listen": "127.0.0.1", "port": port, "tcp": True}
    config = site.write()
    daemon = agentd(config)
    logger = program("logger")
    # a switch: RFC 3164 over UDP, then RFC 5424 over TCP (util-linux logger, from 127.0.0.1)
    subprocess.run([logger, "--server", "127.0.0.1", "--port", str(port), "--udp", "--rfc3164", "-t", "sw-core",
                    "%SYS-5-CONFIG_I: Configured from console by admin on vty0"], check=True)
    subprocess.run([logger, "--server", "127.0.0.1", "--port", str(port), "--tcp", "--rfc5424", "--octet-count",
                    "-t", "sw-core", "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/7, changed state to down"],
                   check=True)
    subprocess.run([logger, "--server", "127.0.0.1", "--port", str(port), "--udp", "-t", "sw-core",
                    "%SYS-6-CLOCKUPDATE: nothing the office tracks"], check=True)
    # the firewall, with its own clock: two VPN logins of November over TCP, octet-counted
    vpn = ('<190>1 2026-11-{day}T{hh}:05:00-05:00 fw-01 - - - - type="event" subtype="vpn" '
           'logdesc="SSL VPN tunnel up" user="{user}" remip=181.65.2.3 tunneltype="ssl-tunnel"')
    _send_tcp(port, [vpn.format(day="12", hh="10", user="lquispe").encode(),
                     vpn.format(day="13", hh="22", user="mrojas").encode()], "127.0.0.6")
    _send_udp(port, b"<189>1 2026-11-12T10:00:00-05:00 x - - - - UI_COMMIT: User 'intruso' requested 'commit' "
                    b"operation", "127.0.0.9")                      # an address no device has: dropped
    store = Store("sqlite:///var/test.db", site.root)          # the daemon's store
    deadline = time.monotonic() + 20
    events: list[dict] = []
    while time.monotonic() < deadline and len(events) < 4:
        events = queries.network_events(store, datetime(2000, 1, 1, tzinfo=LIMA), datetime(2100, 1, 1, tzinfo=LIMA))
        time.sleep(0.2)
    assert sorted((e["device"], e["category"], e["user"] or e["port"]) for e in events) == [
        ("fw-01", "vpn", "lquispe"), ("fw-01", "vpn", "mrojas"), ("sw-core", "configuracion", "admin"),
        ("sw-core", "puerto", "GigabitEthernet1/0/7")], f"{events}\n{daemon.tail()}"
    with urllib.request.urlopen(f"{daemon.url}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    for outcome, n in (("received", 6), ("stored", 4), ("unrecognised", 1), ("unknown_sender", 1)):
        assert f'oti_syslog_messages_total{{outcome="{outcome}"}} {float(n)}' in metrics, metrics[-1500:]

    # activity 5: the month's network section of the monthly report
    out = cli(config, "report", "monthly", "--month", "2026-11", "--format", "xlsx")
    assert out.returncode == 0, out.stdout + out.stderr
    book = load_workbook([p for p in out.stdout.split() if p.endswith(".xlsx")][0])
    rows = [[c.value for c in r] for r in book["Red"].iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "N°")
    assert rows[head] == ["N°", "Fecha y hora", "Equipo", "Tipo de evento", "Usuario", "Puerto / origen", "Detalle"]
    november = [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:]]
    assert [(r["Fecha y hora"], r["Equipo"], r["Tipo de evento"], r["Usuario"]) for r in november[:2]] == [
        ("12/11/2026 10:05", "fw-01", "Conexión VPN", "lquispe"), ("13/11/2026 22:05", "fw-01", "Conexión VPN", "mrojas")]
