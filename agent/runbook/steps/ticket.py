"""The `ticket` step: the run's helpdesk ticket in GLPI (S.04.04.02_P), opened, followed and closed.

A run started from a GLPI ticket (its `ticket` parameter a ticket number, `glpi` true) follows that ticket;
otherwise `action: open` opens one for the run. A followup can carry the decision of an approval step
(`decision_of`): the manual records authorisations as messages on the ticket (Alfresco, activities 2–3).
`close` gives the ticket its solution (the run's result), attaches a document of the run and closes it.
Every call goes through the helpdesk's table under the run's and step's key, so a retried or resumed
step never opens a second ticket nor writes a message twice.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from agent.errors import AgentError, HelpdeskError, StepFailed
from agent.notify.glpi import INCIDENT, REQUEST
from agent.notify.glpi_tickets import Helpdesk
from agent.runbook.kinds import StepContext, StepKind, StepOptions

ACTIONS_ES = {"open": "abre", "followup": "escribe en", "close": "cierra"}
PREFERRED = (".pdf", ".html", ".xlsx")          # the document a person opens first, attached


class TicketOptions(StepOptions):
    """What to do on the run's ticket, and with which text."""
    action: Literal["open", "followup", "close"]
    text: str = Field(description="the message, the ticket's description (open) or its solution (close); a "
                      "template with params, run_id and facts")
    title: str | None = Field(None, description="open: the ticket's title (a template)")
    category: int | None = Field(None, description="open: GLPI's itilcategories_id")
    type: Literal["incidente", "requerimiento"] = Field("requerimiento", description="open: GLPI's ticket type")
    separate: bool = Field(False, description="open: a ticket of its own, not the run's (Alfresco activities 5 "
                           "and 9: a new ticket to the Especialista en IS)")
    decision_of: str | None = Field(None, description="an approval step whose decision (who, when, comment) is "
                                    "written after the text")
    document: str | None = Field(None, description="a document of the agent to write now and attach "
                                 "(solicitud-restauracion, checklist-ejecucion...)")
    document_params: dict[str, str] = Field({}, description="its parameters, templates (run_id: \"{{ run_id }}\")")

    @model_validator(mode="after")
    def _fits(self):
        if self.action != "open" and (self.title is not None or self.category is not None or self.separate):
            raise ValueError("title, category and separate are for action: open")
        if self.document_params and self.document is None:
            raise ValueError("document_params needs document")
        return self


class Ticket(StepKind):
    """Open, follow or close the run's GLPI ticket; the step ends when GLPI has the call."""

    Options = TicketOptions
    idempotent = True
    estimate_s = 2.0

    def describe(self, options: TicketOptions) -> str:
        extra = f" y adjunta {options.document}" if options.document else ""
        return f"{ACTIONS_ES[options.action]} el ticket de la mesa de ayuda (GLPI){extra}"

    async def run(self, ctx: StepContext, target) -> str:
        desk = Helpdesk(ctx.journal.store, ctx.settings.config)
        if not desk.enabled:
            raise StepFailed("glpi is off in the config (glpi.enabled): this step needs the helpdesk; run the "
                             "runbook without the glpi parameter, or set up the glpi section")
        o, ticket_source = ctx.options, _ticket_source(ctx)
        linked = _link(ctx, desk)
        text = ctx.render(o.text) + _decision(ctx, o.decision_of)
        source = f"{ticket_source}:{ctx.step.id}"
        if o.separate:
            ticket_source = source
        if o.action == "open":
            if linked is not None and not o.separate:
                return f"la ejecución ya sigue el ticket {linked} de la mesa de ayuda"
            calls = [desk.open(ticket_source, ctx.render(o.title or ctx.runbook.title), text, category=o.category,
                               kind=INCIDENT if o.type == "incidente" else REQUEST)]
        elif o.action == "followup":
            calls = [desk.follow(ticket_source, source, text)]
        else:
            calls = [desk.solve(ticket_source, source, text, close=True)]
        if o.document:
            path = await _document(ctx)
            calls.insert(0 if o.action == "close" else 1,
                         desk.attach(ticket_source, f"{source}:documento", path, _title(o.document, path)))
        try:
            rows = [await asyncio.to_thread(desk.deliver, call) for call in calls]
        except HelpdeskError as err:
            raise StepFailed(str(err)) from None
        ticket_id = rows[-1]["ticket_id"]
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {"ticket_glpi": ticket_id})
        attached = " con el documento adjunto" if o.document else ""
        return f"{ACTIONS_ES[o.action]} el ticket {ticket_id} de la mesa de ayuda{attached}"

    async def check(self, ctx: StepContext, target) -> bool | None:
        """The helpdesk's table tells whether GLPI got the call before the agent stopped."""
        desk = Helpdesk(ctx.journal.store, ctx.settings.config)
        own = ctx.options.action == "open" and not ctx.options.separate
        key = _ticket_source(ctx) if own else f"{_ticket_source(ctx)}:{ctx.step.id}"
        row = await asyncio.to_thread(desk.row_by_source, key)
        return row is not None and row["status"] == "sent"


def _ticket_source(ctx: StepContext) -> str:
    return f"run:{ctx.run_id}"


def _link(ctx: StepContext, desk: Helpdesk) -> int | None:
    """The GLPI ticket the run was started for (params ticket and glpi), linked to the run once."""
    found = desk.ticket_of(_ticket_source(ctx))
    if found is not None or not ctx.params.get("glpi"):
        return found
    number = str(ctx.params.get("ticket") or "").strip().lstrip("#")
    if not number:
        return None                              # no ticket yet: an `open` step registers the request
    if not number.isdigit():
        raise StepFailed(f"parameter ticket ({number!r}) is not the number of a GLPI ticket, and glpi is true")
    desk.link(_ticket_source(ctx), int(number))
    return int(number)


def _decision(ctx: StepContext, step_id: str | None) -> str:
    """The last decision of an approval step, as the ticket records it."""
    if step_id is None:
        return ""
    found = ctx.journal.decisions(ctx.run_id, step_id, kind="approval")
    if not found:
        return f"\n\n(sin decisión registrada en el paso {step_id})"
    d = found[-1]
    verdict = "Autorizado" if d["decision"] == "approved" else "No autorizado"
    held = ", encargado" if d.get("held_as") == "encargado" else ""
    at = d["at"] if d["at"].tzinfo else d["at"].replace(tzinfo=UTC)
    when = at.astimezone(ZoneInfo(ctx.settings.config.agent.timezone)).strftime("%d/%m/%Y %H:%M")
    comment = f": «{d['comment']}»" if d.get("comment") else ""
    return f"\n\n{verdict} por {d['by']} ({d['role'] or 'aprobador'}{held}) el {when}{comment}"


async def _document(ctx: StepContext) -> Path:
    """Write the document to attach now; the form a person opens first (PDF, else HTML)."""
    from agent.documents.compose import compose

    params = {k: ctx.render(v) for k, v in ctx.options.document_params.items()}
    try:
        done = await asyncio.to_thread(compose, ctx.options.document, ctx.settings, ctx.journal.store, **params)
    except AgentError as err:
        raise StepFailed(f"{ctx.options.document}: {err}") from None
    paths = sorted(done.paths, key=lambda p: PREFERRED.index(p.suffix) if p.suffix in PREFERRED else 9)
    return Path(paths[0])


def _title(name: str, path: Path) -> str:
    return f"{name} ({path.name})"
