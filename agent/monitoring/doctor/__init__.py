"""`oti-agent doctor`: check the host the agent runs on, before the daemon starts or while it runs.

Each check returns findings (OK / WARN / FAIL) that say what was looked at and, for a problem, what to
do. The checks run without the daemon: they read the config, look at the host (clock, disks, file
modes, ports) and knock on the peers the config names (mail, directory, store, Bacula, devices).
They live under `monitoring/` because they are the agent monitoring its own host; the CLI prints them.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path

__all__ = ["DoctorOptions", "Finding", "Status", "examine", "load_settings", "worst"]


class Status(IntEnum):
    """How bad a finding is; the worst one sets the command's exit code."""

    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True)
class Finding:
    """One thing the doctor looked at: its status, what it is about, what it found, and what to do."""

    status: Status
    check: str                  # "time", "disk", "permissions", "peer", "device", "tls", "port", "config"
    subject: str                # the file, host:port, folder or setting it is about
    message: str
    fix: str = ""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DoctorOptions:
    """What the doctor may use and how patient it is; the clock is injected (tests never depend on today)."""

    now: Callable[[], datetime] = _utc_now
    timeout: float = 3.0                      # per connection, per device
    concurrency: int = 32                     # devices knocked on at once
    user: str = field(default_factory=getpass.getuser)   # whose rights on the state folders are checked
    ntp_server: str | None = None             # compare the clock with it when timedatectl cannot tell
    timedatectl: str = "timedatectl"
    devices: bool = True                      # knock on every device of the inventory (SNMP GET, SSH port)
    cert_warn_days: int = 30
    disk_warn_bytes: int = 2 * 2**30
    disk_fail_bytes: int = 256 * 2**20


def worst(findings: list[Finding]) -> Status:
    """The worst status among the findings (OK when there are none)."""
    return max((f.status for f in findings), default=Status.OK)


def load_settings(path: Path):
    """The settings a config names, and the config findings: one OK, or one FAIL per problem. A config that
    loads but whose secrets cannot all be read now (strict) still gives its settings, so the other checks
    run: the doctor is most needed when more than one thing is wrong."""
    from agent.core.settings import load_all
    from agent.errors import ConfigError

    try:
        settings = load_all(path, strict=True)
    except ConfigError as err:
        problems = err.problems
        try:
            settings = load_all(path)
        except ConfigError:
            settings = None
        findings = [Finding(Status.FAIL, "config", str(path), str(p)) for p in problems]
        last = findings[-1]
        findings[-1] = Finding(last.status, last.check, last.subject, last.message,
                               f"fix the config; `oti-agent config check -c {path}` lists every problem")
        return settings, findings
    n = len(settings.inventory)
    return settings, [Finding(Status.OK, "config", str(path), f"config and inventory load ({n} devices)")]


async def examine(settings, options: DoctorOptions | None = None) -> list[Finding]:
    """Run every check of a loaded config; the slow ones (peers, devices, TLS) at the same time."""
    from agent.monitoring.doctor import certs, devices, host, peers

    cfg, options = settings.config, options or DoctorOptions()
    findings = host.permissions(settings, options) + host.disk(cfg, options) + host.ports(cfg)
    groups = await asyncio.gather(host.time_sync(options), peers.reachable(cfg, options),
                                  certs.expiry(cfg, options), devices.answer(settings, options))
    for group in groups:
        findings += group
    return findings
