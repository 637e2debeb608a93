"""`oti-agent check` as a user runs it, and the package's public names."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from rich.console import Console

import agent
from tests.conftest import REPO

OTI = REPO / ".venv" / "bin" / "oti-agent"


def test_check_prints_readings_and_exit_code_says_critical(site, snmpsim):
    site.snmp_device("ups-ok", "ups", "ups-rfc1628", site.v2c("a", "ups-rfc1628"), snmpsim.port)
    site.snmp_device("ups-bat", "ups", "ups-rfc1628", site.v2c("b", "ups-onbattery"), snmpsim.port)
    site.group("power", ["snmp"])
    config = site.write()
    proc = subprocess.run([str(OTI), "check", "-c", str(config), "--json"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr                # the UPS on battery is CRITICAL
    results = {r["device"]: r for r in json.loads(proc.stdout)}
    assert results["ups-bat"]["state"] == "CRITICAL"
    source = [x for x in results["ups-bat"]["readings"] if x["name"] == "ups_output_source"][0]
    assert source["text"] == "battery"
    proc = subprocess.run([str(OTI), "check", "-c", str(config), "--device", "ups-ok"], capture_output=True,
                          text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ups_battery_runtime_seconds" in proc.stdout and "ups-bat" not in proc.stdout
    proc = subprocess.run([str(OTI), "check", "-c", str(config), "--device", "nope"], capture_output=True, text=True)
    assert proc.returncode == 1 and "unknown device 'nope'" in proc.stderr


def test_public_api_is_sorted_and_importable():
    assert agent.__all__ == sorted(agent.__all__)
    for name in agent.__all__:
        assert getattr(agent, name) is not None


def test_checks_lists_each_plugin_with_its_options_required_or_defaulted():
    proc = subprocess.run([str(OTI), "checks"], capture_output=True, text=True, env={"COLUMNS": "200",
                                                                                  "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "PydanticUndefined" not in proc.stdout
    assert "file (required): the CSV the console exports" in proc.stdout
    assert "connect_timeout (default 3.0)" in proc.stdout


def test_logs_follow_stderr_after_a_redirect_of_it_ends():
    """The CLI run twice in one process (a wrapper, a test runner) with stderr redirected each time: the
    second run's logs go to its own stderr, not to the first's closed stream ("--- Logging error ---")."""
    import contextlib
    import io
    import logging

    from agent import log

    first = io.StringIO()
    with contextlib.redirect_stderr(first):
        log.setup("INFO")
        logging.getLogger("agent.test").info("first run")
    first.close()
    second = io.StringIO()
    with contextlib.redirect_stderr(second):
        logging.getLogger("agent.test").info("second run")
    assert "Logging error" not in second.getvalue()
    assert second.getvalue().splitlines()[-1].endswith("INFO agent.test: second run")


def test_run_follow_draws_the_events_journalled_just_before_the_run_ended(monkeypatch):
    """`oti-agent run` following a run: an event journalled between its last read of the events and its
    read of the run's (now final) status is drawn all the same (the canary test once lost the failed mail
    step this way: the run ended 'failed' and its reason was never printed)."""
    import typer

    from agent.cli import runbooks

    class Daemon:                   # the daemon's answers in the order the race gives them
        def __init__(self):
            self.reads = 0

        def get(self, path, **params):
            if path.endswith("/events"):
                self.reads += 1
                if self.reads == 1:
                    return [{"id": 1, "event": "action_started", "step_id": "aviso", "target": "", "detail": ""}]
                if params["after"] == 1:
                    return [{"id": 2, "event": "action_failed", "step_id": "aviso", "target": "",
                             "detail": "login as agent refused"}]
                return []
            status = "running" if self.reads == 0 else "failed"
            return {"status": status, "message": "se detuvo", "steps": [
                {"id": "aviso", "activities": "4", "name": "Avisa a la jefa", "targets": 0, "status": "running"}]}

    printed = io.StringIO()
    monkeypatch.setattr(runbooks, "out", Console(file=printed, width=200))
    with pytest.raises(typer.Exit):
        runbooks._follow(Daemon(), "r1")
    assert "login as agent refused" in printed.getvalue()
