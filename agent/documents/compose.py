"""One way to make a document: build it from the store, render it through its form, archive it, send it.

The daemon (on a schedule), the CLI and the runbooks' checklist step all call `compose`; the clock
is the caller's, so a document of a given moment is the same whoever asks for it. Sending queues
the mail in the outbox (its HTML as the body, the chosen files attached) and delivers it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.core import plugins
from agent.core.calendar import Periodicity, holidays
from agent.documents import archive, forms, render
from agent.documents.base import DocContext, Document
from agent.errors import DocumentError
from agent.notify import mail
from agent.notify.outbox import Outbox
from agent.store import records

FORMATS = ("html", "xlsx", "pdf")


@dataclass
class Composed:
    """A document written: its files, what it said, and the outbox message that carries it (if sent)."""

    name: str
    paths: list[Path]
    page: render.Page
    message: int | None = None
    code: str = ""                  # its verification code, as printed

    def files(self, formats: tuple[str, ...] = FORMATS) -> list[Path]:
        """The files of the chosen formats."""
        return [p for p in self.paths if p.suffix.lstrip(".") in formats]


def document(name: str) -> Document:
    """The registered document `name` (an unknown one lists the known)."""
    return plugins.load("documents", name)()


def compose(name: str, settings, store, *, now: datetime | None = None, send: bool = False,
            formats: tuple[str, ...] = FORMATS, origin: str | None = None, **params) -> Composed:
    """Build, render and archive a document; with `send`, mail it to `reports.daily_to` through the outbox.

    The document gets a fresh verification code; its files' hashes are archived with `origin` (what wrote
    it: 'programado', 'ejecución RUN', 'consola (login)'…; by default its run, or 'oti-agent')."""
    doc, cfg = document(name), settings.config
    override = forms.forms_dir(cfg)
    ctx = DocContext(settings, store, (now or datetime.now(UTC)), forms.form(doc.form_for(params), override),
                     forms.Labels(override), params)
    page = doc.build(ctx)
    sub = Path(doc.folder.format(**params))            # its folder under documents_dir, as the archive names it
    folder = cfg.path(cfg.documents_dir) / sub
    code = archive.new_code()
    verification = render.Verification(archive.shown(code), archive.keywords(code),
                                       f"{cfg.http.base_url()}/verificar?codigo={archive.shown(code)}")
    origin = origin or (f"ejecución {params['run_id']}" if params.get("run_id") else "oti-agent")

    def keep(files: dict[str, Path]) -> None:      # before the files are published under their names
        records.keep(store, code=code, document=name, title=page.title or ctx.form.title,
                     form=f"{render.code_of(ctx.form)}, versión {ctx.form.version}", params=params, origin=origin,
                     signers={k: v for k, v in page.signers.items() if v}, files=files,
                     sha256s={f: archive.sha256_of(p) for f, p in files.items()},
                     names={f: str(sub / f"{page.name}.{f}") for f in files}, now=ctx.now)

    paths = render.write(folder, ctx.form, page, pdf=doc.pdf, group_readable=cfg.documents_group_readable,
                         verification=verification, before_publish=keep)
    done = Composed(name, paths, page, code=verification.code)
    if send:
        done.message = _send(doc, ctx, done, formats)
    return done


def _send(doc: Document, ctx: DocContext, done: Composed, formats: tuple[str, ...]) -> int:
    cfg = ctx.config
    if doc.mail_template is None:
        raise DocumentError(f"document {doc.name} is not mailed (it has no mail template)")
    subject, body = mail.render(doc.mail_template, {**doc.mail_context(ctx, done.page), "agent": cfg.agent,
                                                    "office": cfg.reports.office}, mail.templates_dir(cfg))
    box = Outbox(ctx.store, cfg)
    key = ",".join(f"{k}={v}" for k, v in sorted(ctx.params.items()))
    attachments = [str(p) for p in done.files(formats) if p.suffix != ".html"]   # the HTML is the body
    message = box.enqueue(mail.recipients(cfg.mail, cfg.reports.daily_to), subject, body,
                          source=f"{doc.name}:{key}", html=done.paths[0].read_text(encoding="utf-8"),
                          attachments=attachments)
    box.flush()
    return message


def scheduled(settings) -> dict[str, Document]:
    """The documents the daemon writes on a schedule, by name."""
    return {n: d() for n, d in plugins.load_all("documents").items() if d.schedule}


def due_today(doc: Document, day: date, office_hours) -> bool:
    """Whether a scheduled document is written on `day`: every day, or the month's first working day
    (the office's weekdays, not a public holiday nor one of the office's own days off)."""
    if doc.schedule != "monthly":
        return True
    weekdays = Periodicity.parse(office_hours.days).weekdays
    first = day.replace(day=1)
    while first.weekday() not in weekdays or first in holidays(first.year) or first.isoformat() in office_hours.holidays:
        first += timedelta(days=1)
    return day == first
