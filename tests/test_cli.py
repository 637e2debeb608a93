"""`oti-agent check` as a user runs it, and the package's public names."""

from __future__ import annotations

import json
import subprocess

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
