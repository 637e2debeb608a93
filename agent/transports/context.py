"""What probes and steps share while they talk to devices: the config, a thread pool, long-lived clients.

Blocking clients (paramiko, pywinrm, python-oracledb) run in the bounded pool, never on the event
loop. Long-lived clients (the SNMP socket, the pysnmp engine, the store a probe reads) are services
created on first use and closed with the context.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.core.config import AgentConfig


# The timeout of the job running in this task (set by the runner): time spent waiting for a free thread
# is given back to it, so a healthy device queued behind dead ones is not reported down.
JOB_TIMEOUT: contextvars.ContextVar[asyncio.Timeout | None] = contextvars.ContextVar("job_timeout", default=None)


@dataclass
class ProbeContext:
    """The config (credentials), the probe thread pool, and shared services by name."""

    config: AgentConfig
    ssh_pool: ThreadPoolExecutor | None
    services: dict[str, Any] = field(default_factory=dict)
    factories: dict[str, Callable[[], Any]] = field(default_factory=dict)   # how to make a service on first use

    def service(self, name: str, factory: Callable[[], Any] | None = None):
        """Return a shared long-lived object, creating it on first use."""
        if name not in self.services:
            make = factory or self.factories.get(name)
            if make is None:
                raise LookupError(f"no service {name!r} in this context")
            self.services[name] = make()
        return self.services[name]

    def store(self):
        """The agent's store (the daemon's own, or one opened for this context by whoever made it)."""
        return self.service("store")

    async def blocking(self, fn: Callable, *args):
        """Run a blocking call in the probe pool; the wait for a free thread does not count against the job's
        timeout (DESIGN.md: a job's timeout never counts time spent waiting for a thread)."""
        loop = asyncio.get_running_loop()
        slots, timeout = self._slots(loop), JOB_TIMEOUT.get()
        deadline = timeout.when() if timeout is not None else None
        if deadline is not None:
            timeout.reschedule(None)             # the clock stops while it waits for a thread...
        queued = loop.time()
        try:
            await slots.acquire()
        finally:
            if deadline is not None:             # ...and runs again, the wait given back, once it has one
                timeout.reschedule(deadline + loop.time() - queued)
        try:
            return await loop.run_in_executor(self.ssh_pool, fn, *args)
        finally:
            slots.release()

    def _slots(self, loop) -> asyncio.Semaphore:
        """One slot per pool thread, per event loop: a call waits here, visibly, not inside the executor."""
        found = self.services.get(("threads", id(loop)))
        if found is None:
            workers = getattr(self.ssh_pool, "_max_workers", 1) if self.ssh_pool is not None else 1
            found = self.services[("threads", id(loop))] = asyncio.Semaphore(workers)
        return found

    async def ssh(self, device, command: str, timeout: float) -> tuple[int, str, str]:
        """Run one command on a device over SSH, in the pool; return (exit status, stdout, stderr)."""
        from agent.transports.ssh import run_command

        return await self.blocking(run_command, device, self.config, command, timeout)

    def snmp_malformed(self) -> dict[tuple[str, int], int]:
        """The SNMP client's unusable datagrams per (host, port) so far (none before its first poll)."""
        client = self.services.get("snmp.v2c")
        return client.malformed_counts() if client is not None else {}

    async def aclose(self) -> None:
        """Close every shared client that knows how to close."""
        for svc in self.services.values():
            close = getattr(svc, "aclose", None) or getattr(svc, "close", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        self.services.clear()
