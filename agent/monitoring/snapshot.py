"""The in-memory view of the latest results, read by the exporter on every scrape (no IO there)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from agent.core.inventory import Inventory
from agent.core.results import CheckResult, State


@dataclass
class CheckCounters:
    """Runs and errors of one (check, device) since the daemon started."""

    runs: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Snapshot:
    """Latest CheckResult per (check, device), plus counters; safe to read from another thread."""

    def __init__(self, inventory: Inventory, snmp_counts: Callable[[], dict[tuple[str, int], int]] = dict):
        self.inventory = inventory
        self._snmp_counts = snmp_counts       # the SNMP client's malformed datagrams per (host, port)
        self.syslog_stats: Callable[[], dict[str, int]] = dict             # the syslog receiver's counts
        self.trap_stats: Callable[[], tuple[dict[tuple[str, str], int], int]] = lambda: ({}, 0)   # the receiver's
        self.extra: list[Callable[[], str]] = []      # other families' exposition text (the power policy's state)
        self._lock = threading.Lock()
        self._results: dict[tuple[str, str], CheckResult] = {}
        self._rendered: dict[tuple[str, str], object] = {}      # each result's /metrics lines, made on arrival
        self._counters: dict[tuple[str, str], CheckCounters] = defaultdict(CheckCounters)

    def update(self, results: list[CheckResult]) -> None:
        """Replace the latest results of these (check, device) pairs, render their /metrics lines, count runs."""
        from exporters.prometheus import render

        devices = self.inventory.by_name
        made = []
        for r in results:
            dev = devices.get(r.device)
            made.append(render(r, dev.kind if dev else "", dev.site if dev else ""))
        with self._lock:
            for r, rendered in zip(results, made, strict=True):
                key = (r.check, r.device)
                # the readings live on as rendered text: the result is kept for its health (up, duration)
                self._results[key] = replace(r, readings=[])
                self._rendered[key] = rendered
                counters = self._counters[key]
                counters.runs += 1
                if not r.up:
                    counters.errors[r.error_kind or "internal"] += 1

    def view(self) -> tuple[list[CheckResult], dict[tuple[str, str], CheckCounters]]:
        """Return a consistent copy of the results (their health: up, error, duration; not their readings,
        which are kept only as /metrics text) and counters."""
        with self._lock:
            counters = {k: CheckCounters(v.runs, dict(v.errors)) for k, v in self._counters.items()}
            return list(self._results.values()), counters

    def exposition(self) -> bytes:
        """The /metrics text: the pieces rendered when the results came, joined (no formatting of readings)."""
        from exporters.prometheus import exposition, health_text

        with self._lock:
            rendered = sorted(self._rendered.items())
            results = list(self._results.values())
            counters = {k: CheckCounters(v.runs, dict(v.errors)) for k, v in self._counters.items()}
        worst: dict[str, State] = {}
        for (_check, device), r in rendered:
            worst[device] = State.worst([worst.get(device, State.OK), r.worst])
        health = health_text(results, counters, self.inventory.by_name, worst, self.snmp_malformed(),
                             self.trap_stats(), self.syslog_stats())
        return exposition(rendered, health + "".join(part() for part in self.extra))

    def snmp_malformed(self) -> dict[str, int]:
        """Return the malformed SNMP datagrams per device, for devices the v2c client has polled.

        The client counts per (host, port), where datagrams come from; devices that share one
        (a simulator serving several communities) share its count."""
        counts = self._snmp_counts()
        return {d.name: counts[(d.address, d.snmp.port)] for d in self.inventory
                if d.snmp and (d.address, d.snmp.port) in counts}
