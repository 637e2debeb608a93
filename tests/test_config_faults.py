"""Bad input, as a careless operator or an attacker writes it (issue 11: items 8, 13, 14, 15, 17, 21).

Every case is a small config (and inventory, profile...) run through the installed CLI in a child
process: `oti-agent config check` must exit 2, name the file, the line and the YAML key, say what is
wrong, never print a secret, and never show a traceback. The line expected is the one marked `# <-`.

A `strict` case is one that only `config check` (and `serve`) refuse: a secret that cannot be resolved
here and now (`load_all(strict=True)`); other commands resolve a secret only when they use it.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import textwrap
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO, dedent

OTI = REPO / ".venv" / "bin" / "oti-agent"
PYTHON = REPO / ".venv" / "bin" / "python"
MARK = "# <-"

INVENTORY = """
all:
  children:
    energia:
      hosts:
        ups-01:
          ansible_host: 127.0.0.1
          oti_kind: ups
          oti_snmp: {profile: ups-rfc1628, credential: lectura}
"""

CONFIG = """
inventory: inv.yaml
store: {url: "sqlite:///var/test.db"}
credentials:
  snmp:
    lectura: {version: v2c, community: "file:secrets/community"}
"""

GROUPS = """
check_groups:
  - name: energia
    interval: 60s
    timeout: 10s
    targets: {kinds: [ups]}
    checks: [{check: snmp}]
"""

WINDOWS_INVENTORY = INVENTORY + """\
    servidores:
      hosts:
        win-01:
          ansible_host: 127.0.0.1
          oti_kind: server_virtual
          oti_winrm:
            credential: dominio
            port: 5985
            scheme: http                # <-
"""

WINRM_BASIC = """
  winrm:
    dominio: {user: svc-oti, password: "file:secrets/winrm", transport: basic}
"""


def _bomb(levels: int, mark: int | None = None) -> str:
    """A billion-laughs document: each level is nine aliases of the one before (level `mark` marked)."""
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        rows.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" + (f"   {MARK}" if i == mark else ""))
    return "\n".join(rows) + "\n"


@dataclass
class Case:
    """One bad input: the files written (config.yaml and inv.yaml default to a valid pair) and what the
    check must say about it."""

    id: str
    files: dict[str, str]
    key: str                         # the YAML path named in the problem
    says: str                        # a piece of its message
    where: str = "config.yaml"       # the file the problem is in (its line: the one marked `# <-`)
    hidden: tuple[str, ...] = ()     # must appear nowhere in the output (secrets)
    strict: bool = False             # refused by `config check` only (see the module's docstring)


def cfg(*sections: str, groups: str = GROUPS) -> str:
    """The base config with more top-level sections and these check groups."""
    return CONFIG + "".join(dedent(s) for s in sections) + dedent(groups)


def inv(extra: str, at: int) -> str:
    """The base inventory with more lines, indented `at` columns (8: a host of group energia)."""
    return INVENTORY + textwrap.indent(textwrap.dedent(extra).lstrip("\n"), " " * at)


CASES = [
    # 8: a group whose timeout is not below its interval is polled late
    Case("group-timeout-not-below-interval", {"config.yaml": cfg(groups="""
        check_groups:
          - name: energia
            interval: 10s
            timeout: 30s                # <-
            checks: [{check: snmp}]
        """)}, "check_groups.0.timeout", "polled late", strict=True),
    Case("group-default-timeout-not-below-interval", {"config.yaml": cfg(groups="""
        check_groups:
          - name: energia
            interval: 5s                # <-
            checks: [{check: snmp}]
        """)}, "check_groups.0.interval", "timeout (10s", strict=True),
    Case("check-timeout-not-below-interval", {"config.yaml": cfg(groups="""
        check_groups:
          - name: energia
            interval: 60s
            checks:
              - check: snmp
                timeout: 2m             # <-
        """)}, "check_groups.0.checks.0.timeout", "polled late", strict=True),
    # 13: the Alertmanager's credentials are secret references, never part of its URL
    Case("alertmanager-userinfo-in-url", {"config.yaml": cfg("""
        alerts:
          alertmanager: "http://oti:hunter2-am@127.0.0.1:9093"   # <-
        """)}, "alerts.alertmanager", "alertmanager_auth", hidden=("hunter2-am",)),
    Case("alertmanager-literal-password", {"config.yaml": cfg("""
        alerts:
          alertmanager: "http://127.0.0.1:9093"
          alertmanager_auth:
            username: oti
            password: hunter2-literal   # <-
        """)}, "alerts.alertmanager_auth.password", "reference", hidden=("hunter2-literal",)),
    Case("alertmanager-basic-and-bearer", {"config.yaml": cfg("""
        alerts:
          alertmanager: "http://127.0.0.1:9093"
          alertmanager_auth:            # <-
            username: oti
            password: "${OTI_AM_PASSWORD}"
            bearer_token: "file:secrets/am.token"
        """)}, "alerts.alertmanager_auth", "either"),
    # 14: WinRM over http with Basic sends the password in clear
    Case("winrm-plain-http-basic", {"config.yaml": CONFIG + WINRM_BASIC + GROUPS,
                                    "inv.yaml": WINDOWS_INVENTORY},
         "all.children.servidores.hosts.win-01.oti_winrm.scheme", "in clear", where="inv.yaml"),
    # 15: what passed `config check` and failed at run time
    Case("unknown-timezone", {"config.yaml": cfg("""
        agent:
          timezone: America/Lma        # <-
        """)}, "agent.timezone", "time zone"),
    Case("listen-not-an-address", {"config.yaml": cfg("""
        http:
          listen: 999.1.1.1             # <-
        """)}, "http.listen", "not an IP address"),
    Case("store-unknown-dialect", {"config.yaml": cfg().replace('store: {url: "sqlite:///var/test.db"}',
                                                                'store: {url: "foo://bar"}   # <-')},
         "store.url", "sqlite, postgresql"),
    Case("store-unknown-driver", {"config.yaml": cfg().replace(
        'store: {url: "sqlite:///var/test.db"}',
        'store: {url: "postgresql+nosuchdriver://oti@127.0.0.1/oti"}  # <-')},
         "store.url", "nosuchdriver"),
    Case("store-password-in-url", {"config.yaml": cfg().replace(
        'store: {url: "sqlite:///var/test.db"}',
        'store: {url: "postgresql+psycopg://oti:hunter2-pg@db/oti"}  # <-')},
         "store.url", "PGPASSFILE", hidden=("hunter2-pg",)),
    Case("secret-env-unset", {"config.yaml": cfg().replace(
        '"file:secrets/community"}', '"${OTI_NO_SUCH_SECRET_11}"}   # <-')},
         "credentials.snmp.lectura.community", "OTI_NO_SUCH_SECRET_11 is not set", strict=True),
    Case("secret-file-missing", {"config.yaml": cfg("""
        mail:
          password: "file:secrets/smtp"   # <-
        """)}, "mail.password", "secret reference file:secrets/smtp: cannot read", strict=True),
    Case("secret-file-is-a-folder", {"config.yaml": cfg("""
        alerts:
          alertmanager: "http://127.0.0.1:9093"
          alertmanager_auth: {bearer_token: "file:secrets"}   # <-
        """)}, "alerts.alertmanager_auth.bearer_token", "Is a directory", strict=True),
    Case("secret-file-empty", {"config.yaml": cfg("""
        alerts:
          alertmanager: "http://127.0.0.1:9093"
          alertmanager_auth: {username: oti, password: "file:secrets/vacio"}   # <-
        """), "secrets/vacio": ""}, "alerts.alertmanager_auth.password", "empty", strict=True),
    Case("unknown-kind", {"config.yaml": cfg(groups="""
        check_groups:
          - name: energia
            targets: {kinds: [upss]}    # <-
            checks: [{check: snmp}]
        """)}, "check_groups.0.targets.kinds.0", "'ups'"),
    Case("unknown-inventory-group", {"config.yaml": cfg(groups="""
        check_groups:
          - name: energia
            targets: {groups: [enregia]}   # <-
            checks: [{check: snmp}]
        """)}, "check_groups.0.targets.groups", "enregia"),
    Case("threshold-for-a-reading-no-check-reads", {"inv.yaml": inv("""
        oti_thresholds:
          ups_bateria_carga_ratio: {direction: below, warning: 0.6}   # <-
        """, 10)}, "all.children.energia.hosts.ups-01.oti_thresholds.ups_bateria_carga_ratio",
         "ups_battery_charge_ratio", where="inv.yaml"),
    Case("duplicate-key-in-config", {"config.yaml": cfg("""
        http: {listen: 127.0.0.1}
        http: {listen: 0.0.0.0}         # <-
        """)}, "http", "duplicate key"),
    Case("duplicate-host-in-a-group", {"inv.yaml": inv("""
        ups-01:                         # <-
          oti_kind: ups
        """, 8)}, "all.children.energia.hosts.ups-01", "duplicate key", where="inv.yaml"),
    Case("duplicate-key-in-a-profile", {
        "config.yaml": cfg("profiles_dirs: [profiles]\n"),
        "profiles/mi-ups.yaml": """
            profile: mi-ups
            metrics:
              - name: ups_carga
                oid: 1.3.6.1.2.1.33.1.2.4.0
                unit: ratio
                unit: percent           # <-
            """}, "metrics.0.unit", "duplicate key", where="profiles/mi-ups.yaml"),
    Case("host-in-two-groups-with-conflicting-vars", {"inv.yaml": inv("""
          vars:
            oti_site: sede-central
        sala:
          vars:
            oti_site: sede-norte        # <-
          hosts:
            ups-01:
        """, 4)}, "all.children.sala.vars.oti_site", "ups-01", where="inv.yaml"),
    Case("host-vars-differ-between-groups", {"inv.yaml": inv("""
              oti_order: 1
        sala:
          hosts:
            ups-01:
              oti_order: 2              # <-
        """, 4)}, "all.children.sala.hosts.ups-01.oti_order", "energia", where="inv.yaml"),
    # 17: inventory shapes that crashed the loader
    Case("hosts-as-a-list", {"inv.yaml": """
        all:
          children:
            energia:
              hosts:                    # <-
                - ups-01
        """}, "all.children.energia.hosts", "mapping", where="inv.yaml"),
    Case("children-as-a-string", {"inv.yaml": """
        all:
          children: energia             # <-
        """}, "all.children", "mapping", where="inv.yaml"),
    Case("group-vars-as-a-list", {"inv.yaml": inv("""
        vars:                           # <-
          - oti_site
        """, 6)}, "all.children.energia.vars", "mapping", where="inv.yaml"),
    Case("host-vars-as-a-string", {"inv.yaml": inv("""
        ups-02: oti_kind=ups            # <-
        """, 8)}, "all.children.energia.hosts.ups-02", "mapping", where="inv.yaml"),
    Case("misspelt-group-key", {"inv.yaml": inv("""
        sala:
          hots:                         # <-
            ups-02: {oti_kind: ups}
        """, 4)}, "all.children.sala.hots", "hosts, vars, children", where="inv.yaml"),
    # 21: aliases that expand without end
    Case("alias-bomb", {"config.yaml": cfg("x-bomba:\n" + textwrap.indent(_bomb(7, mark=4), "  "))},
         "x-bomba.a4", "alias"),        # a4 is the first level past the limit (9**4 * 10 nodes)
    Case("recursive-alias", {"config.yaml": cfg("x-bucle: &bucle [*bucle]   # <-\n")}, "x-bucle", "itself"),
    # more of the same kind
    Case("date-out-of-range", {"config.yaml": cfg("""
        compliance:
          exceptions:
            - {host: ups-01, rule: updates, until: 2027-13-15, reason: r, granted_by: j}   # <-
        """)}, "compliance.exceptions.0.until", "2027-13-15"),
    Case("integer-tag-on-text", {"config.yaml": cfg("""
        scheduler:
          ssh_threads: !!int muchos     # <-
        """)}, "scheduler.ssh_threads", "muchos"),
    Case("not-yaml", {"config.yaml": cfg("agent: {name: [x}   # <-\n")}, "<root>", "not valid YAML"),
    Case("inventory-file-missing", {"config.yaml": cfg().replace("inventory: inv.yaml",
                                                                "inventory: no-existe.yaml   # <-")},
         "inventory", "cannot read"),
    Case("matrix-file-missing", {"config.yaml": cfg("""
        backups:
          matrix: matriz.yaml           # <-
        """)}, "backups.matrix", "cannot read"),
]


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    files = {"config.yaml": cfg(), "inv.yaml": INVENTORY, **files}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    (tmp_path / "secrets").mkdir(exist_ok=True)
    for name in ("community", "winrm", "am.token"):
        (tmp_path / "secrets" / name).write_text(f"valor-de-{name}\n")
    return tmp_path / "config.yaml"


def _marked_line(path: Path) -> int:
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if MARK in text]
    assert len(lines) == 1, f"{path} must mark one line with {MARK!r}"
    return lines[0]


def config_check(config: Path, timeout: float = 20, strict: bool = False) -> subprocess.CompletedProcess:
    cli = [str(OTI)]                # `config check` is strict: the flag says which cases need it
    return subprocess.run([*cli, "config", "check", "-c", str(config)], capture_output=True, text=True,
                          timeout=timeout, cwd=config.parent)


@pytest.mark.parametrize("strict", [False, True])
def test_the_base_files_are_valid(tmp_path, strict):
    done = config_check(_write(tmp_path, {}), strict=strict)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_located_error(case, tmp_path):
    config = _write(tmp_path, case.files)
    started = time.monotonic()
    done = config_check(config, strict=case.strict)
    elapsed = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    where = tmp_path / case.where
    located = f"{where}:{_marked_line(where)}: {case.key}"
    problem = [line for line in output.splitlines() if located in line]
    assert problem, f"no problem at {located!r} in:\n{output}"
    assert any(case.says in line for line in problem), output
    for secret in case.hidden:
        assert secret not in output
    assert elapsed < 10, f"config check took {elapsed:.1f}s"


# ----------------------------------------------------------------------------------------------- item 14
def test_winrm_plain_http_is_accepted_when_the_config_says_the_network_is_trusted(tmp_path):
    trusted = WINRM_BASIC.replace("transport: basic}", "transport: basic, allow_plain_http: true}")
    config = _write(tmp_path, {"config.yaml": CONFIG + trusted + GROUPS, "inv.yaml": WINDOWS_INVENTORY})
    done = config_check(config)
    assert done.returncode == 0, done.stdout + done.stderr


def test_winrm_refuses_plain_http_basic_at_run_time_before_sending_anything(tmp_path):
    """Defence in depth: a config that skipped `config check` still never sends the password in clear."""
    from agent.core import config as config_mod
    from agent.core import inventory as inventory_mod
    from agent.errors import ConfigError
    from agent.transports.winrm import run_ps

    seen = []

    class Listen(BaseHTTPRequestHandler):
        def do_POST(self):                               # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Listen)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        config = _write(tmp_path, {"config.yaml": CONFIG + WINRM_BASIC + GROUPS,
                                   "inv.yaml": WINDOWS_INVENTORY.replace("port: 5985", f"port: {port}")})
        cfg_ = config_mod.load(config)
        device = inventory_mod.load(tmp_path / "inv.yaml").by_name["win-01"]
        with pytest.raises(ConfigError) as err:
            run_ps(device, cfg_, "Get-Date", timeout=5)
        from agent.transports.context import ProbeContext
        from checks.win_updates import WinUpdatesCheck

        with pytest.raises(ConfigError) as err_updates:          # and the Windows Update search (ansible)
            WinUpdatesCheck()._search(device, ProbeContext(cfg_, None))
    finally:
        server.shutdown()
    for e in (err, err_updates):
        assert "in clear" in str(e.value) and "allow_plain_http" in str(e.value)
        assert "valor-de-winrm" not in str(e.value)
    assert seen == []                                    # nothing left for the wire


# ----------------------------------------------------------------------------------------------- item 15
def test_unresolvable_secret_references_are_located_and_never_shown(tmp_path, monkeypatch):
    from agent.core.settings import load_all
    from agent.errors import ConfigError

    monkeypatch.delenv("OTI_NO_SUCH_SECRET", raising=False)
    monkeypatch.setenv("OTI_SMTP_PASSWORD", "hunter2-smtp")
    more = textwrap.dedent("""
          ssh:
            monitoreo: {user: oti, key_file: k, known_hosts: kh, passphrase: "file:secrets/no-existe"}
          ipmi:
            bmc: {user: oti, password: "file:secrets"}
        mail:
          password: "${OTI_SMTP_PASSWORD}"
        """).lstrip("\n")
    config = _write(tmp_path, {"config.yaml": CONFIG.replace('"file:secrets/community"', '"${OTI_NO_SUCH_SECRET}"')
                               + more + GROUPS})
    load_all(config)                                     # the other commands resolve secrets when used
    with pytest.raises(ConfigError) as err:
        load_all(config, strict=True)
    text = str(err.value)
    assert f"{config}:5: credentials.snmp.lectura.community: secret reference ${{OTI_NO_SUCH_SECRET}}" in text
    assert "OTI_NO_SUCH_SECRET is not set" in text
    assert f"{config}:7: credentials.ssh.monitoreo.passphrase: secret reference file:secrets/no-existe" in text
    assert f"{config}:9: credentials.ipmi.bmc.password: secret reference file:secrets" in text
    assert "mail.password" not in text and "hunter2-smtp" not in text        # it resolves: fine, and unseen
    assert len(err.value.problems) == 3


def test_the_installed_config_check_is_strict(tmp_path):
    config = _write(tmp_path, {"config.yaml": cfg().replace('"file:secrets/community"', '"file:secrets/no-existe"')})
    done = config_check(config)
    assert done.returncode == 2 and f"{config}:5: credentials.snmp.lectura.community" in done.stderr


def test_the_host_readings_a_device_may_override_are_those_the_host_probes_judge():
    """settings.py knows the host readings by name (agent/ cannot import checks/): keep them equal."""
    from agent.core.settings_rules import HOST_READINGS
    from checks.hostmetrics import HostOptions, HostStats, host_readings

    class Spy(dict):
        def get(self, key, default=None):
            asked.add(key)
            return default

    asked: set[str] = set()
    stats = HostStats(filesystems={"/": (100.0, 50.0)}, memory_total=10.0, memory_available=5.0, load1=1.0, cpus=2)
    host_readings(stats, HostOptions(), Spy(), {})
    assert asked == set(HOST_READINGS)


def test_shipped_yaml_files_have_no_duplicate_keys_or_alias_bombs():
    from agent.core.yamlfile import load_with_lines

    shipped = [REPO / "config.example.yaml", *REPO.glob("inventory/*.yaml"), *REPO.glob("runbooks/*.yaml"),
               *REPO.glob("checks/profiles/*.yaml"), *REPO.glob("agent/documents/forms/*.yaml")]
    assert len(shipped) > 15
    for path in shipped:
        load_with_lines(path)


def test_duplicate_keys_are_refused_in_every_yaml_file_the_agent_reads(tmp_path):
    """Runbooks, forms and profiles use the same loader as the config: a repeated key is an error there too."""
    from agent.errors import ConfigError
    from agent.runbook.model import load as load_runbook

    runbook = tmp_path / "rb.yaml"
    runbook.write_text("title: a\ntitle: b\nprocedure: x\nsteps: []\n")
    with pytest.raises(ConfigError) as err:
        load_runbook(runbook)
    assert f"{runbook}:2: title: duplicate key 'title' (also at line 1)" in str(err.value)


@pytest.mark.timeout(20)
def test_an_alias_bomb_is_refused_at_once_without_building_it(tmp_path):
    from agent.core.yamlfile import load_with_lines
    from agent.errors import ConfigError

    path = tmp_path / "bomba.yaml"
    path.write_text(_bomb(9))                            # 9**10 strings once expanded
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_with_lines(path)
    assert time.monotonic() - started < 2
    (problem,) = err.value.problems
    assert problem.file == str(path) and problem.line is not None and "alias" in problem.message


def test_deep_nesting_is_a_located_error(tmp_path):
    from agent.core.yamlfile import load_with_lines
    from agent.errors import ConfigError

    path = tmp_path / "hondo.yaml"
    path.write_text("a: " + "[" * 999 + "]" * 999 + "\n")        # within libyaml's own limit (1000)
    with pytest.raises(ConfigError) as err:
        load_with_lines(path)
    (problem,) = err.value.problems
    assert problem.line == 1 and "nested deeper than" in problem.message


# ----------------------------------------------------------------------------------------------- item 13
class _Alertmanager(BaseHTTPRequestHandler):
    """Answers the v2 alerts API only with the right credentials (basic oti:pw-am, or bearer tok-am), else 401."""

    received: list = []

    def do_POST(self):                                   # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization", "")
        good = (auth == "Basic " + base64.b64encode(b"oti:pw-am").decode()) or auth == "Bearer tok-am"
        if good:
            type(self).received.append(body)
        self.send_response(200 if good else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def alertmanager_stub():
    _Alertmanager.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Alertmanager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _alerts_section(tmp_path: Path, auth: str) -> object:
    from agent.core import config as config_mod

    config = _write(tmp_path, {"config.yaml": cfg("alerts:\n  alertmanager: http://127.0.0.1:9\n" + auth)})
    return config_mod.load(config)


def test_alertmanager_push_with_basic_auth_and_bearer_from_secret_references(alertmanager_stub, tmp_path,
                                                                             monkeypatch, caplog):
    from agent.notify import alertmanager

    port = alertmanager_stub
    url = f"http://127.0.0.1:{port}"
    alert = [{"labels": {"alertname": "prueba"}}]
    monkeypatch.setenv("OTI_AM_PASSWORD", "pw-am")
    basic = _alerts_section(tmp_path, '  alertmanager_auth: {username: oti, password: "${OTI_AM_PASSWORD}"}\n')
    bearer = _alerts_section(tmp_path, '  alertmanager_auth: {bearer_token: "file:secrets/am.token"}\n')
    (tmp_path / "secrets" / "am.token").write_text("tok-am\n")
    caplog.set_level(logging.WARNING)
    assert alertmanager.push(url, alert) == 0                                  # 401 without credentials
    assert alertmanager.push(url, alert, auth=basic.alerts.alertmanager_auth, base_dir=basic.base_dir) == 1
    assert alertmanager.push(url, alert, auth=bearer.alerts.alertmanager_auth, base_dir=bearer.base_dir) == 1
    assert len(_Alertmanager.received) == 2
    # a URL given with userinfo (refused by the config; still never logged) and a secret that is not there
    assert alertmanager.push(f"http://intruso:pw-url@127.0.0.1:{port}", alert) == 0
    monkeypatch.delenv("OTI_AM_PASSWORD")
    assert alertmanager.push(url, alert, auth=basic.alerts.alertmanager_auth, base_dir=basic.base_dir) == 0
    logged = caplog.text
    assert "401" in logged and "OTI_AM_PASSWORD" in logged
    assert "pw-am" not in logged and "tok-am" not in logged and "pw-url" not in logged and "intruso" not in logged


def test_userinfo_is_stripped_from_every_url_in_a_text():
    from agent.core.secrets import without_userinfo

    assert without_userinfo("http://oti:pw@am:9093/api") == "http://am:9093/api"
    assert without_userinfo("error for url 'https://u@h/x' and postgresql+psycopg://a:b@db/oti") == \
        "error for url 'https://h/x' and postgresql+psycopg://db/oti"
    assert without_userinfo("mailto:someone@example.org http://h/a@b") == "mailto:someone@example.org http://h/a@b"


def test_alerts_reach_a_real_alertmanager_that_asks_for_basic_auth(tmp_path, monkeypatch):
    """Debian's prometheus-alertmanager with a web config (bcrypt basic-auth users): the real peer."""
    import json
    import urllib.request

    import bcrypt

    from agent.notify import alertmanager
    from tests.peers.common import free_tcp_port, stop

    root = tmp_path / "am"
    root.mkdir()
    (root / "alertmanager.yml").write_text("route:\n  receiver: oficina\nreceivers:\n  - name: oficina\n")
    hashed = bcrypt.hashpw(b"pw-am", bcrypt.gensalt(rounds=4)).decode()
    (root / "web.yml").write_text(f"basic_auth_users:\n  oti: {hashed}\n")
    port = free_tcp_port()
    proc = subprocess.Popen(["prometheus-alertmanager", f"--config.file={root / 'alertmanager.yml'}",
                             f"--web.config.file={root / 'web.yml'}", f"--storage.path={root / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    login = {"Authorization": "Basic " + base64.b64encode(b"oti:pw-am").decode()}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(url + "/-/ready", headers=login), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "alertmanager did not start"
                time.sleep(0.1)
        monkeypatch.setenv("OTI_AM_PASSWORD", "pw-am")
        section = _alerts_section(tmp_path, '  alertmanager_auth: {username: oti, password: "${OTI_AM_PASSWORD}"}\n')
        alert = [{"labels": {"alertname": "ups_output_source", "device": "ups-01"}}]
        assert alertmanager.push(url, alert) == 0                                  # the peer says 401
        assert alertmanager.push(url, alert, auth=section.alerts.alertmanager_auth, base_dir=section.base_dir) == 1
        with urllib.request.urlopen(urllib.request.Request(url + "/api/v2/alerts", headers=login), timeout=5) as r:
            got = json.loads(r.read())
        assert [a["labels"]["device"] for a in got] == ["ups-01"]
    finally:
        stop(proc)


def test_problems_of_every_file_are_listed_together(tmp_path):
    """A repeated key, a bad value, and an inventory of the wrong shape: one run of `config check` tells all."""
    config = _write(tmp_path, {"config.yaml": cfg("""
        agent: {name: uno}
        agent: {timezone: Mars/Olympus}
        """), "inv.yaml": "all:\n  children: energia\n"})
    done = config_check(config)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert f"{config}:7: agent: duplicate key 'agent' (also at line 6)" in done.stderr
    assert f"{config}:7: agent.timezone: unknown time zone 'Mars/Olympus'" in done.stderr
    assert f"{tmp_path / 'inv.yaml'}:2: all.children: children of group 'all' must be a mapping" in done.stderr
    assert "3 problem(s) found" in done.stderr
