"""Network UPS Tools on loopback: the real upsd and one dummy-ups driver per UPS, each fed a `.dev` dump.

A dump is what `upsc` printed for a real UPS (../shared/recordings/nut/*.dev); in dummy-once mode the driver
re-reads it when its mtime changes, so a test flips a UPS to battery by rewriting its file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers import programs
from tests.peers.common import stop

USER, PASSWORD = "oti-monitor", "nut-test-password-1"
PRIMARY, PRIMARY_PASSWORD = "oti-primary", "nut-test-password-2"    # may raise FSD (the power policy's hand-over)


@dataclass
class NutPeer:
    host: str
    port: int
    confdir: Path
    procs: list = field(default_factory=list)
    upsd_args: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    log: object = None
    names: list = field(default_factory=list)

    def dev(self, ups: str) -> Path:
        return self.confdir / f"{ups}.dev"

    def set(self, ups: str, **values: str) -> None:
        """Rewrite variables of a UPS's dump (dots as __: ups__status="OB LB"); the driver reads it again."""
        lines = self.dev(ups).read_text().splitlines()
        wanted = {k.replace("__", "."): v for k, v in values.items()}
        out = []
        for line in lines:
            key = line.split(":", 1)[0].strip()
            out.append(f"{key}: {wanted.pop(key)}" if key in wanted else line)
        out += [f"{k}: {v}" for k, v in wanted.items()]
        self.dev(ups).write_text("\n".join(out) + "\n")
        later = time.time() + 2                      # a new mtime even within the same second
        os.utime(self.dev(ups), (later, later))

    def status(self, ups: str) -> str | None:
        """upsd's ups.status of a UPS now (with FSD when a primary raised it)."""
        return _status(self.port, ups)

    def restart_upsd(self, timeout: float = 20.0) -> None:
        """Stop and start upsd on the same port (the drivers stay): what a UPS powered off by FSD and back
        on looks like to a client — upsd forgets the forced-shutdown flag."""
        stop(self.procs[-1])
        self.procs[-1] = subprocess.Popen(self.upsd_args, env=self.env, stdout=self.log, stderr=self.log,
                                          start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(_status(self.port, ups) not in (None, "WAIT") for ups in self.names):
                return
            time.sleep(0.2)
        raise RuntimeError(f"upsd on 127.0.0.1:{self.port} did not come back within {timeout:g}s")

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_upsd(workdir: Path, dumps: dict[str, Path], timeout: float = 30.0) -> NutPeer:
    """upsd on a free loopback port serving one dummy-ups per dump (UPS name -> .dev file), with an account."""
    conf, state = workdir / "conf", workdir / "state"
    conf.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o770)
    port = _free_tcp_port()
    (conf / "nut.conf").write_text("MODE=standalone\n")
    (conf / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nMAXAGE 15\n")
    (conf / "upsd.users").write_text(f"[{USER}]\n  password = {PASSWORD}\n  upsmon secondary\n"
                                     f"[{PRIMARY}]\n  password = {PRIMARY_PASSWORD}\n  upsmon primary\n")
    sections = []
    for ups, dump in dumps.items():
        (conf / f"{ups}.dev").write_text(dump.read_text(errors="replace"))
        sections.append(f"[{ups}]\n  driver = dummy-ups\n  port = {ups}.dev\n  desc = \"{dump.stem[:60]}\"\n")
    (conf / "ups.conf").write_text("".join(sections))
    for f in conf.iterdir():
        f.chmod(0o640)
    env = {**os.environ, "NUT_CONFPATH": str(conf), "NUT_STATEPATH": str(state)}
    peer = NutPeer("127.0.0.1", port, conf)
    log = (workdir / "nut.log").open("ab")
    for ups in dumps:
        peer.procs.append(subprocess.Popen([programs.path("dummy-ups"), "-a", ups, "-u", "root", "-F"], env=env,
                                           stdout=log, stderr=log, start_new_session=True))
    peer.upsd_args, peer.env, peer.log, peer.names = [programs.path("upsd"), "-u", "root", "-F"], env, log, list(dumps)
    peer.procs.append(subprocess.Popen(peer.upsd_args, env=env, stdout=log, stderr=log, start_new_session=True))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in peer.procs if p.poll() is not None]
        if dead:
            peer.stop()
            raise RuntimeError(f"NUT exited ({dead[0].args[0]}): {(workdir / 'nut.log').read_text()[-1500:]}")
        if all(_status(port, ups) not in (None, "WAIT") for ups in dumps):
            return peer
        time.sleep(0.2)
    peer.stop()
    raise RuntimeError(f"upsd on 127.0.0.1:{port} gave no UPS status within {timeout:g}s: "
                       f"{(workdir / 'nut.log').read_text()[-1500:]}")


def _status(port: int, ups: str) -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET VAR {ups} ups.status\n".encode())
            answer = s.recv(4096).decode(errors="replace").strip()
    except OSError:
        return None
    return answer.rsplit('"', 2)[-2] if answer.startswith("VAR ") and answer.count('"') >= 2 else None
