"""The contract every check plugin follows: IO in `collect`, a pure `evaluate`.

A plugin subclasses `Check`, declares its `Options` model (unknown keys rejected) and registers
under the `oti_agent.checks` entry point group. The runner calls `collect` under a timeout and a
concurrency limit, then `evaluate` with the previous states so thresholds keep their hysteresis.
Devices are reached through `agent/transports/`, which turn every library's errors into
`agent.errors.CheckError` subclasses; a check adds only what its own data means.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.transports.context import ProbeContext

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from agent.errors import Problem

__all__ = ["Check", "NoOptions", "ProbeContext"]


class NoOptions(BaseModel):
    """A check that takes no options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Check:
    """Base of all probes. Subclasses set `Options` and implement `applies`, `collect`, `evaluate`."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    description: ClassVar[str] = ""

    def __init__(self, options: BaseModel | None = None):
        self.options = options if options is not None else self.Options()
        self.log = logging.getLogger(f"checks.{self.name or type(self).__name__}")

    @classmethod
    def settings_problems(cls, settings: Settings) -> list[Problem]:
        """Validate what this check owns in a loaded config (the SNMP profiles devices name); may keep
        what it loaded in `settings.data` for the probes."""
        return []

    def applies(self, device: Device) -> bool:
        """Return whether this check can run on the device (e.g. it has SNMP access)."""
        return True

    async def collect(self, device: Device, ctx: ProbeContext) -> Any:
        """Fetch raw data from the device; raise CheckError subclasses on failure."""
        raise NotImplementedError

    def evaluate(self, raw: Any, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        """Turn raw data into readings with states; pure, no IO."""
        raise NotImplementedError
