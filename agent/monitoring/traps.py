"""What the daemon does with a trap: name it, count it, and poll the device that sent it at once.

The trap itself is not trusted to say the device's state (a trap can be lost, repeated or late, and
"on battery" says nothing of the run time left): it says *when* to look. The poll that follows raises or
resolves the alert through the usual path, seconds after the event instead of at the next interval.
Traps from an address no device of the inventory has are counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from agent.core.inventory import Inventory
from agent.monitoring.addresses import devices_by_address
from agent.transports.snmp.traps import Notification, TrapReceiver

_LOGGER = logging.getLogger(__name__)

# Notifications worth a name in the log and in /metrics (others are counted under their OID).
TRAP_NAMES = {
    "1.3.6.1.6.3.1.1.5.1": "coldStart", "1.3.6.1.6.3.1.1.5.2": "warmStart", "1.3.6.1.6.3.1.1.5.3": "linkDown",
    "1.3.6.1.6.3.1.1.5.4": "linkUp", "1.3.6.1.6.3.1.1.5.5": "authenticationFailure",
    # UPS-MIB (RFC 1628)
    "1.3.6.1.2.1.33.2.1": "upsTrapOnBattery", "1.3.6.1.2.1.33.2.2": "upsTrapTestCompleted",
    "1.3.6.1.2.1.33.2.3": "upsTrapAlarmEntryAdded", "1.3.6.1.2.1.33.2.4": "upsTrapAlarmEntryRemoved",
    # PowerNet-MIB (APC): enterprise 318, specific traps
    "1.3.6.1.4.1.318.0.5": "upsOnBattery", "1.3.6.1.4.1.318.0.7": "lowBattery",
    "1.3.6.1.4.1.318.0.9": "powerRestored", "1.3.6.1.4.1.318.0.2": "upsOverload",
    "1.3.6.1.4.1.318.0.3": "upsDiagnosticsFailed", "1.3.6.1.4.1.318.0.11": "returnFromLowBattery",
    # LIEBERT-GP-NOTIFICATIONS-MIB: a condition entered or left
    "1.3.6.1.4.1.476.1.42.3.3.0.1": "lgpEventTableEntryAdded",
    "1.3.6.1.4.1.476.1.42.3.3.0.2": "lgpEventTableEntryDeleted",
}
UNKNOWN_SENDER = "unknown"


def trap_name(oid: str) -> str:
    return TRAP_NAMES.get(oid.strip("."), oid.strip(".") or "sin snmpTrapOID")


class TrapListener:
    """Receive traps for the daemon and poll the sending device (at most once per `min_gap` seconds)."""

    def __init__(self, settings, poll_device: Callable[[str], Awaitable[None]], clock=time.monotonic):
        cfg = settings.config
        self.section = cfg.traps
        creds = cfg.credentials.snmp or {}
        chosen = creds if self.section.credentials is None else {n: creds[n] for n in self.section.credentials}
        self.receiver = TrapReceiver(chosen, cfg.base_dir, self._on_trap)
        self.poll_device, self.clock = poll_device, clock
        self.by_address = _addresses(settings.inventory)
        self.counts: Counter[tuple[str, str]] = Counter()      # (device or "unknown", trap name) -> traps
        self._last_poll: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> tuple[str, int]:
        address = self.receiver.start(self.section.listen, self.section.port)
        _LOGGER.info("traps: listening on %s:%d/udp for %d devices", address[0], address[1], len(self.by_address))
        return address

    def _on_trap(self, trap: Notification) -> None:
        name = trap_name(trap.trap_oid)
        devices = self.by_address.get(trap.address, [])
        if not devices:
            self.counts[(UNKNOWN_SENDER, name)] += 1
            _LOGGER.debug("trap %s from %s: no device of the inventory has that address; dropped", name,
                          trap.address)
            return
        for device in devices:
            self.counts[(device, name)] += 1
            now = self.clock()
            if now - self._last_poll.get(device, float("-inf")) < self.section.min_gap:
                continue
            self._last_poll[device] = now
            _LOGGER.info("trap %s from %s (%s): polling it now", name, device, trap.address)
            task = asyncio.get_running_loop().create_task(self.poll_device(device))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def stats(self) -> tuple[dict[tuple[str, str], int], int]:
        """(traps by device and name, datagrams dropped), for /metrics."""
        return dict(self.counts), self.receiver.dropped

    async def close(self) -> None:
        self.receiver.close()
        for task in list(self._tasks):
            task.cancel()


def _addresses(inventory: Inventory) -> dict[str, list[str]]:
    """Device names by the IPv4 address their traps come from (the devices that speak SNMP)."""
    return devices_by_address([d for d in inventory if getattr(d, "snmp", None) is not None], "traps")
