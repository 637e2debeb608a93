#!/usr/bin/env python3
"""/metrics at scale: oti-agent's exposition against its peers, side by side, on real devices' readings.

Readings come from real walks read offline through the snmp check (a Cisco 2960X, the demo's 24-port switch,
an RFC 1628 UPS, a Liebert CRAC), copied to N devices. For each size it prints:

- the scrape: oti-agent's exposition (results rendered when they arrive, joined at the scrape) against
  prometheus_client's generate_latest over the same readings the way the agent did before (every reading
  and its state as samples, formatted during the scrape) — seconds per scrape and the ratio;
- the series per device, against prometheus-snmp-exporter scraping the same walks (served by snmpsim)
  with modules for the same profiles;
- the memory the rendered snapshot holds (tracemalloc) per device;
- with --prometheus: a real Prometheus scraping a server that re-renders every device each poll interval in
  the same interpreter (as the daemon's polls do), default 10 s timeout: scrapes kept / scrapes tried.

usage: .venv/bin/python bench/metrics.py [--sizes 100,1000,2000] [--prometheus 2000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.core.inventory import Inventory, device_model  # noqa: E402
from agent.core.results import CheckResult  # noqa: E402
from agent.demo import simulator  # noqa: E402
from agent.monitoring.snapshot import Snapshot  # noqa: E402
from tests.peers.common import free_tcp_port, stop  # noqa: E402
from tests.tools.snmprec_read import read  # noqa: E402

SHARED = REPO / "tests" / "fixtures" / "recordings" / "snmprec"
WALKS = [  # (recording, kind, exporter module, snmpsim community)
    (SHARED / "switch" / "ios_2960x.snmprec", "switch", "switch", "ios_2960x"),
    (simulator.RECORDINGS / "switch24.snmprec", "switch", "switch", "switch24"),
    (simulator.RECORDINGS / "ups-rfc1628.snmprec", "ups", "ups", "ups-rfc1628"),
    (simulator.RECORDINGS / "liebert-crac.snmprec", "ac", "ac", "liebert-crac"),
]
EXPORTER = "/usr/bin/prometheus-snmp-exporter"


def base_results() -> list[tuple[str, CheckResult, list[str]]]:
    """(kind, result, profiles) of one device per walk, read offline through the check."""
    out = []
    for path, kind, _module, _community in WALKS:
        matches, raw, readings = asyncio.run(read(path, []))
        res = CheckResult("snmp", path.stem, datetime.now(UTC), 0.05, readings)
        out.append((kind, res, [m.profile.profile for m in matches]))
    return out


def fleet(n: int, bases) -> tuple[Inventory, list[CheckResult]]:
    devices, results = [], []
    model = device_model()
    for i in range(n):
        kind, res, _ = bases[i % len(bases)]
        name = f"dev-{i:05d}"
        devices.append(model.model_validate({"name": name, "address": "127.0.0.1", "oti_kind": kind}))
        results.append(replace(res, device=name))
    return Inventory(devices), results


def old_exposition(inventory: Inventory, results: list[CheckResult]) -> bytes:
    """The agent's previous /metrics: prometheus_client formatting every reading and its state at the scrape."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.samples import Sample

    class Old:
        def collect(self):
            families, devs = {}, inventory.by_name
            state = GaugeMetricFamily("oti_reading_state", "state", labels=None)
            for res in results:
                d = devs[res.device]
                base = {"device": res.device, "kind": d.kind, "site": d.site}
                for r in res.readings:
                    labels = base | dict(r.labels)
                    state.samples.append(Sample("oti_reading_state", labels | {"reading": r.name}, float(r.state),
                                                None, None))
                    if r.value is None or r.kind in ("info", "derived"):
                        continue
                    name = "oti_" + r.name.removesuffix("_total")
                    if name not in families:
                        cls = CounterMetricFamily if r.kind == "counter" else GaugeMetricFamily
                        families[name] = cls(name, r.help or name, labels=None)
                    fam = families[name]
                    sample = fam.name + "_total" if r.kind == "counter" else fam.name
                    fam.samples.append(Sample(sample, labels, r.value, None, None))
            yield state
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Old())
    return generate_latest(registry)


def series(text: bytes | str) -> int:
    body = text.decode() if isinstance(text, bytes) else text
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


def scrape_sizes(sizes: list[int], bases) -> list[dict]:
    rows = []
    for n in sizes:
        inventory, results = fleet(n, bases)
        gc.collect()
        snapshot = Snapshot(inventory)
        t0 = time.process_time()
        snapshot.update(results)
        render_s = time.process_time() - t0
        del snapshot
        gc.collect()
        tracemalloc.start()
        snapshot = Snapshot(inventory)
        snapshot.update(results)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        t0 = time.perf_counter()
        ours = snapshot.exposition()
        ours_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        old = old_exposition(inventory, results)
        old_s = time.perf_counter() - t0
        rows.append({"n": n, "series": series(ours), "old_series": series(old), "ours_s": ours_s, "old_s": old_s,
                     "render_s": render_s, "mb": len(ours) / 2**20, "held_kb_per_device": held / n / 1024})
        del snapshot, results, inventory, ours, old
    return rows


def exporter_series(bases) -> dict[str, tuple[int, int]]:
    """Series per device: ours (one device's /metrics lines) and prometheus-snmp-exporter's on the same walk."""
    from bench.snmp_poll import exporter_modules

    work = Path(tempfile.mkdtemp(prefix="oti-bench-metrics-"))
    simulator.prepare_data(work, {c: p for p, _k, _m, c in WALKS})
    port = simulator.free_udp_port()
    sim = simulator.start(work, [("127.0.0.1", port)], ready_community="ups-rfc1628")
    config = work / "snmp.yml"
    config.write_text(exporter_modules({c: (m, profiles) for (_p, _k, m, c), (_kind, _r, profiles)
                                        in zip(WALKS, bases, strict=True)}))
    http = free_tcp_port()
    exporter = subprocess.Popen([EXPORTER, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{http}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out = {}
    try:
        time.sleep(1.0)
        for (_path, kind, _module, community), (_k, res, _profiles) in zip(WALKS, bases, strict=True):
            url = f"http://127.0.0.1:{http}/snmp?target=127.0.0.1:{port}&module={community}"
            for _ in range(50):
                try:
                    with urllib.request.urlopen(url, timeout=30) as resp:
                        text = resp.read().decode()
                    break
                except OSError:
                    time.sleep(0.2)
            inventory = Inventory([device_model().model_validate({"name": res.device, "address": "127.0.0.1",
                                                                   "oti_kind": kind})])
            snap = Snapshot(inventory)
            snap.update([res])
            out[community] = (series(snap.exposition()), series(text))
    finally:
        stop(exporter)
        sim.stop()
    return out


def prometheus_keeps(n: int, bases, seconds: float) -> dict:
    """A real Prometheus scraping every 15 s (timeout 10 s) while every device is re-rendered each 60 s poll
    round, spread over the round as the daemon's results arrive."""

    from tests.peers.prometheus import start_prometheus

    inventory, results = fleet(n, bases)
    snapshot = Snapshot(inventory)
    snapshot.update(results)
    stop_polls = threading.Event()

    def polls():                     # the poller's share of the interpreter: re-render every device per round
        while not stop_polls.is_set():
            t0 = time.monotonic()
            for i in range(0, n, 50):
                snapshot.update(results[i:i + 50])
                if stop_polls.wait(max(0.0, 60.0 * 50 / n - 0.001)):
                    return
            stop_polls.wait(max(0.0, 60 - (time.monotonic() - t0)))

    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = snapshot.exposition()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = free_tcp_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    poller = threading.Thread(target=polls, daemon=True)
    poller.start()
    work = Path(tempfile.mkdtemp(prefix="oti-bench-prom-"))
    prom = start_prometheus(work, port, interval="15s", timeout="10s")
    try:
        time.sleep(seconds)
        kept = prom.query('count_over_time(up{job="oti-agent"}[10m])')
        good = prom.query('sum_over_time(up{job="oti-agent"}[10m])')
        worst = prom.query('max_over_time(scrape_duration_seconds{job="oti-agent"}[10m])')
        typical = prom.query('quantile_over_time(0.5, scrape_duration_seconds{job="oti-agent"}[10m])')
    finally:
        stop_polls.set()
        server.shutdown()
        stop(prom.process)
    tried = int(float(kept[0]["value"][1])) if kept else 0
    return {"n": n, "tried": tried, "kept": int(float(good[0]["value"][1])) if good else 0,
            "worst_s": float(worst[0]["value"][1]) if worst else float("nan"),
            "median_s": float(typical[0]["value"][1]) if typical else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,2000")
    ap.add_argument("--prometheus", type=int, default=2000, help="devices for the Prometheus run (0: skip)")
    ap.add_argument("--seconds", type=float, default=95.0, help="how long Prometheus scrapes")
    args = ap.parse_args()
    bases = base_results()
    print("walks:", ", ".join(f"{r.device} ({len(r.readings)} readings; {'+'.join(p)})" for _k, r, p in bases))
    print("\n== series per device: oti-agent vs prometheus-snmp-exporter on the same walk")
    for community, (ours, theirs) in exporter_series(bases).items():
        print(f"  {community:14} oti-agent {ours:5d}   exporter {theirs:5d}   ratio {ours / max(theirs, 1):.2f}")
    print("\n== one scrape: oti-agent (rendered on arrival) vs prometheus_client formatting at the scrape")
    print(f"  {'devices':>7} {'series':>9} {'MB':>6} {'ours s':>8} {'before s':>9} {'ratio':>6} {'old series':>10} "
          f"{'render CPU-s':>12} {'KB/device':>9}")
    for r in scrape_sizes([int(x) for x in args.sizes.split(",")], bases):
        print(f"  {r['n']:7d} {r['series']:9d} {r['mb']:6.1f} {r['ours_s']:8.3f} {r['old_s']:9.3f} "
              f"{r['ours_s'] / r['old_s']:6.3f} {r['old_series']:10d} {r['render_s']:12.3f} "
              f"{r['held_kb_per_device']:9.1f}")
        per_100k = r["ours_s"] * 100_000 / max(r["series"], 1)
        print(f"          -> {per_100k:.3f} s per 100k series (goal <= 0.25)")
    if args.prometheus:
        print(f"\n== a real Prometheus (15 s interval, 10 s timeout) on {args.prometheus} devices while they poll")
        r = prometheus_keeps(args.prometheus, bases, args.seconds)
        print(f"  scrapes kept {r['kept']} of {r['tried']}; scrape duration median {r['median_s']:.2f} s, slowest "
              f"{r['worst_s']:.2f} s (Prometheus's own ingestion included; the first scrape creates every series)")


if __name__ == "__main__":
    main()
