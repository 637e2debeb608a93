"""The `wait_until` step: poll a probe on every target until a condition holds, or fail when time runs out.

"Every server in the cabinet is off" (activity 10), "every physical server is on" (23),
"every database answers" (25)."""

from __future__ import annotations

from agent.core.inventory import Device
from agent.runbook import conditions
from agent.runbook.kinds import StepContext, StepFailed, StepKind
from agent.runbook.model import Condition


class WaitUntil(StepKind):
    """Wait until a condition holds on each target."""

    Options = Condition
    needs_targets = True
    estimate_s = 10.0

    def describe(self, options: Condition) -> str:
        return f"espera hasta {conditions.describe(options)} (máx. {options.within:g} s)"

    async def run(self, ctx: StepContext, target: Device) -> str:
        cond = ctx.options
        for key in ("url", "command"):             # a URL or a command from the run's parameters
            value = getattr(cond, key)
            if value and "{{" in value:
                cond = cond.model_copy(update={key: ctx.render(value, target)})
        if await conditions.wait_for(cond, target, ctx.probes):
            return f"{target.name}: {conditions.describe(cond)}"
        raise StepFailed(f"{target.name}: no se cumplió «{conditions.describe(cond)}» en {cond.within:g} s")

    async def check(self, ctx: StepContext, target: Device) -> bool | None:
        return await conditions.holds(ctx.options, target, ctx.probes)
