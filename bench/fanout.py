#!/usr/bin/env python3
"""The same command on N SSH hosts: the engine's `ssh` step, ansible-runner (command module,
forks 50) and OpenSSH under `xargs -P 50`, side by side; then a 200-step synthetic graph against
its critical path.

Hosts are sshd processes on 127.0.0.1 (one port each) logging in a dedicated user, with strict
host-key checking everywhere. Prints wall time and CPU-seconds for each tool and the ratios.

usage: .venv/bin/python bench/fanout.py [--sizes 10,50,100] [--steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.peers.common import free_tcp_port  # noqa: E402
from tests.peers.sshd import USER, _ensure_user, _keygen  # noqa: E402

COMMAND = "uptime"


def cpu() -> tuple[float, float]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def start_hosts(root: Path, n: int) -> tuple[list[int], list[subprocess.Popen]]:
    _ensure_user()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    _keygen(root / "host", "bench-host")
    _keygen(root / "client", "bench-client")
    shutil.copyfile(root / "client.pub", root / "authorized_keys")
    (root / "authorized_keys").chmod(0o644)
    ports, procs, known = [], [], []
    pub = " ".join((root / "host.pub").read_text().split()[:2])
    for _ in range(n):
        port = free_tcp_port()
        conf = root / f"sshd-{port}.conf"
        conf.write_text(f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'host'}\nPidFile none\n"
                        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPasswordAuthentication no\nUsePAM no\n"
                        "StrictModes no\nMaxStartups 200\nLogLevel ERROR\n")
        procs.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(conf)]))
        ports.append(port)
        known.append(f"[127.0.0.1]:{port} {pub}\n")
    (root / "known_hosts").write_text("".join(known))
    time.sleep(1.0)
    return ports, procs


def write_site(root: Path, ports: list[int], steps: list[dict]) -> Path:
    hosts = {f"h{i:03d}": {"ansible_host": "127.0.0.1", "ansible_port": p, "ansible_user": USER,
                           "oti_kind": "server_virtual", "oti_ssh": {"credential": "bench", "port": p}}
             for i, p in enumerate(ports)}
    (root / "inventory.yaml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (root / "runbooks").mkdir(exist_ok=True)
    (root / "runbooks" / "bench.yaml").write_text(yaml.safe_dump(
        {"id": "bench", "title": "bench", "procedure": "bench", "steps": steps}, sort_keys=False))
    (root / "config.yaml").write_text(yaml.safe_dump({
        "inventory": "inventory.yaml", "runbooks_dir": "runbooks", "store": {"url": "sqlite:///oti.db"},
        "scheduler": {"ssh_threads": 64},
        "credentials": {"ssh": {"bench": {"user": USER, "key_file": str(root / "client"),
                                          "known_hosts": str(root / "known_hosts")}}}}))
    return root / "config.yaml"


def run_engine(config: Path) -> tuple[str, float]:
    from agent.core.settings import load_all
    from agent.runbook.engine import Engine
    from agent.runbook.model import load
    from agent.store import Store

    settings = load_all(config)
    engine = Engine(settings, Store(settings.config.store.url, settings.config.base_dir))
    run_id = engine.start(load(config.parent / "runbooks" / "bench.yaml"), {}, "bench")
    t0 = time.perf_counter()
    status = asyncio.run(engine.execute(run_id))
    return status, time.perf_counter() - t0


def bench_ssh(root: Path, ports: list[int]) -> dict:
    n = len(ports)
    config = write_site(root, ports, [{"id": "cmd", "activity": 1, "name": "cmd", "kind": "ssh", "parallel": 50,
                                       "targets": {"kinds": ["server_virtual"]}, "with": {"command": COMMAND}}])
    out = {}
    c0 = cpu()
    status, wall = run_engine(config)
    c1 = cpu()
    out["oti-agent ssh step"] = (wall, c1[0] - c0[0], status)
    inv = root / "inventory.yaml"
    ssh_args = f"-o UserKnownHostsFile={root / 'known_hosts'} -o StrictHostKeyChecking=yes"
    # the same key exchange paramiko negotiates (OpenSSH 9.2's default sntrup761 costs ~0.1 CPU-s a connection)
    kex = "KexAlgorithms=curve25519-sha256"
    import ansible_runner

    (root / "ar").mkdir(exist_ok=True)
    c0, t0 = cpu(), time.perf_counter()
    r = ansible_runner.run(private_data_dir=str(root / "ar"), inventory=str(inv), host_pattern="all",
                           module="command", module_args=COMMAND, forks=50, quiet=True, suppress_env_files=True,
                           envvars={"ANSIBLE_PRIVATE_KEY_FILE": str(root / "client"), "ANSIBLE_SSH_ARGS": ssh_args,
                                    "ANSIBLE_HOST_KEY_CHECKING": "True"})
    wall = time.perf_counter() - t0
    c1 = cpu()
    out["ansible-runner command"] = (wall, (c1[0] - c0[0]) + (c1[1] - c0[1]), r.status)
    lines = "".join(f"{p}\n" for p in ports)
    c0, t0 = cpu(), time.perf_counter()
    x = subprocess.run(["xargs", "-P", "50", "-I{}", "ssh", "-q", "-i", str(root / "client"), "-p", "{}",
                        "-o", f"UserKnownHostsFile={root / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                        "-o", "BatchMode=yes", "-o", kex,
                        f"{USER}@127.0.0.1", COMMAND], input=lines, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    c1 = cpu()
    out["OpenSSH xargs -P 50"] = (wall, c1[1] - c0[1], "ok" if x.returncode == 0 else f"rc={x.returncode}")
    print(f"\nN={n} hosts, command `{COMMAND}`")
    for tool, (wall, cpu_s, status) in out.items():
        print(f"  {tool:<24} wall {wall:6.2f} s   CPU {cpu_s:6.2f} s   {status}")
    ssh_w, ar_w, floor_w = (out[k][0] for k in out)
    print(f"  ansible-runner / ssh step: {ar_w / ssh_w:.1f}x   ssh step / OpenSSH floor: {ssh_w / floor_w:.2f}x")
    return out


def bench_graph(root: Path, n_steps: int) -> None:
    from agent.core.settings import load_all
    from agent.runbook.model import load
    from agent.runbook.plan import make_plan

    rng = random.Random(7)
    steps = []
    for i in range(n_steps):
        needs = sorted({f"s{rng.randrange(i)}" for _ in range(rng.randint(0, 3))}) if i else []
        secs = round(rng.uniform(0.2, 1.5), 3)
        steps.append({"id": f"s{i}", "activity": 1, "name": f"s{i}", "kind": "pause", "needs": needs,
                      "with": {"seconds": secs}, "estimate": secs})
    config = write_site(root, [free_tcp_port()], steps)
    settings = load_all(config)
    plan = make_plan(load(config.parent / "runbooks" / "bench.yaml"), {}, settings)
    status, wall = run_engine(config)
    print(f"\nsynthetic graph: {n_steps} steps, critical path {plan.critical_path_s:.2f} s "
          f"({len(plan.critical_path)} steps); run {wall:.2f} s ({status}); "
          f"overhead {100 * (wall / plan.critical_path_s - 1):.1f}%")


def main() -> None:
    import os

    os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"   # ansible-runner runs `ansible`
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,50,100")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="oti-fanout-"))
    root.chmod(0o755)
    sizes = [int(s) for s in args.sizes.split(",")]
    ports, procs = start_hosts(root, max(sizes))
    try:
        for n in sizes:
            sub = root / f"n{n}"
            sub.mkdir()
            for f in ("client", "known_hosts"):
                shutil.copy(root / f, sub / f)
            bench_ssh(sub, ports[:n])
        g = root / "graph"
        g.mkdir()
        bench_graph(g, args.steps)
    finally:
        for p in procs:
            p.terminate()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
