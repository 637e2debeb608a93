"""What probes and steps share while they talk to devices: the config, a thread pool, long-lived clients.

Blocking clients (paramiko, pywinrm, python-oracledb) run in the bounded pool, never on the event
loop. Long-lived clients (the SNMP socket, the pysnmp engine, the store a probe reads) are services
created on first use and closed with the context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.core.config import AgentConfig


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
        """Run a blocking call in the probe pool."""
        return await asyncio.get_running_loop().run_in_executor(self.ssh_pool, fn, *args)

    async def ssh(self, device, command: str, timeout: float) -> tuple[int, str, str]:
        """Run one command on a device over SSH, in the pool; return (exit status, stdout, stderr)."""
        from agent.transports.ssh import run_command

        return await self.blocking(run_command, device, self.config, command, timeout)

    async def aclose(self) -> None:
        """Close every shared client that knows how to close."""
        for svc in self.services.values():
            close = getattr(svc, "aclose", None) or getattr(svc, "close", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        self.services.clear()
