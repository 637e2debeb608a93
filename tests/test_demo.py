"""`make demo` as the README shows it: the daemon on a simulated datacenter, two demo people whose
passwords are printed once, and a shutdown's approvals given through the HTTP API."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx
import pytest

from tests.agentd import OTI
from tests.peers.common import free_tcp_port


@pytest.mark.timeout(180)
def test_the_demo_prints_two_people_and_their_approvals_go_through_the_api(tmp_path):
    port, workdir = free_tcp_port(), tmp_path / "demo"
    proc = subprocess.Popen([OTI, "demo", "--workdir", str(workdir), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    said, passwords = "", {}
    try:
        deadline = time.monotonic() + 90
        while len(passwords) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, said
            said += proc.stdout.readline()
            passwords = dict(re.findall(r"demo person (\w+) .*?: password (\S+)", said))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while "metrics at" not in said:
            assert time.monotonic() < deadline, said
            said += proc.stdout.readline()
        assert httpx.get(f"{base}/api/v1/runs").status_code == 401
        assert "oti_up" in httpx.get(f"{base}/metrics").text
        config = workdir / "config.yaml"
        started = subprocess.run([OTI, "run", "apagado-demo", "-c", str(config), "--detach"], capture_output=True,
                                 text=True, timeout=60)
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.split()[1]
        for login, step in (("mparedes", "aprobacion-jefa"), ("jsalas", "aprobacion-gg")):
            browser = httpx.Client(base_url=base, timeout=15)
            csrf = browser.post("/api/v1/login", json={"login": login, "password": passwords[login]}).json()["csrf"]
            deadline = time.monotonic() + 30
            while True:
                done = browser.post(f"/api/v1/runs/{run_id}/steps/{step}/approve",
                                    json={"approve": True, "comment": "conforme"}, headers={"X-CSRF-Token": csrf})
                if done.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)                        # the step is not waiting yet
            assert done.status_code == 200, done.text
        deadline = time.monotonic() + 30
        status = ""
        while "successful" not in status and time.monotonic() < deadline:
            status = subprocess.run([OTI, "run-status", run_id, "-c", str(config)], capture_output=True,
                                    text=True).stdout
            time.sleep(0.3)
        assert "successful" in status.splitlines()[0], status
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "demo stopped" in said + (proc.stdout.read() or "")
