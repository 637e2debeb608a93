"""Steps a person answers from another terminal: `approval` and `confirm`.

The run waits, polling the journal, until `oti-agent approve` or `oti-agent confirm` records a
decision. The decision (who, when, comment, readings entered) stays in the journal and feeds the
checklists.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from agent.runbook.kinds import StepContext, StepFailed, StepKind, StepOptions

POLL_S = 0.25


class ApprovalOptions(StepOptions):
    """Who must approve."""
    role: str = Field(description="the approver's role: jefa, gg, jefe_unidad...")
    distinct_from: list[str] = Field([], description="approval steps whose approver must be someone else")


class Approval(StepKind):
    """Wait for a person in a role to approve; a rejection fails the step."""

    Options = ApprovalOptions
    waits_for_person = True
    estimate_s = 0.0

    def describe(self, options: ApprovalOptions) -> str:
        return f"aprobación del rol {options.role}"

    async def run(self, ctx: StepContext, target) -> str:
        decision = await _await_decision(ctx, "approval", "awaiting_approval",
                                         f"espera aprobación de {ctx.options.role}")
        comment = f" — {decision['comment']}" if decision["comment"] else ""
        if decision["decision"] != "approved":
            raise StepFailed(f"rechazado por {decision['by']} ({ctx.options.role}){comment}")
        return f"aprobado por {decision['by']} ({ctx.options.role}){comment}"

    async def check(self, ctx: StepContext, target) -> bool | None:
        decision = _last(ctx, "approval")
        return bool(decision) and decision["decision"] == "approved"


class ConfirmOptions(StepOptions):
    """What the person must do and report."""
    prompt: str = Field(description="what the person must do, in Spanish")
    values: list[str] = Field([], description="readings the person must enter (e.g. temperatura_sala)")


class Confirm(StepKind):
    """Wait for a person to confirm a physical action the agent cannot do; `verify` can check a sensor."""

    Options = ConfirmOptions
    waits_for_person = True
    estimate_s = 60.0

    def describe(self, options: ConfirmOptions) -> str:
        return f"confirmación manual: {options.prompt}"

    async def run(self, ctx: StepContext, target) -> str:
        decision = await _await_decision(ctx, "confirm", "awaiting_confirmation", ctx.options.prompt)
        missing = [v for v in ctx.options.values if v not in decision["values"]]
        if missing:
            raise StepFailed(f"faltan lecturas: {', '.join(missing)}")
        values = ", ".join(f"{k}={v}" for k, v in decision["values"].items())
        return f"confirmado por {decision['by']}" + (f" ({values})" if values else "")

    async def check(self, ctx: StepContext, target) -> bool | None:
        return bool(_last(ctx, "confirm"))


async def _await_decision(ctx: StepContext, kind: str, status: str, message: str) -> dict:
    """Mark the step and the run as waiting on a person, then poll the journal until a decision comes."""
    ctx.journal.set_step(ctx.run_id, ctx.step.id, status, message)
    ctx.journal.set_run(ctx.run_id, status, f"{ctx.step.id}: {message}")
    ctx.progress(ctx.step.id, None, status, message)
    while (decision := _last(ctx, kind)) is None:
        await asyncio.sleep(POLL_S)
    ctx.journal.set_run(ctx.run_id, "running", "")
    return decision


def _last(ctx: StepContext, kind: str) -> dict | None:
    found = ctx.journal.decisions(ctx.run_id, ctx.step.id, kind=kind)
    return found[-1] if found else None
