"""Runbooks the daemon starts by itself: `schedules:` (on a calendar) and `policies:` (when a condition on
readings holds). The models of the config sections; the runtime is agent/runbook/schedules.py and
agent/runbook/policies.py. (Placeholder shapes: to be completed.)"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ScheduleSpec(_Model):
    """A runbook started on a calendar."""

    name: str
    runbook: str
    params: dict[str, str | int | float | bool] = {}


class PolicySpec(_Model):
    """A runbook started when a condition on readings holds."""

    name: str
    runbook: str
    params: dict[str, str | int | float | bool] = {}
