"""Config, inventory and profile validation: every problem named with its file, path and line."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.core.config import load
from agent.core.inventory import load as load_inventory
from agent.core.secrets import resolve
from agent.errors import ConfigError
from tests.conftest import REPO, dedent

runner = CliRunner()
OTI = REPO / ".venv" / "bin" / "oti-agent"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(dedent(text))
    return path


def test_example_config_is_valid(tmp_path, monkeypatch):
    """The example is valid; `config check` also resolves every secret it names, so it is checked where they
    exist: the example's references pointed at files and variables of this test."""
    text = (REPO / "config.example.yaml").read_text()
    for ref in sorted(set(re.findall(r"file:(/etc/oti-agent/[\w.-]+)", text))):
        secret = tmp_path / Path(ref).name
        secret.write_text("s3cret-de-prueba\n")
        text = text.replace(f"file:{ref}", f"file:{secret}")
    for name in sorted(set(re.findall(r"\$\{(\w+)\}", text))):
        monkeypatch.setenv(name, "s3cret-de-prueba")
    example = tmp_path / "config.example.yaml"
    example.write_text(text.replace("inventory: inventory/example.yaml", f"inventory: {REPO / 'inventory/example.yaml'}")
                       .replace("matrix: backups/matriz-activos.yaml", f"matrix: {REPO / 'backups/matriz-activos.yaml'}"))
    result = runner.invoke(app, ["config", "check", "-c", str(example)])
    assert result.exit_code == 0, result.output
    assert "20 devices" in result.output
    unresolved = runner.invoke(app, ["config", "check", "-c", str(REPO / "config.example.yaml")])
    assert unresolved.exit_code == 2 and "cannot read /etc/oti-agent/oracle.password" in unresolved.output


def test_unknown_key_names_file_path_and_line(tmp_path):
    cfg = _write(tmp_path, "config.yaml", """
        agent:
          name: x
        scheduler:
          max_concurency: 10
        check_groups:
          - name: g
            interval: soon
            checks:
              - check: snmp
                options: {bogus: 1}
              - check: no_such_check
        """)
    result = runner.invoke(app, ["config", "check", "-c", str(cfg)])
    assert result.exit_code == 2
    out = result.output
    assert f"{cfg}:4: scheduler.max_concurency: unknown key" in out
    assert f"{cfg}:7: check_groups.0.interval:" in out and "not a duration" in out
    assert f"{cfg}:10: check_groups.0.checks.0.options.bogus: unknown key" in out
    assert f"{cfg}:11: check_groups.0.checks.1.check: unknown check 'no_such_check'" in out
    known = out.split("known checks: ", 1)[1].split(" (is oti-agent")[0].split(", ")
    assert {"agent_present", "snmp", "ssh_host", "tcp", "backup_freshness", "wsus"} <= set(known) and known == sorted(known)


def test_secret_must_be_a_reference_and_is_never_shown(tmp_path, monkeypatch):
    cfg = _write(tmp_path, "config.yaml", """
        credentials:
          snmp:
            plain: {version: v2c, community: hunter2-literal}
        """)
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert "credentials.snmp.plain.community" in str(err.value)
    assert "hunter2-literal" not in str(err.value)
    monkeypatch.setenv("OTI_TEST_SECRET", "s3cr3t-value")
    secret = resolve("${OTI_TEST_SECRET}")
    assert secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)
    with pytest.raises(ConfigError, match="OTI_MISSING_VAR is not set"):
        resolve("${OTI_MISSING_VAR}")


def test_secrets_in_a_library_error_are_redacted_before_they_are_logged(monkeypatch, capsys):
    """Redaction is where a secret can travel (a library's error text, issue 11 item 19), not every line."""
    import logging

    from agent import log
    from agent.core.secrets import library_text

    monkeypatch.setenv("OTI_LEAK", "leaky-community-42")
    resolve("${OTI_LEAK}")
    log.setup("INFO")
    logging.getLogger("agent.test").error("device said: %s", library_text(OSError("leaky-community-42 rejected")))
    err = capsys.readouterr().err
    assert "leaky-community-42" not in err and "device said: ***" in err


def test_ansible_parses_the_example_inventory():
    out = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", str(REPO / "inventory/example.yaml"),
                          "--list"], capture_output=True, text=True, check=True, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    data = json.loads(out.stdout)
    hostvars = data["_meta"]["hostvars"]
    assert hostvars["ora-dg-01"]["oti_role"] == "standby"
    assert hostvars["ups-01"]["oti_kind"] == "ups"
    assert "ora-prod-01" in data["bases_de_datos"]["hosts"]
    ours = load_inventory(REPO / "inventory/example.yaml")
    assert set(hostvars) == set(ours.by_name)
    kinds = {d.kind for d in ours}
    assert {"ups", "ac", "switch", "server_physical", "server_virtual", "db", "storage", "backup",
            "tape_library", "pbx", "fire", "antiflood"} <= kinds
    assert len([d for d in ours if d.kind == "ac"]) == 2


def test_inventory_command_lists_by_kind_and_order():
    result = runner.invoke(app, ["inventory", "-i", str(REPO / "inventory/example.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    devices = json.loads(result.output)
    kinds = [d["kind"] for d in devices]
    assert kinds.index("ups") < kinds.index("ac") < kinds.index("switch") < kinds.index("db")
    dbs = [d["name"] for d in devices if d["kind"] == "db"]
    assert dbs == ["ora-prod-01", "ora-dg-01"]        # by oti_order


def test_bad_inventory_variable_names_host_and_line(tmp_path):
    inv = _write(tmp_path, "inv.yaml", """
        all:
          children:
            red:
              hosts:
                sw1:
                  oti_kind: swtich
                  oti_colour: blue
        """)
    with pytest.raises(ConfigError) as err:
        load_inventory(inv)
    text = str(err.value)
    assert f"{inv}:6: all.children.red.hosts.sw1.oti_kind:" in text
    assert f"{inv}:7: all.children.red.hosts.sw1.oti_colour: unknown key" in text


def test_malformed_oid_in_a_profile_names_file_metric_and_line(tmp_path):
    prof_dir = tmp_path / "profiles"
    prof_dir.mkdir()
    _write(prof_dir, "my-ups.yaml", """
        profile: my-ups
        metrics:
          - name: ups_ok
            oid: 1.3.6.1.2.1.33.1.2.1.0
          - name: ups_bad
            oid: 1.3.6.1.x.33
        """)
    cfg = _write(tmp_path, "config.yaml", f"""
        inventory: {REPO / 'inventory/example.yaml'}
        profiles_dirs: [profiles]
        """)
    result = runner.invoke(app, ["config", "check", "-c", str(cfg)])
    assert result.exit_code == 2
    assert f"{prof_dir / 'my-ups.yaml'}:6: metrics.1.oid:" in result.output
    assert "malformed OID '1.3.6.1.x.33'" in result.output


def test_cross_references_are_checked(tmp_path):
    inv = _write(tmp_path, "inv.yaml", """
        all:
          hosts:
            ups9:
              oti_kind: ups
              oti_snmp: {profile: no-such-profile, credential: nobody}
        """)
    cfg = _write(tmp_path, "config.yaml", f"""
        inventory: {inv}
        check_groups:
          - name: g
            targets: {{names: [ups9, ghost]}}
            checks: [{{check: snmp}}]
        """)
    result = runner.invoke(app, ["config", "check", "-c", str(cfg)])
    assert result.exit_code == 2
    assert f"{inv}:5: ups9.oti_snmp.profile: unknown profile 'no-such-profile'" in result.output
    assert "ups9.oti_snmp.credential: credential 'nobody'" in result.output
    assert "check_groups.0.targets.names: not in the inventory: ghost" in result.output


def test_installed_entry_point_reports_errors_and_exit_codes(tmp_path):
    bad = _write(tmp_path, "config.yaml", "agnet: {}\n")
    proc = subprocess.run([str(OTI), "config", "check", "-c", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "agnet: unknown key" in proc.stderr
    proc = subprocess.run([str(OTI), "check", "-c", str(tmp_path / "missing.yaml")], capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot read file" in proc.stderr
