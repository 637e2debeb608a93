"""The systemd unit: systemd's own verifier accepts it, and it says what an administrator checks first
(who it runs as, which capability, what it may write, how it restarts, how it logs)."""

from __future__ import annotations

import configparser
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.peers.programs import path

UNIT = REPO / "packaging" / "systemd" / "oti-agent.service"
INSTALLED = "/opt/oti-agent/bin/oti-agent"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str                     # systemd's keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def _here(tmp_path: Path) -> Path:
    """The unit with its ExecStart pointing at this checkout's entry point (the verifier wants one)."""
    text = UNIT.read_text().replace(INSTALLED, str(Path(sys.executable).parent / "oti-agent"))
    unit = tmp_path / "oti-agent.service"
    unit.write_text(text)
    return unit


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path):
    done = subprocess.run([path("systemd-analyze"), "verify", str(_here(tmp_path))], capture_output=True,
                          text=True, timeout=60)
    said = [ln for ln in done.stderr.splitlines() if "oti-agent.service" in ln]
    assert done.returncode == 0 and not said, done.stderr


def test_its_exposure_as_systemd_scores_it_stays_low(tmp_path):
    # `systemd-analyze security` rates 0 (locked down) to 10 (everything open); a setting dropped by
    # mistake raises it
    done = subprocess.run([path("systemd-analyze"), "security", "--offline=yes", "--threshold=40",
                           str(_here(tmp_path))], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-600:] + done.stderr


def test_it_runs_unprivileged_with_only_the_capability_to_bind_low_ports():
    service = _unit()["Service"]
    assert service["User"] == "oti-agent" and service["Group"] == "oti-agent"
    assert service["AmbientCapabilities"].split() == ["CAP_NET_BIND_SERVICE"]
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_BIND_SERVICE"]
    assert service["NoNewPrivileges"] == "yes"


def test_it_writes_only_its_state_and_socket_folders_and_keeps_its_files_private():
    service = _unit()["Service"]
    assert service["ProtectSystem"] == "strict" and service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["StateDirectory"] == "oti-agent" and service["StateDirectoryMode"] == "0700"
    assert service["ReadWritePaths"].split() == ["/var/lib/oti-agent", "/run/oti-agent"]
    assert service["UMask"] == "0077"


def test_it_restarts_on_failure_and_logs_json_to_the_journal():
    unit = _unit()
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and service["RestartSec"] == "10s"
    assert int(unit["Unit"]["StartLimitBurst"]) >= 3
    assert service["ExecStart"].split() == [INSTALLED, "serve", "-c", "/etc/oti-agent/config.yaml",
                                            "--log-json"]
    assert service["StandardError"] == "journal"
    sysusers = (UNIT.parent / "oti-agent.sysusers").read_text()
    assert "u oti-agent - " in sysusers and "/usr/sbin/nologin" in sysusers


def test_a_json_log_line_has_level_logger_message_and_the_exception_and_no_secret(monkeypatch):
    from agent import log
    from agent.core.secrets import library_text, resolve

    monkeypatch.setenv("OTI_TEST_SMTP_PASSWORD", "s3cret-of-the-mail")
    secret = resolve("${OTI_TEST_SMTP_PASSWORD}").get_secret_value()
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        log.setup("INFO", as_json=True)
        try:
            raise ValueError("bad answer from ups1")
        except ValueError:
            logging.getLogger("agent.monitoring.runner").exception("probe %s failed", "nut")
        logging.getLogger("agent.notify.mail").warning("smtp: %s", library_text(f"535 auth {secret} refused"))
        logging.getLogger("agent.daemon").info("two\nlines")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3                       # one object per line, a newline in a message escaped
    first, mail, last = (json.loads(ln) for ln in lines)
    assert first["level"] == "ERROR" and first["logger"] == "agent.monitoring.runner"
    assert first["message"] == "probe nut failed" and "ValueError: bad answer from ups1" in first["exception"]
    assert mail["level"] == "WARNING" and secret not in stream.getvalue() and "*****" in mail["message"]
    assert last["message"] == "two\nlines"


@pytest.mark.parametrize("target", ["install-service"])
def test_make_test_never_installs_the_service(target):
    makefile = (REPO / "Makefile").read_text()
    assert f"\n{target}:" in makefile
    test_rule = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert target not in test_rule
