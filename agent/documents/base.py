"""What a document is: a plugin that builds a `Page` from the store, laid out by its form.

A document class names its form, the folder it is archived in, whether the daemon writes it on a
schedule (and at which configured time), and the mail template and recipients it is sent with.
`build` reads the store only through `agent/store/queries.py`. A new document is one module here,
one form file, and one entry point in `oti_agent.documents`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from agent.documents.forms import Form, Labels
from agent.documents.render import Page


@dataclass
class DocContext:
    """What a document is built from: the settings, the store, the clock, its form and labels, its parameters."""

    settings: Any
    store: Any
    now: datetime
    form: Form
    labels: Labels
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self):
        return self.settings.config

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.config.agent.timezone)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def local(self, when: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        """A stored time as the office reads it (its zone), or '' for none."""
        return when.astimezone(self.tz).strftime(fmt) if when else ""

    def page(self, name: str, header: dict[str, str], sections: dict[str, list[dict]], **extra) -> Page:
        """A Page with the office's name from the config; "Elaborado por" is the reports' responsible unless the
        document knows who (a run's checklist: its people)."""
        extra.setdefault("signers", {"Elaborado por": self.settings.config.reports.responsible})
        return Page(name, header, sections, office=self.settings.config.reports.office, **extra)


class Document:
    """Base of every document."""

    name: ClassVar[str] = ""
    form: ClassVar[str] = ""                       # forms/<form>.yaml
    folder: ClassVar[str] = "reportes"             # under the config's documents_dir
    pdf: ClassVar[bool] = True
    schedule: ClassVar[str | None] = None          # "daily" | "monthly" (first working day) | None: on demand
    at: ClassVar[str] = "reports.daily_time"       # the config setting (HH:MM) a scheduled one is written at
    mail_template: ClassVar[str | None] = None     # notify/templates/<template>.txt.j2, when it is mailed
    params: ClassVar[tuple[str, ...]] = ()         # what it is written for: "day", "month", "run_id"...

    def form_for(self, params: dict[str, Any]) -> str:
        """The form id for these parameters (a run's checklist has two)."""
        return self.form

    def scheduled_params(self, ctx: DocContext) -> dict[str, Any]:
        """The parameters of the scheduled run at `ctx.now`: today's day, or the month just ended."""
        if "month" in self.params:
            last = ctx.today.replace(day=1) - timedelta(days=1)
            return {"month": f"{last:%Y-%m}"}
        return {"day": ctx.today}

    def refresh(self, settings, store) -> None:
        """Bring the store up to date before a scheduled run (the tape inventory reads the backends)."""

    def build(self, ctx: DocContext) -> Page:
        """The document's page, from the store (through queries)."""
        raise NotImplementedError

    def mail_context(self, ctx: DocContext, page: Page) -> dict[str, Any]:
        """What its mail template is rendered with: its parameters, header fields and facts."""
        return {**ctx.params, "header": page.header, **page.facts}
