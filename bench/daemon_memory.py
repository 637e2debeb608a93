#!/usr/bin/env python3
"""The daemon's memory at scale: `oti-agent serve` polling N devices every minute, beside
prometheus-snmp-exporter scraped for the same N targets every minute, both sampled over time.

The devices are net-snmp's snmpd on N UDP ports inside a network namespace this script creates (as
bench/snmp_poll.py does): half UPS (UPS-MIB values set by `override`), half 24-port switches. The daemon
runs with its real store (SQLite), /metrics scraped every 15 s, and no profile named in the inventory
(detection included). RSS is sampled every 10 s; the slope over the second half says whether it is flat.

usage: .venv/bin/python bench/daemon_memory.py [--n 1000] [--minutes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.snmp_poll import (  # noqa: E402
    BASE_PORT,
    COMMUNITY,
    EXPORTER,
    _http_get,
    exporter_config,
    kind_of,
    make_namespace,
    sh,
    start_snmpd,
    teardown,
)

OTI = str(REPO / ".venv" / "bin" / "oti-agent")


def write_site(workdir: Path, n: int, http_port: int) -> Path:
    hosts = []
    for i in range(n):
        kind, _profile = kind_of(i)
        hosts.append(f"        dev-{i:05d}:\n          ansible_host: 127.0.0.1\n          oti_kind: {kind}\n"
                     f"          oti_snmp: {{credential: bench, port: {BASE_PORT + i}, timeout: 5, retries: 1}}\n")
    (workdir / "inventory.yaml").write_text("all:\n  children:\n    bench:\n      hosts:\n" + "".join(hosts))
    (workdir / "community").write_text(COMMUNITY + "\n")
    (workdir / "community").chmod(0o600)
    config = workdir / "config.yaml"
    config.write_text(f"""agent: {{name: bench}}
store: {{url: "sqlite:///var/bench.db"}}
http: {{listen: 127.0.0.1, port: {http_port}, socket: null}}
inventory: inventory.yaml
credentials:
  snmp:
    bench: {{version: v2c, community: "file:community"}}
check_groups:
  - name: todo
    interval: 60s
    timeout: 50s
    targets: {{kinds: [ups, switch]}}
    checks: [{{check: snmp}}]
""")
    return config


def rss_mb(pid: int) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return float("nan")


async def scrape_exporter(n: int, port: int) -> None:
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        module = "ups" if kind_of(i)[0] == "ups" else "switch"
        async with sem:
            await _http_get("127.0.0.1", port, f"/snmp?target=127.0.0.1:{BASE_PORT + i}&module={module}")

    await asyncio.gather(*(one(i) for i in range(n)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=5.0)
    args = ap.parse_args()
    ns = f"oti-mem-{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="oti-bench-mem-"))
    (workdir / "var").mkdir()
    procs: list[subprocess.Popen] = []
    try:
        make_namespace(ns, 24)
        procs.append(start_snmpd(ns, args.n, workdir))
        exporter_config(workdir / "snmp.yml")
        exporter_port, http_port = 29117, 29878
        exporter = subprocess.Popen(["ip", "netns", "exec", ns, EXPORTER, f"--config.file={workdir / 'snmp.yml'}",
                                     f"--web.listen-address=127.0.0.1:{exporter_port}", "--log.level=error"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(exporter)
        config = write_site(workdir, args.n, http_port)
        log = open(workdir / "serve.log", "w")
        daemon = subprocess.Popen(["ip", "netns", "exec", ns, OTI, "serve", "-c", str(config)], stdout=log,
                                  stderr=log)
        procs.append(daemon)
        time.sleep(3)
        agent_pid, exp_pid = daemon.pid, exporter.pid          # `ip netns exec` execs the command in place
        samples, t0, next_scrape, next_exporter = [], time.monotonic(), 0.0, 0.0
        while time.monotonic() - t0 < args.minutes * 60:
            now = time.monotonic() - t0
            if now >= next_exporter:
                sh("ip", "netns", "exec", ns, sys.executable, "-c",
                   f"import asyncio,sys; sys.path.insert(0,{str(REPO)!r}); from bench.daemon_memory import "
                   f"scrape_exporter; asyncio.run(scrape_exporter({args.n}, {exporter_port}))", check=False)
                next_exporter += 60
            if now >= next_scrape:
                scrape = ["ip", "netns", "exec", ns, sys.executable, "-c",
                          f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{http_port}/metrics', "
                          "timeout=10).read()"]
                subprocess.run(scrape, check=False, capture_output=True)
                next_scrape += 15
            samples.append((now, rss_mb(agent_pid), rss_mb(exp_pid)))
            print(f"  t={now:6.0f}s  oti-agent RSS {samples[-1][1]:7.1f} MB   exporter RSS {samples[-1][2]:6.1f} MB",
                  file=sys.stderr)
            time.sleep(10)
        half = [s for s in samples if s[0] >= samples[-1][0] / 2]
        slope = (half[-1][1] - half[0][1]) / max((half[-1][0] - half[0][0]) / 3600, 1e-9) if len(half) > 1 else 0
        peak = max(s[1] for s in samples)
        exp_peak = max(s[2] for s in samples)
        print(f"\n{args.n} devices, {args.minutes:g} min: oti-agent RSS peak {peak:.0f} MB (goal <= 150), end "
              f"{samples[-1][1]:.0f} MB, slope over the second half {slope:+.0f} MB/h; prometheus-snmp-exporter "
              f"peak {exp_peak:.0f} MB; ratio {peak / max(exp_peak, 1e-9):.1f}")
    finally:
        teardown(procs, ns)


if __name__ == "__main__":
    main()
