"""Small step kinds: `record` (a checklist line), `pause`, `notify` (a templated e-mail)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from agent.core.config import Duration
from agent.errors import MailError, StepFailed
from agent.notify import mail
from agent.notify.outbox import Outbox
from agent.runbook.kinds import StepContext, StepKind, StepOptions


class RecordOptions(StepOptions):
    """The checklist line to write."""
    text: str = Field(description="Jinja2 text of the line, with params and run_id")


class Record(StepKind):
    """Write a line in the run's checklist."""

    Options = RecordOptions
    idempotent = True
    estimate_s = 0.0

    def describe(self, options: RecordOptions) -> str:
        return f"registra: {options.text}"

    async def run(self, ctx: StepContext, target) -> str:
        text = ctx.render(ctx.options.text, target)
        ctx.journal.event(ctx.run_id, "record", text, step_id=ctx.step.id)
        return text


class PauseOptions(StepOptions):
    """How long to wait, or until when."""
    seconds: Duration | None = None
    until: str | None = Field(None, description="wait until this date and time of the office (YYYY-MM-DD HH:MM, "
                              "a template: \"{{ facts.fecha_programada }}\"); empty or 'por definir': no wait")

    @model_validator(mode="after")
    def _one(self):
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give seconds or until, one of them")
        return self


class Pause(StepKind):
    """Wait a fixed time (let disks spin down, let a UPS settle), or until the date a run was programmed for
    (a shutdown approved for Saturday 22:00 starts then)."""

    Options = PauseOptions
    idempotent = True

    def describe(self, options: PauseOptions) -> str:
        return f"espera {options.seconds:g} s" if options.seconds is not None else f"espera hasta {options.until}"

    async def run(self, ctx: StepContext, target) -> str:
        if ctx.options.seconds is not None:
            await asyncio.sleep(ctx.options.seconds)
            return f"esperó {ctx.options.seconds:g} s"
        text = ctx.render(ctx.options.until, target).strip()
        if text.lower() in ("", "por definir", "ahora"):
            return "sin fecha programada: continúa de inmediato"
        tz = ZoneInfo(ctx.settings.config.agent.timezone)
        try:
            when = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise StepFailed(f"«{text}» no es una fecha y hora (AAAA-MM-DD HH:MM)") from None
        when = when if when.tzinfo else when.replace(tzinfo=tz)
        while (left := (when - datetime.now(UTC)).total_seconds()) > 0:
            await asyncio.sleep(min(left, 60.0))      # a clock change or a resume is seen within a minute
        return f"llegó la fecha programada: {when.astimezone(tz):%d/%m/%Y %H:%M}"


class NotifyOptions(StepOptions):
    """Who gets which template."""
    to: list[str] = Field([], description="recipient roles from the config's mail.recipients")
    to_params: list[str] = Field([], description="runbook parameters holding addresses (a requester's e-mail)")
    unit: str | None = Field(None, description="for jefe_uuoo: the unit whose head is mailed (a template)")
    template: str = Field(description="agent/templates/mail/<template>.txt.j2")

    @model_validator(mode="after")
    def _someone(self):
        if not self.to and not self.to_params:
            raise ValueError("give `to` (roles) or `to_params` (parameters holding addresses)")
        return self


class Notify(StepKind):
    """Send a templated Spanish e-mail to the recipients of some roles, through the outbox; the step ends
    when its message is delivered (a retry or a resume delivers the same message, never a second one)."""

    Options = NotifyOptions
    estimate_s = 1.0

    def describe(self, options: NotifyOptions) -> str:
        return f"correo '{options.template}' a {', '.join(options.to + [f'params.{p}' for p in options.to_params])}"

    async def run(self, ctx: StepContext, target) -> str:
        cfg = ctx.settings.config
        to = _addresses(ctx, ctx.options.to, ctx.render(ctx.options.unit) if ctx.options.unit else None)
        for name in ctx.options.to_params:
            address = str(ctx.params.get(name) or "")
            if "@" not in address:
                raise StepFailed(f"parameter {name} ({address!r}) is not an e-mail address")
            to.append(address)
        subject, body = mail.render(ctx.options.template, {
            "params": ctx.params, "run_id": ctx.run_id, "runbook": ctx.runbook, "step": ctx.step,
            "agent": cfg.agent, "targets": ctx.targets, "facts": ctx.journal.facts(ctx.run_id)}, mail.templates_dir(cfg))
        box = Outbox(ctx.journal.store, cfg)
        try:
            message_id = await asyncio.to_thread(box.send, to, subject, body, source=_source(ctx, target))
        except MailError as err:
            raise StepFailed(str(err)) from None
        return f"correo «{subject}» enviado a {', '.join(to)} ({message_id})"

    async def check(self, ctx: StepContext, target) -> bool | None:
        """The outbox tells whether the message went out before the agent stopped."""
        return await asyncio.to_thread(Outbox(ctx.journal.store, ctx.settings.config).delivered, _source(ctx, target))


def _addresses(ctx: StepContext, roles: list[str], unit: str | None = None) -> list[str]:
    """The addresses of roles: the config's mail.recipients (outside parties, shared mailboxes), else the
    e-mails of the people who hold the role today (deputies in force included); with `unit`, the head of
    that unit for jefe_uuoo, never a fixed address."""
    from datetime import UTC, datetime

    cfg, people = ctx.settings.config, ctx.settings.people
    listed = [r for r in roles if cfg.mail.recipients.get(r) and not (unit and r == "jefe_uuoo")]
    found = mail.recipients(cfg.mail, listed) if listed else []
    for role in (r for r in roles if r not in listed):
        holders = [p.email for p in people.holders(role, datetime.now(UTC), unit if role == "jefe_uuoo" else None)
                   if p.email]
        if not holders:
            raise StepFailed(f"nobody to mail for role {role}: not in mail.recipients, and no person of people "
                             "with an e-mail holds it")
        found += [a for a in holders if a not in found]
    return found


def _source(ctx: StepContext, target) -> str:
    """The outbox key of a step's message on a target: one message per run, step and target."""
    return f"run:{ctx.run_id}:{ctx.step.id}:{target.name if target else ''}"
