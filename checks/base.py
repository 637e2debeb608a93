"""The contract every check plugin follows: IO in `collect`, a pure `evaluate`.

A plugin subclasses `Check`, declares its `Options` model (unknown keys rejected) and registers
under the `oti_agent.checks` entry point group. The runner calls `collect` under a timeout and a
concurrency limit, then `evaluate` with the previous states so thresholds keep their hysteresis.
Third-party exceptions are translated into `agent.errors.CheckError` subclasses here, at the edge.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agent.config import AgentConfig
from agent.inventory import Device
from agent.results import Reading, State


class NoOptions(BaseModel):
    """A check that takes no options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class ProbeContext:
    """What probes share: the config (credentials), profiles, thread pool and transports."""

    config: AgentConfig
    ssh_pool: ThreadPoolExecutor
    services: dict[str, Any] = field(default_factory=dict)   # long-lived clients, by name (e.g. 'snmp')

    @classmethod
    def for_settings(cls, settings, pool: ThreadPoolExecutor) -> ProbeContext:
        """Return a context for a loaded config, with its SNMP profiles already in place."""
        ctx = cls(settings.config, pool)
        ctx.services["snmp.profiles"] = settings.profiles
        return ctx

    def store(self):
        """The agent's store: the daemon's own when it runs one, else opened from the config once."""
        from agent.store import Store

        return self.service("store", lambda: Store(self.config.store.url, self.config.base_dir))

    def service(self, name: str, factory):
        """Return a shared long-lived object, creating it on first use."""
        if name not in self.services:
            self.services[name] = factory()
        return self.services[name]

    async def aclose(self) -> None:
        """Close every shared client that knows how to close."""
        for svc in self.services.values():
            close = getattr(svc, "aclose", None) or getattr(svc, "close", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        self.services.clear()


class Check:
    """Base of all probes. Subclasses set `Options` and implement `applies`, `collect`, `evaluate`."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    description: ClassVar[str] = ""

    def __init__(self, options: BaseModel | None = None):
        self.options = options if options is not None else self.Options()
        self.log = logging.getLogger(f"checks.{self.name or type(self).__name__}")

    def applies(self, device: Device) -> bool:
        """Return whether this check can run on the device (e.g. it has SNMP access)."""
        return True

    async def collect(self, device: Device, ctx: ProbeContext) -> Any:
        """Fetch raw data from the device; raise CheckError subclasses on failure."""
        raise NotImplementedError

    def evaluate(self, raw: Any, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        """Turn raw data into readings with states; pure, no IO."""
        raise NotImplementedError
