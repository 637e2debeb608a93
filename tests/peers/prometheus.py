"""A real Prometheus server scraping a target on loopback, queried through its HTTP API."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.peers.common import free_tcp_port, stop, wait_tcp


@dataclass
class PrometheusPeer:
    """A running Prometheus."""

    process: subprocess.Popen
    port: int

    def query(self, promql: str) -> list[dict]:
        """Run an instant query; return the result vector."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str, timeout: float = 60.0) -> list[dict]:
        """Poll a query until it returns samples (bounded); raise if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"Prometheus returned nothing for {promql!r} within {timeout:g}s")


def start_prometheus(workdir: Path, target_port: int, interval: str = "1s", timeout: str | None = None) -> PrometheusPeer:
    """Start Prometheus scraping 127.0.0.1:target_port every `interval` (bench/metrics.py: 15 s, timeout 10 s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config, log = workdir / "prometheus.yml", workdir / "prometheus.log"
    limit = f"\n  scrape_timeout: {timeout}" if timeout else ""
    config.write_text(f"""global:
  scrape_interval: {interval}
  evaluation_interval: 1s{limit}
scrape_configs:
  - job_name: oti-agent
    static_configs:
      - targets: ["127.0.0.1:{target_port}"]
""")
    port = free_tcp_port()
    proc = subprocess.Popen(["/usr/bin/prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True)
    wait_tcp(port, proc, "prometheus", log, timeout=60)
    _wait_ready(port, proc, log)
    return PrometheusPeer(proc, port)


def _wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Wait until /-/ready says 200: Prometheus answers 503 while it replays its WAL."""
    import urllib.error

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"prometheus on 127.0.0.1:{port} never became ready: {log.read_text()[-800:]}")


def stop_prometheus(peer: PrometheusPeer) -> None:
    """Stop Prometheus."""
    stop(peer.process)
