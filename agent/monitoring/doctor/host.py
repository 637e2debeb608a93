"""The doctor's look at the host itself: the clock, the disks, the modes of the files, the ports to bind."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import stat
from pathlib import Path

from agent.monitoring.doctor import DoctorOptions, Finding, Status
from agent.monitoring.doctor.files import can_write, secret_files, state_folders, user_exists
from agent.monitoring.doctor.sntp import clock_offset

FAIL, WARN, OK = Status.FAIL, Status.WARN, Status.OK
OFFSET_WARN_S = 1.0       # TOTP codes, signed links and Kerberos-style skews start to hurt past a few seconds
OFFSET_FAIL_S = 60.0      # a minute off: journals, bitácoras and schedules carry wrong times


async def time_sync(opts: DoctorOptions) -> list[Finding]:
    """Whether the clock is NTP-synchronised: timedatectl's word, else a comparison with --ntp SERVER.

    The journals, the bitácoras and every signed link carry times; a drifting clock is a record that lies."""
    answer, why = await _timedatectl(opts.timedatectl, opts.timeout)
    if answer == "yes":
        return [Finding(OK, "time", "clock", "the system clock is NTP-synchronised (timedatectl)")]
    if answer == "no":
        return [Finding(FAIL, "time", "clock", "the system clock is not NTP-synchronised (timedatectl)",
                        "enable it (`timedatectl set-ntp true`, or chrony) and check the NTP server answers")]
    if opts.ntp_server is None:
        return [Finding(WARN, "time", "clock", f"cannot tell whether the clock is synchronised: {why}",
                        "compare it with the office's NTP server: `oti-agent doctor --ntp SERVER`")]
    try:
        offset = await clock_offset(opts.ntp_server, opts.timeout, opts.now)
    except OSError as err:
        return [Finding(WARN, "time", f"ntp {opts.ntp_server}", f"{why}; and the NTP server does not "
                        f"answer: {err.strerror or err}", "check its name and that UDP 123 reaches it")]
    return [offset_finding(opts.ntp_server, offset)]


def offset_finding(server: str, offset_s: float) -> Finding:
    """How far this clock is from an NTP server's, judged."""
    text = f"the clock is {offset_s:+.3f}s from {server}'s"
    if abs(offset_s) >= OFFSET_FAIL_S:
        return Finding(FAIL, "time", f"ntp {server}", text, "synchronise the clock with NTP (chrony or "
                       "systemd-timesyncd) before the agent writes records with this time")
    if abs(offset_s) >= OFFSET_WARN_S:
        return Finding(WARN, "time", f"ntp {server}", text, "enable NTP synchronisation on this host")
    return Finding(OK, "time", f"ntp {server}", text)


async def _timedatectl(program: str, timeout: float) -> tuple[str | None, str]:
    """timedatectl's NTPSynchronized ('yes'/'no'), or None and why it cannot say (no systemd: a container)."""
    found = shutil.which(program)
    if found is None:
        return None, f"{program} is not installed"
    pipe = asyncio.subprocess.PIPE
    try:
        proc = await asyncio.create_subprocess_exec(found, "show", "-p", "NTPSynchronized", "--value",
                                                    stdout=pipe, stderr=pipe,
                                                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except OSError as err:
        return None, f"cannot run {found}: {err.strerror}"
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        return None, f"timedatectl did not answer in {timeout:g}s"
    if proc.returncode != 0:
        said = (err or out).decode(errors="replace").strip().splitlines()
        return None, f"timedatectl cannot tell ({said[0] if said else f'exit {proc.returncode}'})"
    return out.decode().strip(), ""


def disk(cfg, opts: DoctorOptions) -> list[Finding]:
    """Free room where the store and the documents are written (one finding per filesystem)."""
    by_disk: dict[int, list[tuple[str, Path, Path]]] = {}
    for what, folder in state_folders(cfg):
        if what != "socket":                     # a socket takes no room
            existing = _existing(folder)
            by_disk.setdefault(existing.stat().st_dev, []).append((what.removesuffix(" and socket"), folder,
                                                                   existing))
    findings = []
    for entries in by_disk.values():
        free = shutil.disk_usage(entries[0][2]).free
        where = " and ".join(f"the {what} ({folder})" for what, folder, _ in entries)
        text, subject = f"{_size(free)} free for {where}", str(entries[0][1])
        if free < opts.disk_fail_bytes:
            findings.append(Finding(FAIL, "disk", subject, text, f"free room on that disk: the agent needs "
                                    f"at least {_size(opts.disk_fail_bytes)} to write its records"))
        elif free < opts.disk_warn_bytes:
            findings.append(Finding(WARN, "disk", subject, text, "free room on that disk, or move the folder "
                                    "(store.url, documents_dir) to a bigger one"))
        else:
            findings.append(Finding(OK, "disk", subject, text))
    return findings


def permissions(settings, opts: DoctorOptions) -> list[Finding]:
    """Nobody else reads the secrets, the config or the state; the agent's user can write its state."""
    cfg = settings.config
    if not user_exists(opts.user):
        return [Finding(FAIL, "permissions", opts.user, f"there is no user {opts.user} on this host",
                        "create the agent's user (`make install-service` does), or name another with --user")]
    findings = [_mode(settings.path, f"the config {settings.path}", WARN)]
    findings += [_mode(path, f"secret file {path} ({key})", FAIL) for key, path in secret_files(cfg)]
    for what, folder in state_folders(cfg):
        if folder.exists():
            findings.append(_mode(folder, f"the {what} folder {folder}", FAIL))
        existing = _existing(folder)
        if not can_write(existing, opts.user):
            findings.append(Finding(FAIL, "permissions", str(folder), f"user {opts.user} cannot write the "
                                    f"{what} folder {folder}"
                                    f"{'' if existing == folder else f' (nor create it in {existing})'}",
                                    f"chown {opts.user} {existing}; chmod 700 {existing} (under systemd: "
                                    "put it under StateDirectory=/ReadWritePaths=)"))
        else:
            findings.append(Finding(OK, "permissions", str(folder), f"user {opts.user} can write the {what} "
                                    f"folder {folder}"))
    return [f for f in findings if f is not None]


def _mode(path: Path, what: str, severity: Status) -> Finding | None:
    """A file or folder others may read (or anyone may write): `severity` naming the file and the chmod."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None          # a secret file that is not there is the config check's finding, with its line
    except OSError as err:
        return Finding(FAIL, "permissions", str(path), f"cannot read {what}: {err.strerror}",
                       "run doctor as the agent's user, and give that user access to it")
    shown = f"mode {stat.S_IMODE(mode):04o}"
    if mode & stat.S_IWOTH:
        return Finding(FAIL, "permissions", str(path), f"{what} is world-writable ({shown})",
                       f"chmod o-w {path}")
    if mode & (stat.S_IROTH | stat.S_IXOTH):
        target = "700" if stat.S_ISDIR(mode) else "600"
        return Finding(severity, "permissions", str(path), f"{what} is world-readable ({shown})",
                       f"chmod o-rwx {path} (or chmod {target}: only its owner)")
    return Finding(OK, "permissions", str(path), f"{what} is not world-readable ({shown})")


def ports(cfg) -> list[Finding]:
    """The ports the daemon binds (HTTP, traps, syslog) are free, or held by an oti-agent already running."""
    from agent.monitoring.doctor.sockets import holder

    wanted = [("tcp", cfg.http.listen, cfg.http.port, "http")] if cfg.http.port else []
    if cfg.traps.enabled:
        wanted.append(("udp", cfg.traps.listen, cfg.traps.port, "traps"))
    if cfg.syslog.enabled:
        wanted.append(("udp", cfg.syslog.listen, cfg.syslog.port, "syslog"))
        if cfg.syslog.tcp:
            wanted.append(("tcp", cfg.syslog.listen, cfg.syslog.port, "syslog"))
    findings = []
    for proto, addr, port, what in wanted:
        subject = f"{addr}:{port}/{proto}"
        code = _try_bind(proto, addr, port)
        if code is None:
            findings.append(Finding(OK, "port", subject, f"{what} {subject}: free to bind"))
        elif code == errno.EADDRINUSE:
            findings.append(_in_use(subject, what, holder(proto, port)))
        elif code == errno.EACCES:
            findings.append(Finding(WARN, "port", subject, f"{what} {subject}: this user may not bind a port "
                                    "under 1024",
                                    "the systemd unit gives the daemon CAP_NET_BIND_SERVICE; by hand, run as "
                                    "a "
                                    "user who has it, or choose a port over 1023 in the config"))
        else:
            why = os.strerror(code)
            findings.append(Finding(FAIL, "port", subject, f"{what} {subject}: cannot bind: {why}",
                                    f"check the {what} listen address: it must be one of this host's"))
    return findings


def _in_use(subject: str, what: str, held: tuple[int, str] | None) -> Finding:
    if held is not None and "oti-agent" in held[1]:
        return Finding(OK, "port", subject, f"{what} {subject}: held by oti-agent itself (pid {held[0]})")
    by = f"pid {held[0]} ({held[1][:60]})" if held else "another program (run doctor as root to see which)"
    return Finding(FAIL, "port", subject, f"{what} {subject}: in use by {by}",
                   f"stop that program, or give {what} another port in the config")


def _try_bind(proto: str, addr: str, port: int) -> int | None:
    """None if the port could be bound now (it is closed again at once), else the errno."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)      # as the daemon's own listener does
        try:
            s.bind((addr, port))
        except OSError as err:
            return err.errno
    return None


def _existing(path: Path) -> Path:
    """The path, or its nearest parent that exists (where it would be created)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
