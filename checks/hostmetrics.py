"""Host readings shared by the SSH and local host probes: disks, memory, load, services.

Both probes reduce what they read to `HostStats`; one pure function turns it into judged readings,
so a disk at 91 % means the same thing whether it was read over SSH or with psutil.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from agent.core.results import Reading, State, reading_key
from agent.core.thresholds import Thresholds, evaluate

IGNORED_MOUNT_PREFIXES = ("/proc", "/sys", "/dev", "/run", "/snap", "/var/lib/docker")


class HostOptions(BaseModel):
    """Limits for host readings; each can be overridden per device with `oti_thresholds`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filesystem: Thresholds = Thresholds(direction="above", warning=0.85, critical=0.95, hysteresis=0.02)
    memory_available: Thresholds = Thresholds(direction="below", warning=0.10, critical=0.05, hysteresis=0.02)
    load_per_cpu: Thresholds = Thresholds(direction="above", warning=2.0, critical=4.0, hysteresis=0.25)
    ignore_mounts: list[str] = Field(list(IGNORED_MOUNT_PREFIXES), description="mount point prefixes to skip")
    services: list[str] = Field([], description="services that must be running, besides the device's oti_services")


@dataclass
class HostStats:
    """What a host probe read, in base units."""

    filesystems: dict[str, tuple[float, float]] = field(default_factory=dict)   # mount -> (size, used) bytes
    memory_total: float | None = None
    memory_available: float | None = None
    load1: float | None = None
    cpus: int | None = None
    services: dict[str, bool] = field(default_factory=dict)                      # name -> running
    service_method: str = ""


def host_readings(stats: HostStats, opts: HostOptions, overrides: Mapping[str, Thresholds],
                  previous: Mapping[str, State]) -> list[Reading]:
    """Judge host stats; return readings named host_*."""
    out: list[Reading] = []

    def judged(name, value, unit, limits, labels=(), help_=""):
        limits = overrides.get(name, limits)
        state = evaluate(value, limits, previous.get(reading_key(name, labels)))
        out.append(Reading(name, value, state, unit, labels, help=help_))

    for mount, (size, used) in sorted(stats.filesystems.items()):
        if any(mount.startswith(p) for p in opts.ignore_mounts) or size <= 0:
            continue
        labels = (("mountpoint", mount),)
        judged("host_filesystem_used_ratio", round(used / size, 4), "ratio", opts.filesystem, labels,
               "Share of the filesystem in use")
        out.append(Reading("host_filesystem_size_bytes", size, State.OK, "bytes", labels, help="Filesystem size"))
    if stats.memory_total:
        judged("host_memory_available_ratio", round((stats.memory_available or 0) / stats.memory_total, 4),
               "ratio", opts.memory_available, (), "Share of memory available to new work")
        out.append(Reading("host_memory_total_bytes", stats.memory_total, State.OK, "bytes", help="Memory size"))
    if stats.load1 is not None and stats.cpus:
        judged("host_load1_per_cpu", round(stats.load1 / stats.cpus, 3), "ratio", opts.load_per_cpu, (),
               "One-minute load average divided by the number of CPUs")
    for name, running in sorted(stats.services.items()):
        out.append(Reading("host_service_up", 1.0 if running else 0.0, State.OK if running else State.CRITICAL,
                           "", (("service", name),), "running" if running else "stopped",
                           help="Whether a named service is running (1) or not (0)",
                           message="" if running else f"el servicio {name} no está en ejecución"))
    return out
