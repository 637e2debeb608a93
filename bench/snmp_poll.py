#!/usr/bin/env python3
"""Poll N simulated devices with oti-agent's poller and with prometheus-snmp-exporter, side by side.

The agent is net-snmp's snmpd (a C agent, so the pollers rather than the agent are measured),
listening on N UDP ports inside a network namespace this script creates, with `--ports` veth
interfaces (a 24- or 48-port switch) and RFC 1628 UPS-MIB values set by `override`. Half the
devices are polled as UPS (profile ups-rfc1628), half as switches (profile switch-ifmib). The
exporter (Debian's 0.21, old config format) gets modules generated from the same profiles and is
scraped by a small asyncio HTTP client, 50 targets at a time, as Prometheus would.

For each size it prints wall time, varbinds/s and CPU-seconds per 1,000 varbinds for both, the
agent's CPU (and says when the agent, not the poller, was the bottleneck), and the ratio
oti-agent / exporter. Everything is torn down at the end.

usage: .venv/bin/python bench/snmp_poll.py [--sizes 100,500,1000] [--repeats 3] [--ports 24]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASE_PORT = 20001
COMMUNITY = "bench"
EXPORTER = "/usr/bin/prometheus-snmp-exporter"
UPS_OVERRIDES = {"2.1.0": 2, "2.2.0": 0, "2.3.0": 47, "2.4.0": 100, "2.5.0": 1365, "2.7.0": 27, "3.2.0": 1,
                 "3.3.1.2.1": 500, "3.3.1.3.1": 231, "4.1.0": 3, "4.2.0": 500, "4.3.0": 1, "4.4.1.2.1": 230,
                 "4.4.1.4.1": 1050, "4.4.1.5.1": 35, "6.1.0": 0}


def kind_of(i: int) -> tuple[str, str]:
    """Return (inventory kind, profile) of device i: even ones are UPS, odd ones switches."""
    return ("ups", "ups-rfc1628") if i % 2 == 0 else ("switch", "switch-ifmib")


# ---------------------------------------------------------------- workers (run inside the namespace)

async def worker_oti(n: int, concurrency: int) -> dict:
    """Poll n devices once through the daemon's own path (Runner + snmp check); report CPU and varbinds."""
    from concurrent.futures import ThreadPoolExecutor

    from agent.core.config import AgentConfig
    from agent.core.inventory import device_model
    from agent.monitoring.runner import Job, Runner
    from agent.transports.context import ProbeContext
    from checks.snmp.check import SnmpCheck
    from checks.snmp.profiles import load_profiles

    os.environ["OTI_BENCH_COMMUNITY"] = COMMUNITY
    cfg = AgentConfig.model_validate(
        {"credentials": {"snmp": {"bench": {"version": "v2c", "community": "${OTI_BENCH_COMMUNITY}"}}}})
    device = device_model()
    devices = [device.model_validate({"name": f"d{i}", "address": "127.0.0.1", "oti_kind": kind_of(i)[0],
                                      "oti_snmp": {"profile": kind_of(i)[1], "credential": "bench",
                                                   "port": BASE_PORT + i, "timeout": 5, "retries": 1}})
               for i in range(n)]
    with ThreadPoolExecutor(1) as pool:
        ctx = ProbeContext(cfg, pool)
        ctx.services["snmp.profiles"] = load_profiles([])
        runner = Runner(ctx, concurrency)
        check = SnmpCheck()
        check.name = "snmp"
        jobs = [Job(check, d, 30.0) for d in devices]
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        results = await runner.run(jobs)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        varbinds = ctx.services["snmp.v2c"].varbinds
        await ctx.aclose()
    return {"wall_s": wall, "cpu_s": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
            "varbinds": varbinds, "readings": sum(len(r.readings) for r in results),
            "errors": sum(1 for r in results if not r.up), "maxrss_mb": r1.ru_maxrss / 1024}


async def _http_get(host: str, port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    body = await reader.read()
    writer.close()
    return body.decode(errors="replace")


async def worker_scrape(n: int, concurrency: int, exporter_port: int) -> dict:
    """Scrape the exporter for n targets, `concurrency` at a time; varbinds from snmp_scrape_pdus_returned."""
    sem = asyncio.Semaphore(concurrency)
    out = {"varbinds": 0, "errors": 0}

    async def one(i: int) -> None:
        module = "ups" if kind_of(i)[0] == "ups" else "switch"
        async with sem:
            text = await _http_get("127.0.0.1", exporter_port, f"/snmp?target=127.0.0.1:{BASE_PORT + i}&module={module}")
        for line in text.splitlines():
            if line.startswith("snmp_scrape_pdus_returned "):
                out["varbinds"] += int(float(line.split()[1]))
                return
        out["errors"] += 1

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": wall, "client_cpu_s": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), **out}


# ---------------------------------------------------------------- set-up (root namespace)

def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def make_namespace(ns: str, ports: int) -> None:
    sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    for k in range(ports // 2):
        sh("ip", "-n", ns, "link", "add", f"ge{2 * k + 1}", "type", "veth", "peer", "name", f"ge{2 * k + 2}")
        sh("ip", "-n", ns, "link", "set", f"ge{2 * k + 1}", "up")
        sh("ip", "-n", ns, "link", "set", f"ge{2 * k + 2}", "up")


def start_snmpd(ns: str, n: int, workdir: Path) -> subprocess.Popen:
    conf = workdir / "snmpd.conf"
    lines = [f"rocommunity {COMMUNITY} 127.0.0.1", "view all included .1", "sysName bench-snmpd"]
    lines += [f"override .1.3.6.1.2.1.33.1.{k} integer {v}" for k, v in UPS_OVERRIDES.items()]
    conf.write_text("\n".join(lines) + "\n")
    (workdir / "persist").mkdir(exist_ok=True)
    listen = ",".join(f"udp:127.0.0.1:{BASE_PORT + i}" for i in range(n))
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist"), "MIBS": ":"}
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/sbin/snmpd", "-f", "-C", "-c", str(conf),
                             "-Lf", str(workdir / "snmpd.log"), listen], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.0 + n / 1000)
    return proc


def exporter_config(path: Path) -> None:
    """Write snmp_exporter 0.21 modules that walk what the two profiles read."""
    from checks.snmp.profiles import load_profiles

    profiles = load_profiles([])
    path.write_text("\n".join(_module(name, [profiles[p]], COMMUNITY)
                              for name, p in (("ups", "ups-rfc1628"), ("switch", "switch-ifmib"))) + "\n")


def exporter_modules(by_community: dict[str, tuple[str, list[str]]]) -> str:
    """snmp_exporter modules named by community, each walking what its profiles read (bench/metrics.py)."""
    from checks.snmp.profiles import load_profiles

    profiles = load_profiles([])
    return "\n".join(_module(community, [profiles[p] for p in names], community)
                     for community, (_module_name, names) in by_community.items()) + "\n"


def _module(module: str, profiles, community: str) -> str:
    """One exporter module: the profiles' scalars by their group (as its idiomatic configs do) and columns."""
    walk, metrics, names = [], [], set()
    for profile in profiles:
        for m in profile.metrics:
            oid = m.oid.removesuffix(".0")
            group = oid.rsplit(".", 1)[0] if oid.startswith("1.3.6.1.2.1.33.") else oid
            if group not in walk:
                walk.append(group)
            if m.name in names:
                continue
            names.add(m.name)
            metrics.append(f"  - {{name: {m.name}, oid: {oid}, type: {m.type if m.type == 'counter' else 'gauge'}, "
                           f"help: {m.name}}}")
        for t in profile.tables:
            cols = [m.column for m in t.metrics] + list(t.labels.values())
            walk += [c for c in cols if c not in walk]
            for m in t.metrics:
                if m.name in names:
                    continue
                names.add(m.name)
                metrics.append(f"  - {{name: {m.name}, oid: {m.column}, type: "
                               f"{'counter' if m.type == 'counter' else 'gauge'}, help: {m.name}, "
                               f"indexes: [{{labelname: {t.index_label}, type: gauge}}]}}")
    return (f"{module}:\n  version: 2\n  max_repetitions: 25\n  retries: 1\n  timeout: 5s\n"
            f"  auth: {{community: {community}}}\n  walk: [{', '.join(walk)}]\n  metrics:\n" + "\n".join(metrics))


def run_worker(ns: str, *args: str) -> dict:
    out = sh("ip", "netns", "exec", ns, sys.executable, __file__, *args)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_of(pid: int) -> float:
    import psutil

    total = 0.0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def measure(ns: str, tool: str, n: int, args, snmpd: int, exporter: int, exporter_port: int) -> dict:
    a0, e0 = cpu_of(snmpd), cpu_of(exporter)
    if tool == "oti-agent":
        res = run_worker(ns, "--worker", "oti", "--n", str(n), "--concurrency", str(args.concurrency))
        res["poller_cpu_s"] = res["cpu_s"]
    else:
        res = run_worker(ns, "--worker", "scrape", "--n", str(n), "--concurrency", str(args.concurrency),
                         "--exporter-port", str(exporter_port))
        res["exporter_cpu_s"] = cpu_of(exporter) - e0
        res["poller_cpu_s"] = res["exporter_cpu_s"]
    res["agent_cpu_s"] = cpu_of(snmpd) - a0
    res["tool"], res["n"] = tool, n
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,500,1000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ports", type=int, default=24, choices=(24, 48))
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--worker", choices=("oti", "scrape"))
    ap.add_argument("--n", type=int)
    ap.add_argument("--exporter-port", type=int, default=29116)
    args = ap.parse_args()
    if args.worker == "oti":
        print(json.dumps(asyncio.run(worker_oti(args.n, args.concurrency))))
        return
    if args.worker == "scrape":
        print(json.dumps(asyncio.run(worker_scrape(args.n, args.concurrency, args.exporter_port))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    ns = f"oti-bench-{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="oti-bench-"))
    procs: list[subprocess.Popen] = []
    rows = []
    try:
        make_namespace(ns, args.ports)
        snmpd = start_snmpd(ns, max(sizes), workdir)
        procs.append(snmpd)
        exporter_config(workdir / "snmp.yml")
        exporter = subprocess.Popen(["ip", "netns", "exec", ns, EXPORTER, f"--config.file={workdir / 'snmp.yml'}",
                                     f"--web.listen-address=127.0.0.1:{args.exporter_port}", "--log.level=error"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(exporter)
        time.sleep(1.5)
        for n in sizes:
            for rep in range(args.repeats):
                order = ["oti-agent", "snmp_exporter"] if rep % 2 == 0 else ["snmp_exporter", "oti-agent"]
                for tool in order:
                    row = measure(ns, tool, n, args, snmpd.pid, exporter.pid, args.exporter_port)
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
        report(rows, sizes)
    finally:
        teardown(procs, ns)


def teardown(procs: list[subprocess.Popen], ns: str) -> None:
    """Stop the bench's processes, last started first, then remove its namespace."""
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
    sh("ip", "netns", "del", ns, check=False)


def report(rows: list[dict], sizes: list[int]) -> None:
    print(f"\n{'N':>5} {'tool':<14} {'wall s':>8} {'varbinds':>9} {'vb/s':>9} {'CPU s':>7} {'CPU s/1k vb':>11} "
          f"{'agent CPU s':>11} {'errors':>6}")
    for n in sizes:
        best, per_device = {}, {}
        for tool in ("oti-agent", "snmp_exporter"):
            runs = [r for r in rows if r["n"] == n and r["tool"] == tool]
            r = min(runs, key=lambda r: r["poller_cpu_s"])     # least-disturbed run; CPU is the reliable figure
            per_k = r["poller_cpu_s"] / max(r["varbinds"], 1) * 1000
            best[tool] = per_k
            per_device[tool] = r["poller_cpu_s"] / n * 1000
            note = "  <- agent-bound" if r["agent_cpu_s"] > 0.8 * r["wall_s"] else ""
            print(f"{n:>5} {tool:<14} {r['wall_s']:>8.2f} {r['varbinds']:>9} {r['varbinds'] / r['wall_s']:>9.0f} "
                  f"{r['poller_cpu_s']:>7.3f} {per_k:>11.4f} {r['agent_cpu_s']:>11.2f} {r['errors']:>6}{note}")
        print(f"{n:>5} ratio oti-agent / snmp_exporter, CPU per varbind: "
              f"{best['oti-agent'] / best['snmp_exporter']:.2f}; per device (the fair unit, goal <= 0.5): "
              f"{per_device['oti-agent']:.2f} / {per_device['snmp_exporter']:.2f} ms = "
              f"{per_device['oti-agent'] / per_device['snmp_exporter']:.2f}\n")
    print("exporter CPU excludes its HTTP client; oti-agent CPU includes decoding and judging every reading.")


if __name__ == "__main__":
    main()
