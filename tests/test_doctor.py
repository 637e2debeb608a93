"""`oti-agent doctor` against real peers on loopback (aiosmtpd with STARTTLS, sshd, snmpd), real files and
real sockets: what it finds, how it names the file or host:port to fix, and its exit code. The expiry
checks run on an injected clock, never on today's date."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.monitoring.doctor import DoctorOptions, Status, examine, load_settings, worst
from agent.monitoring.doctor import certs as certs_mod
from agent.monitoring.doctor.host import offset_finding
from agent.monitoring.doctor.peers import Peer
from tests.conftest import SNMPD_COMMUNITY
from tests.peers.common import free_tcp_port

UTC = dt.UTC
NEW_YEAR_2031 = dt.datetime(2031, 1, 1, 12, tzinfo=UTC)
NO_TIMEDATECTL = "/nonexistent/timedatectl"        # the clock question answered by --ntp, or a WARN


def _options(now=NEW_YEAR_2031, **kw) -> DoctorOptions:
    return DoctorOptions(now=lambda: now, timeout=2.0, timedatectl=NO_TIMEDATECTL, **kw)


def _certificate(folder: Path, not_before: dt.datetime, days: int) -> tuple[Path, Path]:
    """A self-signed certificate valid `days` from `not_before`, and its key (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oti-agent.entidad.example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_before + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "console.pem", folder / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _private_state(site) -> None:
    """The store and documents folders as the daemon makes them: its user's alone."""
    for folder in ("var", "documentos"):
        (site.root / folder).mkdir(mode=0o700, exist_ok=True)
    site.extra["documents_dir"] = "documentos"
    site.http_port = free_tcp_port()
    # a device with no access to knock on (an inventory needs one)
    site.hosts["rack1"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_physical"}


def _examine(config: Path, options: DoctorOptions):
    settings, findings = load_settings(config)
    assert settings is not None, [f.message for f in findings]
    return findings + asyncio.run(examine(settings, options))


def _about(findings, check: str, text: str):
    found = [f for f in findings if f.check == check and text in f.message]
    assert found, f"no {check} finding with {text!r} in: " + "\n".join(f"{f.status.name} {f.message}"
                                                                      for f in findings)
    return found[0]


def test_a_console_certificate_ten_days_from_its_end_warns_and_an_expired_one_fails(site):
    _private_state(site)
    cert, key = _certificate(site.root, dt.datetime(2030, 12, 22, tzinfo=UTC), days=20)   # ends 2031-01-11
    site.extra["http"] = {"listen": "127.0.0.1", "port": site.http_port, "tls_cert": str(cert),
                          "tls_key": str(key), "socket": None}
    config = site.write()
    soon = _about(_examine(config, _options(devices=False)), "tls", "the console")
    assert soon.status == Status.WARN and "2031-01-11" in soon.message and "in 9 day(s)" in soon.message
    assert str(cert) in soon.message
    later = _about(_examine(config, _options(now=NEW_YEAR_2031 + dt.timedelta(days=30), devices=False)),
                   "tls", "the console")
    assert later.status == Status.FAIL and "expired on 2031-01-11" in later.message and later.fix
    fine = _about(_examine(config, _options(devices=False, cert_warn_days=7)), "tls", "the console")
    assert fine.status == Status.OK


def test_the_smtp_server_answers_and_its_starttls_certificate_is_judged_on_the_injected_clock(site, smtp):
    from cryptography import x509

    port, _inbox = smtp
    _private_state(site)
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "agent-password")}
    config = site.write()
    der = asyncio.run(certs_mod.peer_certificate(Peer("SMTP server", "mail.host", "127.0.0.1", port, "smtp")))
    shown = x509.load_der_x509_certificate(der)             # the peer's certificate lasts one day
    start = shown.not_valid_before_utc
    findings = _examine(config, _options(now=start + dt.timedelta(hours=1), devices=False))
    assert _about(findings, "peer", f"SMTP server at 127.0.0.1:{port}").status == Status.OK
    cert = _about(findings, "tls", f"SMTP server 127.0.0.1:{port}")
    assert cert.status == Status.WARN and "in 0 day(s)" in cert.message
    after = _examine(config, _options(now=shown.not_valid_after_utc + dt.timedelta(seconds=1), devices=False))
    assert _about(after, "tls", "SMTP server").status == Status.FAIL


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
def test_the_directorys_certificate_is_read_through_starttls_or_ldaps(site, slapd, how):
    from cryptography import x509

    from tests.agentd import PEOPLE

    _private_state(site)
    url = slapd.url_ldaps if how == "ldaps" else slapd.url_ldap
    directory = {"url": url, "start_tls": how == "start_tls",
                 "user_dn": "uid={login},ou=people,dc=entidad,dc=gob,dc=pe"}
    site.extra["people"] = {**PEOPLE, "directory": directory}
    config = site.write()
    port = int(url.rsplit(":", 1)[1])
    der = asyncio.run(certs_mod.peer_certificate(Peer("LDAP", "people.directory.url", "127.0.0.1", port,
                                                      "tls" if how == "ldaps" else "ldap")))
    shown = x509.load_der_x509_certificate(der)                # slapd's certificate lasts two days
    findings = _examine(config, _options(now=shown.not_valid_before_utc + dt.timedelta(hours=1),
                                         devices=False))
    assert _about(findings, "peer", f"LDAP directory at 127.0.0.1:{port}").status == Status.OK
    cert = _about(findings, "tls", f"LDAP directory 127.0.0.1:{port}")
    assert cert.status == Status.WARN and "in 1 day(s)" in cert.message


def test_a_world_readable_secret_file_fails_naming_the_file(site):
    _private_state(site)
    site.extra["mail"] = {"host": "127.0.0.1", "port": free_tcp_port(), "starttls": False,
                          "user": "agent", "password": site.secret("smtp", "agent-password")}
    secret = site.root / "secrets" / "smtp"
    secret.chmod(0o644)
    findings = _examine(site.write(), _options(devices=False))
    bad = _about(findings, "permissions", str(secret))
    assert bad.status == Status.FAIL and "world-readable (mode 0644)" in bad.message
    assert "mail.password" in bad.message and f"chmod o-rwx {secret}" in bad.fix
    secret.chmod(0o600)
    again = _examine(site.write(), _options(devices=False))
    assert _about(again, "permissions", str(secret)).status == Status.OK


def test_a_closed_port_fails_naming_host_and_port_and_a_listening_sshd_is_ok(site, sshd):
    _private_state(site)
    site.ssh_device("web1", sshd)
    closed = free_tcp_port()
    site.ssh_device("web2", sshd)
    site.hosts["web2"]["oti_ssh"]["port"] = closed
    site.extra["mail"] = {"host": "127.0.0.1", "port": closed, "starttls": False}
    findings = _examine(site.write(), _options())
    mail = _about(findings, "peer", f"SMTP server at 127.0.0.1:{closed} does not answer")
    assert mail.status == Status.FAIL and "connection refused" in mail.message and "mail.host" in mail.fix
    web2 = _about(findings, "device", f"web2 (127.0.0.1:{closed}/tcp)")
    assert web2.status == Status.FAIL and "connection refused" in web2.message
    assert not [f for f in findings if f.check == "device" and "web1" in f.message]   # only failures named
    assert _about(findings, "device", "1 of 2 devices answer SSH").status == Status.FAIL


def test_snmp_devices_are_asked_a_real_get_with_their_credential(site, snmpd):
    _private_state(site)
    site.snmp_device("sw1", "switch", None, site.v2c("ro", SNMPD_COMMUNITY), snmpd.port)
    site.snmp_device("sw2", "switch", None, site.v2c("wrong", "not-the-community"), snmpd.port)
    findings = _examine(site.write(), _options())
    assert _about(findings, "device", "1 of 2 devices answer SNMP").status == Status.FAIL
    assert _about(findings, "device", f"sw2 (127.0.0.1:{snmpd.port}/udp): SNMP GET").status == Status.FAIL


def test_a_folder_the_agents_user_cannot_write_fails(site):
    _private_state(site)
    findings = _examine(site.write(), _options(devices=False, user="nobody"))
    bad = _about(findings, "permissions", "user nobody cannot write the store")
    assert str(site.root / "var") in bad.message and "chown nobody" in bad.fix


def test_a_port_held_by_another_program_fails_naming_it(site):
    _private_state(site)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        site.extra["traps"] = {"enabled": True, "listen": "127.0.0.1", "port": port}
        findings = _examine(site.write(), _options(devices=False))
    bad = _about(findings, "port", f"traps 127.0.0.1:{port}/udp: in use by pid {os.getpid()}")
    assert bad.status == Status.FAIL
    assert _about(findings, "port", f"http 127.0.0.1:{site.http_port}/tcp: free to bind").status == Status.OK


class _NtpServer(asyncio.DatagramProtocol):
    """An SNTP server whose clock is `ahead` seconds ahead of the injected one (RFC 4330's fields only)."""

    def __init__(self, now: dt.datetime, ahead: float):
        self.stamp = now.timestamp() + ahead + 2208988800

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        seconds = struct.pack("!II", int(self.stamp), int(self.stamp % 1 * 2**32))
        self.transport.sendto(b"\x24\x02" + b"\0" * 30 + seconds + seconds, addr)


@pytest.mark.parametrize(("ahead", "status"), [(0.02, Status.OK), (5.0, Status.WARN), (120.0, Status.FAIL)])
def test_without_timedatectl_the_clock_is_compared_with_the_ntp_server_given(ahead, status):
    from agent.monitoring.doctor.host import time_sync

    async def ask():
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _NtpServer(NEW_YEAR_2031, ahead),
                                                           local_addr=("127.0.0.1", 0))
        try:
            server_port = transport.get_extra_info("sockname")[1]
            from agent.monitoring.doctor import sntp

            return await sntp.clock_offset("127.0.0.1", 2.0, lambda: NEW_YEAR_2031, port=server_port)
        finally:
            transport.close()

    offset = asyncio.run(ask())
    assert abs(offset - ahead) < 0.01
    assert offset_finding("ntp.entidad.example", offset).status == status
    unknown = asyncio.run(time_sync(_options()))[0]             # neither timedatectl nor --ntp: say so
    assert unknown.status == Status.WARN and "not installed" in unknown.message and "--ntp" in unknown.fix


def test_the_exit_code_is_2_on_a_fail_and_0_with_only_warnings(site):
    from agent.cli import app

    _private_state(site)
    config = site.write()
    runner = CliRunner()
    done = runner.invoke(app, ["doctor", "-c", str(config), "--no-devices"])
    assert done.exit_code == 0, done.output
    assert "FAIL" not in done.output.replace("0 FAIL", "") and " OK, " in done.output
    site.extra["mail"] = {"host": "127.0.0.1", "port": free_tcp_port(), "starttls": False}
    done = runner.invoke(app, ["doctor", "-c", str(config := site.write()), "--no-devices", "--problems"])
    assert done.exit_code == 2, done.output
    assert "does not answer" in done.output and "OK  " not in done.output
    assert all(len(line) <= 80 for line in done.output.splitlines())
    done = runner.invoke(app, ["doctor", "-c", str(config), "--no-devices", "--json"])
    answer = json.loads(done.output)
    assert done.exit_code == 2 and {"status", "check", "subject", "message", "fix"} <= set(answer[0])
    assert any(f["status"] == "FAIL" and f["check"] == "peer" for f in answer)
    broken = site.root / "broken.yaml"
    broken.write_text("store: {url: 'nosuch://x'}\n")
    done = runner.invoke(app, ["doctor", "-c", str(broken)])
    assert done.exit_code == 2 and "FAIL" in done.output and "store.url" in done.output


def test_worst_of_nothing_is_ok():
    assert worst([]) == Status.OK


def test_the_ports_a_running_oti_agent_holds_are_its_own(site, agentd):
    from agent.demo.simulator import free_udp_port

    _private_state(site)
    traps = free_udp_port()
    site.extra["traps"] = {"enabled": True, "listen": "127.0.0.1", "port": traps}
    config = site.write()
    daemon = agentd(config)
    findings = _examine(config, _options(devices=False))
    for subject in (f"http 127.0.0.1:{site.http_port}/tcp", f"traps 127.0.0.1:{traps}/udp"):
        held = _about(findings, "port", subject)
        assert held.status == Status.OK
        assert f"held by oti-agent itself (pid {daemon.proc.pid})" in held.message
