"""Who holds a local port: /proc/net's socket tables and the processes' file descriptors (Linux)."""

from __future__ import annotations

from pathlib import Path

_LISTEN = "0A"       # TCP state of a listening socket in /proc/net/tcp


def holder(proto: str, port: int, proc: Path = Path("/proc")) -> tuple[int, str] | None:
    """(pid, command line) of a process bound to `port`, or None when none can be seen (another user's
    process is invisible to a user who is not root)."""
    inodes = _inodes(proto, port, proc)
    if not inodes:
        return None
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = fd.readlink().name if fd.is_symlink() else ""
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(pid_dir.name), _cmdline(pid_dir)
    return None


def _inodes(proto: str, port: int, proc: Path) -> set[str]:
    found = set()
    for table in (f"{proto}", f"{proto}6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or int(cols[1].rsplit(":", 1)[1], 16) != port:
                continue
            if proto == "tcp" and cols[3] != _LISTEN:
                continue
            found.add(cols[9])
    return found - {"0"}


def _cmdline(pid_dir: Path) -> str:
    try:
        return (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
