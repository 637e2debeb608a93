"""tcp, http and local_host checks against real listeners on loopback."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.core.results import State
from agent.core.settings import load_all
from agent.monitoring.once import run_once
from tests.peers.common import free_tcp_port


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()
        self.wfile.write(b"hola")

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_tcp_http_and_local_host(site, sshd, web):
    closed = free_tcp_port()
    site.hosts["portal"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_virtual",
                            "oti_tcp_ports": [sshd.port, closed],
                            "oti_urls": [f"http://127.0.0.1:{web}/ok", f"http://127.0.0.1:{web}/broken"]}
    site.hosts["agente"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_virtual"}
    site.group("servicios", ["tcp", "http"], names=["portal"])
    site.group("local", ["local_host"], names=["agente"])
    results = asyncio.run(run_once(load_all(site.write())))
    by = {(r.check, r.device): {x.key: x for x in r.readings} for r in results}
    tcp = by[("tcp", "portal")]
    assert tcp[f'service_tcp_up{{port="{sshd.port}"}}'].state == State.OK
    refused = tcp[f'service_tcp_up{{port="{closed}"}}']
    assert refused.state == State.CRITICAL and "rechazada" in refused.message
    http = by[("http", "portal")]
    assert http[f'service_http_up{{url="http://127.0.0.1:{web}/ok"}}'].state == State.OK
    broken = http[f'service_http_up{{url="http://127.0.0.1:{web}/broken"}}']
    assert broken.state == State.CRITICAL and "HTTP 503" in broken.message
    local = by[("local_host", "agente")]
    assert 0 < local['host_filesystem_used_ratio{mountpoint="/"}'].value < 1
    assert local["host_memory_total_bytes"].value > 0
