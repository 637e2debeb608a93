"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback, clustering off."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from tests.peers.common import free_tcp_port, stop

CONFIG = """route:
  receiver: oficina
  group_wait: 1s
receivers:
  - name: oficina
"""


def start_alertmanager(root: Path) -> tuple[subprocess.Popen, int]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "alertmanager.yml").write_text(CONFIG)
    port = free_tcp_port()
    log = root / "alertmanager.log"
    proc = subprocess.Popen(["prometheus-alertmanager", f"--config.file={root / 'alertmanager.yml'}",
                             f"--storage.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"alertmanager exited {proc.returncode}: {log.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"alertmanager not ready on 127.0.0.1:{port}: {log.read_text()[-1500:]}")


def alerts(port: int) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts?active=true&silenced=true&inhibited=true",
                                timeout=5) as resp:
        return json.loads(resp.read())


def clock(port: int) -> datetime:
    """Alertmanager's own clock (when it started): a Go program keeps the real time under faketime, so a
    test aligns the alerts' clock with it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/status", timeout=5) as resp:
        return datetime.fromisoformat(json.loads(resp.read())["uptime"].replace("Z", "+00:00"))
