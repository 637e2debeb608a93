"""The `ssh_host` check: disks, memory, load and named services of a Linux host, over SSH.

The command runs through `agent/transports/ssh.py` (paramiko in the probe pool, host keys checked).
Services are checked with `systemctl is-active` where systemd runs, else by process name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field

from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import ConfigError
from checks.base import Check, ProbeContext
from checks.hostmetrics import HostOptions, HostStats, host_readings

SERVICE_NAME = re.compile(r"^[A-Za-z0-9@._:+-]{1,128}$")

_SCRIPT = r"""LC_ALL=C; export LC_ALL
echo '##df'; df -P -B1 2>/dev/null
echo '##mem'; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo '##load'; cut -d' ' -f1 /proc/loadavg; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
echo '##svc'
for s in {services}; do
  if [ -d /run/systemd/system ]; then echo "$s systemd $(systemctl is-active "$s" 2>/dev/null)";
  elif pgrep -x "$s" >/dev/null 2>&1; then echo "$s process active";
  else echo "$s process inactive"; fi
done
"""


def parse_output(text: str) -> HostStats:
    """Parse the probe script's output into HostStats (pure)."""
    stats = HostStats()
    section = ""
    load_lines: list[str] = []
    mem: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("##"):
            section = line[2:].strip()
            continue
        parts = line.split()
        if section == "df" and len(parts) >= 6 and parts[1].isdigit():
            stats.filesystems[parts[-1]] = (float(parts[1]), float(parts[2]))
        elif section == "mem" and len(parts) >= 2:
            mem[parts[0].rstrip(":")] = float(parts[1]) * 1024     # /proc/meminfo is in KiB
        elif section == "load" and parts:
            load_lines.append(parts[0])
        elif section == "svc" and len(parts) >= 2:
            stats.services[parts[0]] = len(parts) >= 3 and parts[2] == "active"
            stats.service_method = parts[1]
    stats.memory_total, stats.memory_available = mem.get("MemTotal"), mem.get("MemAvailable")
    if len(load_lines) >= 2:
        stats.load1, stats.cpus = float(load_lines[0]), int(load_lines[1])
    return stats


class SshHostOptions(HostOptions):
    """Host limits, plus how long to wait for the SSH server."""

    connect_timeout: float = Field(8.0, gt=0, le=120, description="seconds to wait for connect and command")


class SshHostCheck(Check):
    """Read a Linux host's disks, memory, load and services over SSH."""

    Options = SshHostOptions
    description = "disk use per mount, memory, load and named services of a host, over SSH"

    def applies(self, device: Device) -> bool:
        return device.ssh is not None

    def services(self, device: Device) -> list[str]:
        """Return the services to check: the device's oti_services plus the options'."""
        names = list(dict.fromkeys([*device.services, *self.options.services]))
        bad = [n for n in names if not SERVICE_NAME.match(n)]
        if bad:
            raise ConfigError(f"device {device.name}: invalid service name(s) {bad}")
        return names

    async def collect(self, device: Device, ctx: ProbeContext) -> HostStats:
        command = _SCRIPT.replace("{services}", " ".join(self.services(device)))
        _status, text, _err = await ctx.ssh(device, command, self.options.connect_timeout)
        return parse_output(text)

    def evaluate(self, raw: HostStats, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        return host_readings(raw, self.options, device.thresholds, previous)
