"""What the HTTP API serves from: the daemon's own services, handed over when the daemon builds the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.core.people import People
from agent.core.settings import Settings
from agent.store import Store


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    """The daemon's services as the API sees them (None where a service is not running: a test's app)."""

    settings: Settings
    store: Store
    auth: Any                                  # agent.people.auth.Authenticator
    runs: Any = None                           # agent.runbook.service.RunService
    snapshot: Any = None                       # agent.monitoring.snapshot.Snapshot
    alerts: Any = None                         # agent.alerts.AlertBook
    metrics: Any = None                        # the /metrics ASGI app (exporters.prometheus)
    clock: Callable[[], datetime] = field(default=_now)

    @property
    def people(self) -> People:
        return self.settings.people
