"""What a transport declares: the inventory key it reads and the credentials it takes.

A transport is one module under `agent/transports/` (one protocol: its client, its library's errors
mapped to `agent.errors`, and these two models), registered under the `oti_agent.transports` entry
point group. The inventory's `oti_<name>` host variable is validated with `access`; the config's
`credentials.<name>` entries with `credential`. Nothing else in `agent/` needs an edit for a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class AccessModel(BaseModel):
    """Base of every `oti_<transport>` inventory model: unknown keys are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialModel(BaseModel):
    """Base of every credential model (secrets are references: `${ENV}` or `file:PATH`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Transport:
    """A protocol's inventory access and credential models."""

    name: str                        # inventory key oti_<name>, config section credentials.<name>
    description: str
    access: type[BaseModel] | None = None
    credential: Any = None           # a model, or an annotated union of models (SNMP v2c | v3)

    @property
    def inventory_key(self) -> str:
        return f"oti_{self.name}"
