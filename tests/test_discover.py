"""`oti-agent discover HOST` against real agents (snmpsim): what the device is, which profiles answer and why,
the inventory entry to paste; a device that does not answer is one line naming it."""

from __future__ import annotations

import os
import subprocess

from tests.agentd import OTI


def _discover(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OTI, "discover", *args, "-c", str(config)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "80"})


def test_discover_names_the_profiles_that_answer_and_prints_an_inventory_entry(site, snmpsim):
    site.v2c("lectura", "liebert-crac")
    site.hosts["otro"] = {"ansible_host": "127.0.0.2", "oti_kind": "server_virtual"}
    config = site.write()
    done = _discover(config, "127.0.0.1", "--port", str(snmpsim.port), "--credential", "lectura")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    flat = "".join(out.replace("│", " ").split())                     # the table folds at 80 columns
    assert "sysObjectID 1.3.6.1.4.1.476.1.42" in out                 # what the demo's Liebert CRAC says it is
    assert "liebert-gp" in out and "isunder1.3.6.1.4.1.476.1.42" in flat
    assert "oti_kind: ac" in out and f"oti_snmp: {{credential: lectura, port: {snmpsim.port}}}" in out
    assert "Traceback" not in done.stderr
    assert all(len(line) <= 80 for line in out.splitlines()), "folds to 80 columns"


def test_discover_of_a_device_that_does_not_answer_says_so_in_one_line(site, snmpsim):
    site.v2c("mala", "no-such-community")                            # snmpsim drops it: silence
    site.hosts["otro"] = {"ansible_host": "127.0.0.2", "oti_kind": "server_virtual"}
    config = site.write()
    done = _discover(config, "127.0.0.1", "--port", str(snmpsim.port), "--credential", "mala")
    assert done.returncode == 1 and "no answer" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "no-such-community" not in done.stdout + done.stderr
    unknown = _discover(config, "127.0.0.1", "--port", str(snmpsim.port), "--credential", "nadie")
    assert unknown.returncode == 1 and "credential 'nadie'" in unknown.stderr
