"""Fixtures: real peers on loopback, and a helper that writes a config and inventory for a test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from tests.peers.common import stop
from tests.peers.prometheus import start_prometheus, stop_prometheus
from tests.peers.snmp import SIM_V3, SNMPD_COMMUNITY, SNMPD_V3, start_snmpd, start_snmpsim
from tests.peers.sshd import start_sshd, stop_sshd

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Record every program the session starts (see tests/peers/programs.py)."""
    import subprocess

    from tests.peers import programs

    original = subprocess.Popen.__init__

    def recording_init(self, args, *a, **kw):
        programs.record(args if not kw.get("shell") else ["sh"])
        original(self, args, *a, **kw)

    subprocess.Popen.__init__ = recording_init
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)   # aiosmtpd's per-connection chatter
    if hasattr(config, "workerinput"):
        # pytest-xdist's workers get COLUMNS=80, which Rich fixes at import: the CLI tests set their own width
        import os

        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Under pytest-xdist: gather what a worker started, so the controller checks the whole session."""
    from tests.peers import programs

    programs.merge(getattr(node, "workeroutput", {}).get("programs_started", []))


def pytest_sessionfinish(session, exitstatus):
    """Fail the session when it started a program tests/peers/programs.py does not declare."""
    import sys
    import tempfile

    from tests.peers import programs

    if hasattr(session.config, "workeroutput"):       # an xdist worker: the controller checks
        session.config.workeroutput["programs_started"] = programs.started()
        return
    roots = [REPO, Path(sys.prefix), Path(tempfile.gettempdir())]
    missing = programs.undeclared(roots)
    if missing:
        session.config.get_terminal_writer().line(
            "programs started by the tests but not declared in tests/peers/programs.py (so no test checks "
            "that the Makefile installs them): " + ", ".join(missing), red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory):
    """snmpsim serving demo/snmprec/* (v2c community = file name; v3 user simuser, context = file name)."""
    sim, peer = start_snmpsim(tmp_path_factory.mktemp("snmpsim"))
    yield peer
    sim.stop()


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory):
    """net-snmp snmpd with a v2c community and a v3 authPriv (SHA/AES) user."""
    proc, peer = start_snmpd(tmp_path_factory.mktemp("snmpd"))
    yield peer
    stop(proc)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """OpenSSH sshd on loopback with a login user and known_hosts."""
    peer = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield peer
    stop_sshd(peer)


@pytest.fixture
def prometheus_factory(tmp_path):
    """Start a Prometheus that scrapes a given port; stopped after the test."""
    started = []

    def factory(target_port: int):
        peer = start_prometheus(tmp_path / "prometheus", target_port)
        started.append(peer)
        return peer

    yield factory
    for peer in started:
        stop_prometheus(peer)


class Site:
    """Write a config and an inventory for one test, with secrets in files."""

    def __init__(self, root: Path):
        self.root = root
        self.hosts: dict[str, dict] = {}
        self.snmp_creds: dict[str, dict] = {}
        self.ssh_creds: dict[str, dict] = {}
        self.ipmi_creds: dict[str, dict] = {}
        self.other_creds: dict[str, dict[str, dict]] = {}    # transport -> name -> credential (nut...)
        self.groups: list[dict] = []
        self.http_port = 0
        self.extra: dict = {}          # more config sections (backups, mail...)

    def secret(self, name: str, value: str) -> str:
        path = self.root / "secrets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
        return f"file:secrets/{name}"

    def v2c(self, name: str, community: str) -> str:
        self.snmp_creds[name] = {"version": "v2c", "community": self.secret(name, community)}
        return name

    def v3(self, name: str, user: str, auth: str, priv: str, context: str = "") -> str:
        self.snmp_creds[name] = {"version": "v3", "user": user, "auth_key": self.secret(name + ".auth", auth),
                                 "priv_key": self.secret(name + ".priv", priv), "context": context}
        return name

    def snmp_device(self, name: str, kind: str, profile: str | list | None, cred: str, port: int, host="127.0.0.1",
                    snmp: dict | None = None, **extra):
        """An SNMP device; `profile` None: the agent detects its profiles."""
        access = {"profile": profile} if profile is not None else {}
        self.hosts[name] = {"ansible_host": host, "oti_kind": kind,
                            "oti_snmp": {**access, "credential": cred, "port": port, "timeout": 1, "retries": 0,
                                         **(snmp or {})}, **extra}

    def ssh_device(self, name: str, peer, known_hosts: Path | None = None, kind="server_virtual", **extra):
        cred = f"ssh-{name}"
        self.ssh_creds[cred] = {"user": peer.user, "key_file": str(peer.key_file),
                                "known_hosts": str(known_hosts or peer.known_hosts)}
        self.hosts[name] = {"ansible_host": "127.0.0.1", "oti_kind": kind,
                            "oti_ssh": {"credential": cred, "port": peer.port}, **extra}

    def group(self, name: str, checks: list, interval="10s", timeout="5s", **targets):
        self.groups.append({"name": name, "interval": interval, "timeout": timeout, "targets": targets,
                            "checks": [c if isinstance(c, dict) else {"check": c} for c in checks]})

    def write(self) -> Path:
        inventory = {"all": {"children": {"pruebas": {"hosts": self.hosts}}}}
        (self.root / "inventory.yaml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        from tests.agentd import PEOPLE

        config = {"agent": {"name": "test"}, "store": {"url": "sqlite:///var/test.db"},
                  "http": {"listen": "127.0.0.1", "port": self.http_port}, "inventory": "inventory.yaml",
                  "people": PEOPLE,                 # luis is root's person: the CLI acts as him
                  "credentials": {"snmp": self.snmp_creds, "ssh": self.ssh_creds,
                                  **({"ipmi": self.ipmi_creds} if self.ipmi_creds else {}), **self.other_creds},
                  "check_groups": self.groups,
                  **self.extra}
        path = self.root / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path


@pytest.fixture
def agentd():
    """Start the real daemon on a config (`agentd(config)`); every one started is stopped after the test."""
    from tests.agentd import AgentDaemon

    started = []

    def start(config: Path) -> AgentDaemon:
        daemon = AgentDaemon(config).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def site(tmp_path) -> Site:
    """An empty site (config + inventory) under the test's tmp folder."""
    return Site(tmp_path)


def dedent(text: str) -> str:
    """Dedent a YAML snippet for a test file."""
    return textwrap.dedent(text).lstrip()


__all__ = ["SIM_V3", "SNMPD_COMMUNITY", "SNMPD_V3", "Site", "dedent"]


@pytest.fixture(scope="session")
def datacenter():
    """The simulated datacenter: ipmi_sim BMCs, sshd hosts, fake power and Oracle commands."""
    from tests.peers.datacenter import start_datacenter

    dc = start_datacenter()
    yield dc
    dc.stop()


@pytest.fixture(scope="session")
def smtp():
    """A real SMTP server with STARTTLS and AUTH; yields (port, inbox)."""
    import os

    from tests.peers.smtp import start_smtp

    os.environ["OTI_SMTP_INSECURE"] = "1"      # its certificate is self-signed
    controller, port, inbox = start_smtp()
    yield port, inbox
    controller.stop()


@pytest.fixture
def bacula(tmp_path):
    """Start a real Bacula (dir, sd, fd; 8-tape virtual library) with the given jobs: bacula(jobs)."""
    from tests.peers.bacula import Bacula

    started = []

    def start(jobs: dict[str, list[Path]], **kw) -> Bacula:
        peer = Bacula(tmp_path / f"bacula{len(started)}", jobs, **kw)
        started.append(peer)
        return peer.start()

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def postgres():
    """A real PostgreSQL on loopback with an `alfresco` database (the Alfresco recovery's)."""
    from tests.peers.postgres import start_postgres

    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def slapd():
    """A real OpenLDAP slapd on loopback (ldap:// with StartTLS, ldaps://), the office's small directory."""
    from tests.peers.slapd import start_slapd

    peer = start_slapd()
    yield peer
    peer.stop()


@pytest.fixture
def browsers(tmp_path):
    """Chromium sessions for the console (`browsers(base_url)`: a new person's browser, empty profile);
    screenshots under <tmp>/capturas; every one is closed after the test."""
    from tests.browser import Browser

    opened = []

    def start(base_url: str, **kw) -> Browser:
        profile = tmp_path / f"chromium-{len(opened)}"
        profile.mkdir()
        browser = Browser(base_url, profile, tmp_path / "capturas", **kw)
        opened.append(browser)
        return browser

    yield start
    for browser in opened:
        browser.quit()
