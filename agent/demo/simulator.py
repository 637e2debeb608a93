"""Start simulated SNMP devices (snmpsim) on loopback, for the demo, the tests and the bench.

Debian's `snmpsim` 0.4.5 (`/usr/bin/snmpsimd`, system Python) is the pinned simulator: PyPI's
1.2.2 lacks its pysmi dependency and cannot drop root privileges under a pyenv interpreter.
Run as root, snmpsimd drops to nobody:nogroup, so its data and cache folders are made readable
and writable for that user.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SNMPSIMD = "/usr/bin/snmpsimd"
RECORDINGS = Path(__file__).resolve().parents[2] / "demo" / "snmprec"
CISCO_WALK = Path("/usr/share/doc/snmpsim/examples/data/cisco_16_switch.snmprec.gz")


def free_udp_port(host: str = "127.0.0.1") -> int:
    """Return a UDP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Simulator:
    """A running snmpsimd: where it listens and how to stop it."""

    process: subprocess.Popen
    endpoints: list[tuple[str, int]]
    workdir: Path

    def stop(self) -> None:
        """Stop the simulator and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def prepare_data(workdir: Path, recordings: dict[str, Path]) -> Path:
    """Copy recordings (community name -> .snmprec or .snmprec.gz) into a data folder snmpsimd can read."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    for community, src in recordings.items():
        dst = data / f"{community}.snmprec"
        if src.suffix == ".gz":
            with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copyfile(src, dst)
    return data


def start(workdir: Path, endpoints: list[tuple[str, int]], *, v3: dict | None = None,
          ready_community: str | None = None, timeout: float = 60.0) -> Simulator:
    """Start snmpsimd serving `workdir/data` on the endpoints; wait until it answers (bounded).

    snmpsimd runs from a private copy under the system temp folder: as root it drops to `nobody`,
    who cannot reach a folder under /root or pytest's 0700 temp tree.
    """
    if not Path(SNMPSIMD).exists():
        raise RuntimeError(f"{SNMPSIMD} is missing: install Debian's snmpsim (`make deps`)")
    runtime = Path(tempfile.mkdtemp(prefix="oti-snmpsim-"))
    shutil.copytree(workdir / "data", runtime / "data")
    workdir = runtime
    cache, log = workdir / "cache", workdir / "snmpsimd.log"
    cache.mkdir(parents=True, exist_ok=True)
    args = [SNMPSIMD, f"--data-dir={workdir / 'data'}", f"--cache-dir={cache}", f"--logging-method=file:{log}"]
    if len(endpoints) > 20:
        argfile = workdir / "endpoints.args"
        argfile.write_text("".join(f"--agent-udpv4-endpoint={h}:{p}\n" for h, p in endpoints))
        args.append(f"--args-from-file={argfile}")
    else:
        args += [f"--agent-udpv4-endpoint={h}:{p}" for h, p in endpoints]
    if v3:
        args += [f"--v3-user={v3['user']}", f"--v3-auth-key={v3['auth_key']}", "--v3-auth-proto=SHA",
                 f"--v3-priv-key={v3['priv_key']}", "--v3-priv-proto=AES"]
    else:
        args.append("--v2c-arch")
    if os.geteuid() == 0:
        args += ["--process-user=nobody", "--process-group=nogroup"]
        workdir.chmod(0o755)
        for path in (workdir / "data", cache):
            path.chmod(0o777)
        log.touch()
        log.chmod(0o666)
        for f in (workdir / "data").iterdir():
            f.chmod(0o644)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    sim = Simulator(proc, endpoints, workdir)
    if ready_community:
        _wait_ready(sim, ready_community, timeout, log)
    return sim


def _wait_ready(sim: Simulator, community: str, timeout: float, log: Path) -> None:
    """Poll the first and last endpoint with a raw GET until both answer; fail loudly otherwise."""
    from agent.transports.snmp import codec

    packet = codec.encode_request(codec.GET, 1, community.encode(), [codec.encode_oid("1.3.6.1.2.1.1.3.0")])
    deadline = time.monotonic() + timeout
    pending = {sim.endpoints[0], sim.endpoints[-1]}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        while pending and time.monotonic() < deadline:
            if sim.process.poll() is not None:
                stderr = sim.process.stderr.read().decode(errors="replace") if sim.process.stderr else ""
                raise RuntimeError(f"snmpsimd exited with {sim.process.returncode}: {stderr[-800:]} (log: {log})")
            for ep in list(pending):
                s.sendto(packet, ep)
                try:
                    s.recvfrom(65535)
                    pending.discard(ep)
                except TimeoutError:
                    pass
    if pending:
        sim.stop()
        raise RuntimeError(f"snmpsimd did not answer on {sorted(pending)} within {timeout:g}s (log: {log})")
