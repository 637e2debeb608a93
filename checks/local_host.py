"""The `local_host` check: the machine the agent runs on, read with psutil (no SSH)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import psutil

from agent.core.inventory import Device
from agent.core.results import Reading, State
from checks.base import Check, ProbeContext
from checks.hostmetrics import HostOptions, HostStats, host_readings

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}


def read_local(services: list[str]) -> HostStats:
    """Read this machine's disks, memory, load and processes (blocking; a disk may be slow)."""
    stats = HostStats(service_method="process")
    for part in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        stats.filesystems[part.mountpoint] = (float(usage.total), float(usage.used))
    mem = psutil.virtual_memory()
    stats.memory_total, stats.memory_available = float(mem.total), float(mem.available)
    stats.load1, stats.cpus = os.getloadavg()[0], psutil.cpu_count() or 1
    if services:
        running = {p.info["name"] for p in psutil.process_iter(["name"])}
        stats.services = {s: s in running for s in services}
    return stats


class LocalHostCheck(Check):
    """Read the agent's own host with psutil."""

    Options = HostOptions
    description = "disk, memory, load and processes of the machine the agent runs on"

    def applies(self, device: Device) -> bool:
        return device.address in LOCAL_ADDRESSES or device.address == socket.gethostname()

    async def collect(self, device: Device, ctx: ProbeContext) -> HostStats:
        services = list(dict.fromkeys([*device.services, *self.options.services]))
        return await asyncio.to_thread(read_local, services)

    def evaluate(self, raw: HostStats, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        return host_readings(raw, self.options, device.thresholds, previous)
