"""Steps a person answers: `approval`, `confirm`, and `program` (activity 1: the date a shutdown is for).

The run waits, polling the journal, until a decision is recorded there. Who may record it is decided by
the daemon (agent/runbook/service.py: the role, a deputy in force, never the run's initiator) — a step only
reads what was decided. In the daemon the step also has people asked: `ctx.asking` mails the holders of
the role a signed link, reminds them, and applies the declared outcome when nobody answers in time.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, model_validator

from agent.core.config import Duration
from agent.errors import SentBack
from agent.runbook.kinds import StepContext, StepFailed, StepKind, StepOptions

POLL_S = 0.25


class ApprovalOptions(StepOptions):
    """Who must approve, and what happens on a No or on silence."""
    role: str = Field(description="the approver's role: jefa, gg, jefe_uuoo...")
    unit: str | None = Field(None, description="for jefe_uuoo: the unit (a template: \"{{ params.unidad }}\")")
    distinct_from: list[str] = Field([], description="approval steps whose approver must be someone else")
    on_reject: str | None = Field(None, description="a No sends the run back to this earlier step (the manual's "
                                  "'Solicita reprogramación. Regresa a la actividad 1') instead of failing it")
    tell: list[str] = Field([], description="roles told of the decision (GG's answer to the jefa)")
    justification: str | None = Field(None, description="what the mail says it is for (a template)")
    remind_every: Duration | None = Field(None, description="mail the people asked again this often")
    expire_after: Duration | None = Field(None, description="if nobody has answered after this long ...")
    on_expiry: Literal["reject", "escalate"] = Field("reject", description="... it is a No, or it is asked of "
                                                    "escalate_to (the manual's 'escala a GG')")
    escalate_to: str | None = None

    @model_validator(mode="after")
    def _escalation(self):
        if self.on_expiry == "escalate" and not self.escalate_to:
            raise ValueError("on_expiry: escalate needs escalate_to (a role)")
        if self.on_expiry == "escalate" and self.expire_after is None:
            raise ValueError("on_expiry: escalate needs expire_after (when to escalate)")
        return self


class Approval(StepKind):
    """Wait for a holder of a role to approve; a No fails the step, or sends the run back (`on_reject`)."""

    Options = ApprovalOptions
    waits_for_person = True
    estimate_s = 0.0

    def describe(self, options: ApprovalOptions) -> str:
        return f"aprobación del rol {options.role}" + (f" (un No vuelve a {options.on_reject})"
                                                      if options.on_reject else "")

    async def run(self, ctx: StepContext, target) -> str:
        waived = _waived(ctx)
        if waived and not _last(ctx, "approval"):
            ctx.journal.add_decision(ctx.run_id, ctx.step.id, "approval", "agente", "approved",
                                     role=ctx.options.role, comment=waived, channel="agent")
        elif ctx.asking is not None and not _last(ctx, "approval"):
            await ctx.asking.ask(ctx)
        decision = await _await_decision(ctx, "approval", "awaiting_approval",
                                         f"espera aprobación de {ctx.options.role}")
        if ctx.asking is not None:
            await ctx.asking.decided(ctx, decision)
        comment = f" — {decision['comment']}" if decision["comment"] else ""
        who = f"{decision['by']} ({ctx.options.role}{', encargado' if decision.get('held_as') == 'encargado' else ''})"
        if decision["decision"] != "approved":
            if _in_emergency_rules(ctx):        # a policy's window to cancel: a No stops the run, no new round
                raise StepFailed(f"rechazado por {who}{comment}: la ejecución de la política "
                                 f"{ctx.trigger.get('policy', '?')} se cancela")
            if ctx.options.on_reject:
                raise SentBack(ctx.options.on_reject, f"rechazado por {who}{comment}; vuelve a "
                                                      f"{ctx.options.on_reject}")
            raise StepFailed(f"rechazado por {who}{comment}")
        return f"aprobado por {who}{comment}"

    async def check(self, ctx: StepContext, target) -> bool | None:
        decision = _last(ctx, "approval")
        return bool(decision) and decision["decision"] == "approved"


class ConfirmOptions(StepOptions):
    """What the person must do and report, and who may confirm it."""
    prompt: str = Field(description="what the person must do, in Spanish")
    values: list[str] = Field([], description="readings the person must enter (e.g. temperatura_sala)")
    roles: list[str] = Field([], description="who may confirm it (activity 28: coordinador, especialista_sid); "
                             "empty: any operator (especialistas, coordinador, jefa)")
    evidence: bool = Field(False, description="the console lets the person attach files (photos, a report), kept "
                           "with their SHA-256 and cited in the value `evidencias`")


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


class ProgramOptions(StepOptions):
    """Activity 1: the date something is programmed for — from the run's parameter, or asked again after a
    No sent the run back here."""
    param: str = Field(description="the runbook parameter that holds the date (fecha_programada)")
    text: str = Field(description="the checklist line; `{{ facts.<param> }}` is the date in force")
    roles: list[str] = Field([], description="who gives a new date (empty: any operator)")
    unset: list[str] = Field(["", "por definir"], description="values of the parameter that mean 'no date yet'")


class Program(StepKind):
    """Record the programmed date; after a rejection (or with no date given) ask a person for a new one."""

    Options = ProgramOptions
    waits_for_person = True
    estimate_s = 0.0

    def describe(self, options: ProgramOptions) -> str:
        return f"programa la fecha ({options.param})"

    async def run(self, ctx: StepContext, target) -> str:
        opts = ctx.options
        given = str(ctx.params.get(opts.param, "")).strip()
        sent_back = ctx.journal.sent_back(ctx.run_id, ctx.step.id)
        if sent_back or given.lower() in opts.unset:
            why = "solicita reprogramación" if sent_back else "sin fecha programada"
            decision = await _await_decision(ctx, "confirm", "awaiting_confirmation",
                                             f"{why}: indique la nueva fecha ({opts.param})")
            given = str(decision["values"].get(opts.param, "")).strip()
            if not given:
                raise StepFailed(f"falta {opts.param}")
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {opts.param: given})
        return ctx.render(opts.text, target)


def _waived(ctx: StepContext) -> str | None:
    """The comment of an approval the policy that started the run waives (its emergency rules), if any."""
    rules = (ctx.trigger or {}).get("emergency") or {}
    if ctx.step.id in (rules.get("skip_approvals") or []):
        return f"dispensada por la política {ctx.trigger.get('policy', '?')}: {ctx.trigger.get('reason', '')}"
    return None


def _in_emergency_rules(ctx: StepContext) -> bool:
    """Whether the policy that started the run names this approval (it expires by the policy's rule)."""
    rules = (ctx.trigger or {}).get("emergency") or {}
    return ctx.step.id in (rules.get("approvals") or {})


async def _await_decision(ctx: StepContext, kind: str, status: str, message: str) -> dict:
    """Mark the step and the run as waiting on a person, then poll the journal until a decision comes (one
    of this round: the decisions of a round sent back are superseded; the daemon refuses a confirmation
    without the values a step asks, so one that comes has them)."""
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
