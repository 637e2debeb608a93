"""Step kinds: one module each under `agent/steps/`, registered as `oti_agent.steps` entry points.

A kind declares its `Options` (the step's `with:`), whether it needs targets, and implements
`run()` for one target (or once, for kinds without targets). `check()` is the kind's own
post-condition (an IPMI power state, a decision in the journal): the engine uses it on resume to
tell whether an action that was running when the agent died took effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agent.core import plugins
from agent.errors import StepFailed
from agent.runbook import template as templates

if TYPE_CHECKING:
    from agent.core.inventory import Device
    from agent.core.settings import Settings
    from agent.runbook.journal import Journal
    from agent.runbook.model import Runbook, Step
    from agent.transports.context import ProbeContext

__all__ = ["NoOptions", "StepContext", "StepFailed", "StepKind", "StepOptions", "kind_names", "load_kind"]


class StepOptions(BaseModel):
    """Base of every kind's options: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(StepOptions):
    """A kind without options."""


@dataclass
class StepContext:
    """Everything a step needs while it runs."""

    run_id: str
    runbook: Runbook
    step: Step
    options: Any
    params: dict[str, Any]
    started_by: str
    settings: Settings
    journal: Journal
    probes: ProbeContext
    cancel: asyncio.Event
    targets: list[Device] = field(default_factory=list)
    progress: Callable[[str, str | None, str, str], None] = lambda *a: None   # the CLI's live view
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("agent.runbook"))
    asking: Any = None           # the daemon's Asker (agent/runbook/asking.py): mails the people a step waits for
    trigger: dict[str, Any] = field(default_factory=dict)   # why the run started; a policy's emergency rules

    def who(self, login: str | None = None) -> str:
        """A person as records name them, "Luis Quispe (luis)" (the run's initiator by default)."""
        login = login or self.started_by
        person = self.settings.people.person(login)
        return f"{person.name} ({login})" if person else login

    def render(self, template: str, target: Device | None = None) -> str:
        """Render a Jinja2 string with params, facts, run and target (StrictUndefined: a typo is an error;
        `| q` quotes a value for the shell)."""
        facts = self.journal.facts(self.run_id) if "facts" in template else {}
        return templates.render(template, params=self.params, run_id=self.run_id, target=target,
                                step=self.step, runbook=self.runbook, facts=facts)


class StepKind:
    """Base of step kinds."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_targets: ClassVar[bool] = False
    waits_for_person: ClassVar[bool] = False      # approval, confirm: the run waits for a CLI answer
    touches_power: ClassVar[bool] = False         # counted in the kill -9 tests; never repeated blindly
    idempotent: ClassVar[bool] = False            # safe to run again after an interruption, without asking
    batch: ClassVar[bool] = False                 # act once on all targets (ansible) instead of per target
    estimate_s: ClassVar[float] = 1.0             # default duration of one wave, for the plan's critical path

    def describe(self, options: Any) -> str:
        """Return a one-line description for `oti-agent plan`."""
        return ""

    def target_problems(self, options: Any, targets: list[Device], settings: Settings) -> list[str]:
        """What would stop this step on these targets, found before anything runs (`plan` refuses it)."""
        return []

    def param_problems(self, options: Any, params: dict[str, Any]) -> list[str]:
        """What would stop this step with these parameters, found before anything runs (`plan` refuses it)."""
        return []

    async def run(self, ctx: StepContext, target: Device | None) -> str:
        """Act once on one target (or once, without targets); return what was done, in Spanish."""
        raise NotImplementedError

    async def check(self, ctx: StepContext, target: Device | None) -> bool | None:
        """Return whether the action's effect is present (True/False), or None if this kind cannot tell."""
        return None


def kind_names() -> list[str]:
    """Return the registered step kinds."""
    return plugins.names("steps")


def load_kind(name: str) -> type[StepKind]:
    """Return the step kind class registered under `name` (an unknown one lists the known)."""
    return plugins.step_kind(name)
