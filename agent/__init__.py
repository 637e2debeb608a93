"""oti-agent: the infrastructure-operations agent of an IT office (OTI)."""

from agent.core.results import CheckResult, Reading, State
from agent.errors import (
    AgentError,
    CheckError,
    ConfigError,
    InventoryError,
    PluginNotFound,
    ProbeAuthFailed,
    ProbeTimeout,
    ProbeUnavailable,
)

__all__ = [
    "AgentError",
    "CheckError",
    "CheckResult",
    "ConfigError",
    "InventoryError",
    "PluginNotFound",
    "ProbeAuthFailed",
    "ProbeTimeout",
    "ProbeUnavailable",
    "Reading",
    "State",
]
__version__ = "0.1.0"
