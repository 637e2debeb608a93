"""Bad input, as a careless operator or an attacker writes it (issue 11: items 8, 13, 14, 15, 17, 21).

Every case is a small config (and inventory, profile...) run through the installed CLI in a child
process: `oti-agent config check` must exit 2, name the file, the line and the YAML key, say what is
wrong, never print a secret, and never show a traceback. The line expected is the one marked `# <-`.

A `strict` case is one that only `config check` (and `serve`) refuse: a secret that cannot be resolved
here and now (`load_all(strict=True)`); other commands resolve a secret only when they use it.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from dataclasses import dataclass
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
