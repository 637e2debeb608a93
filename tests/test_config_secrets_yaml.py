"""Config faults beyond the table of cases: WinRM over plain HTTP, unresolvable secrets never shown, the strict installed check, and YAML safety (duplicate keys, alias bombs, deep nesting) in every file the agent reads."""

from __future__ import annotations

import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import REPO
from tests.test_config_faults import (
    CONFIG,
    GROUPS,
    WINDOWS_INVENTORY,
    WINRM_BASIC,
    _bomb,
    _write,
    cfg,
    config_check,
)


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
