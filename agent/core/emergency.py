"""A policy's emergency rules: what becomes of the approvals of a run it starts — which expire and how
(an approval the policy declares given when nobody answers in time, a No, or the question escalated), and
which are waived (journalled as waived by the policy). Written in the config, never implied."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.core.config_daemon import Duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpiryRule(_Model):
    """What becomes of an approval of a run started by a policy when nobody answers in time."""

    expire_after: Duration
    on_expiry: Literal["approve", "reject", "escalate"]
    escalate_to: str | None = Field(None, description="the role asked next, for on_expiry: escalate")

    @model_validator(mode="after")
    def _escalation(self) -> ExpiryRule:
        if self.on_expiry == "escalate" and not self.escalate_to:
            raise ValueError("on_expiry: escalate needs escalate_to (the role asked next)")
        if self.on_expiry != "escalate" and self.escalate_to:
            raise ValueError(f"escalate_to is only for on_expiry: escalate (this one is {self.on_expiry})")
        return self


class Emergency(_Model):
    """The rules of a run a policy starts, written here, never implied: approvals that expire (step id ->
    rule) and approvals this policy waives (each recorded as waived by the policy)."""

    approvals: dict[str, ExpiryRule] = {}
    skip_approvals: list[str] = []

    @model_validator(mode="after")
    def _disjoint(self) -> Emergency:
        both = sorted(set(self.approvals) & set(self.skip_approvals))
        if both:
            raise ValueError(f"skip_approvals: {', '.join(both)} also in approvals; a step is waived or "
                             "expires, not both")
        if len(set(self.skip_approvals)) != len(self.skip_approvals):
            raise ValueError("skip_approvals: a step id is repeated")
        return self
