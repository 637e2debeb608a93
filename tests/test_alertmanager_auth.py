"""Pushing alerts to Alertmanager with Basic or bearer authentication from secret references (a stub and a real Alertmanager), URLs without userinfo, and every file's problems listed together."""

from __future__ import annotations

import base64
import logging
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.test_config_faults import _write, cfg, config_check


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
