"""Small helpers shared by the peer fixtures."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_tcp_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port: int, proc: subprocess.Popen, name: str, log: Path | None = None, timeout: float = 30.0) -> None:
    """Wait until something accepts on 127.0.0.1:port; raise with the peer's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:g}s: {_tail(log)}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a peer and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return "(no log)"
    return log.read_text(errors="replace")[-1500:]
