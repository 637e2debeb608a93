"""The one exception hierarchy of oti-agent.

    AgentError
     ├── ConfigError          bad config file (carries every problem found, each with file, path, line)
     ├── InventoryError       bad inventory file or unknown device / group
     ├── PluginNotFound       a check name nobody registered (lists the known names)
     ├── StoreError           the store cannot be opened or migrated
     └── CheckError           a probe failed; raised at the plugin edge, never above it
          ├── ProbeTimeout      the device did not answer in time (retry next run)
          ├── ProbeUnavailable  refused, unreachable, malformed answer (retry next run)
          └── ProbeAuthFailed   wrong credentials or host key (flag the target; a person must act)

Third-party exceptions (pysnmp, paramiko, httpx) are translated into these once, in `checks/`.
A message says what failed, where, and what to do next; it never carries a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentError(Exception):
    """Base of every error oti-agent reports to a user."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a file: where it is and what is wrong."""

    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '<root>'}: {self.message}"


class ConfigError(AgentError):
    """The configuration (or a file it names) is invalid."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(file="", path="", line=None, message=problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InventoryError(ConfigError):
    """The inventory is invalid, or a selector names nothing."""


class PluginNotFound(AgentError, KeyError):
    """No check plugin is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StoreError(AgentError):
    """The store could not be opened, migrated or written."""


class CheckError(AgentError):
    """A probe failed on one target."""


class ProbeTimeout(CheckError):
    """The target did not answer within the probe's timeout."""


class ProbeUnavailable(CheckError):
    """The target refused, was unreachable, or answered something unusable."""


class ProbeAuthFailed(CheckError):
    """Credentials or host key were rejected; polling stops until a person fixes it."""
