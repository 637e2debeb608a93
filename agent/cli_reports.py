"""`oti-agent report daily [--date] [--send]`: the office's documents on demand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

out = Console()
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
report_app = typer.Typer(no_args_is_help=True, help="The office's documents: write them now, and mail them.")
FORMATS = ("html", "xlsx", "pdf")
FormatOpt = Annotated[list[str] | None, typer.Option("--format", help="html, xlsx or pdf (repeatable): which files "
                                                     "to print and attach; all three are always written")]


def _formats(values: list[str] | None) -> tuple[str, ...]:
    bad = [v for v in values or [] if v not in FORMATS]
    if bad:
        raise typer.BadParameter(f"unknown format(s) {', '.join(bad)}; use {', '.join(FORMATS)}")
    return tuple(values) if values else FORMATS


def _attached(paths: list[Path], formats: tuple[str, ...]) -> list[str]:
    """The files that go as attachments: the chosen formats, except the HTML (it is the body)."""
    return [str(p) for p in paths if p.suffix.lstrip(".") in formats and p.suffix != ".html"]


def _mail_report(settings, store, subject: str, body: str, paths: list[Path], source: str,
                 formats: tuple[str, ...]) -> None:
    """Queue a document for `reports.daily_to` (its HTML as the body, the chosen files attached); deliver."""
    from agent import mail
    from agent.outbox import Outbox

    cfg = settings.config
    box = Outbox(store, cfg)
    box.enqueue(mail.recipients(cfg.mail, cfg.reports.daily_to), subject, body, source=source,
                html=paths[0].read_text(encoding="utf-8"), attachments=_attached(paths, formats))
    box.flush()


def daily_report(settings, store, day: date, send: bool, formats: tuple[str, ...] = FORMATS,
                 now: datetime | None = None) -> list[Path]:
    """Write the daily checklist as of `now`; with `send`, queue it for its recipients and deliver the outbox."""
    from agent import mail
    from agent.reports import daily

    cfg = settings.config
    paths = daily.write(settings, store, day, cfg.path(cfg.documents_dir) / "checklists", cfg.reports.responsible,
                        now)
    if send:
        items = daily.items(settings, store, day, now)
        subject, body = mail.render("checklist-diario", {
            "day": day, "ok": sum(1 for _, ok, _ in items if ok), "total": len(items), "agent": cfg.agent,
            "bad": [(what, note) for what, ok, note in items if not ok]}, mail.templates_dir(cfg))
        _mail_report(settings, store, subject, body, paths, f"checklist:{day}", formats)
    return paths


def monitoring_report(settings, store, day: date, send: bool, formats: tuple[str, ...] = FORMATS,
                      now: datetime | None = None) -> list[Path]:
    """Write the monitoring report as of `now`; with `send`, queue it for the jefa and deliver the outbox."""
    from agent import mail
    from agent.reports import monitoring

    cfg = settings.config
    paths = monitoring.write(settings, store, day, cfg.path(cfg.documents_dir) / "reportes", now)
    if send:
        header, _ = monitoring.sections(settings, store, day, now)
        subject, body = mail.render("reporte-monitoreo", {"day": day, "header": header, "agent": cfg.agent},
                                    mail.templates_dir(cfg))
        _mail_report(settings, store, subject, body, paths, f"monitoreo:{day}", formats)
    return paths


def _when(settings, day: str | None) -> date:
    try:
        return date.fromisoformat(day) if day else datetime.now(ZoneInfo(settings.config.agent.timezone)).date()
    except ValueError:
        raise typer.BadParameter(f"{day!r} is not a date (YYYY-MM-DD)") from None


@report_app.command("monitoring")
def report_monitoring(config: ConfigOpt = Path("config.yaml"),
                      day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today)")] = None,
                      send: Annotated[bool, typer.Option(help="mail it to reports.daily_to (through the outbox)")]
                      = False, fmt: FormatOpt = None) -> None:
    """The monitoring report (Anexo 01 of S.04.04.01.03_P): equipment, alerts, escalations, how each ended."""
    _run_day_report(monitoring_report, config, day, send, fmt)


def _run_day_report(report, config: Path, day: str | None, send: bool, fmt: list[str] | None) -> None:
    """Write (and with `send`, mail) a report of one day; print the files of the chosen formats."""
    from agent.settings import load_all
    from agent.store import Store

    settings = load_all(config)
    cfg = settings.config
    formats = _formats(fmt)
    for p in report(settings, Store(cfg.store.url, cfg.base_dir), _when(settings, day), send, formats):
        if p.suffix.lstrip(".") in formats:
            out.print(str(p), soft_wrap=True, highlight=False)


@report_app.command("monthly")
def report_monthly(config: ConfigOpt = Path("config.yaml"),
                   month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month)")] = None,
                   send: Annotated[bool, typer.Option(help="mail it to reports.daily_to (through the outbox)")]
                   = False, fmt: FormatOpt = None) -> None:
    """The monthly IT services report: availability, switches, incidents, backups, custody, access log."""
    import re

    from agent import mail
    from agent.reports import monthly
    from agent.settings import load_all
    from agent.store import Store

    formats = _formats(fmt)
    settings = load_all(config)
    cfg = settings.config
    if month is None:
        today = datetime.now(ZoneInfo(cfg.agent.timezone)).date()
        month = f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    elif not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise typer.BadParameter(f"{month!r} is not a month (YYYY-MM)")
    store = Store(cfg.store.url, cfg.base_dir)
    paths = monthly.write(settings, store, month, cfg.path(cfg.documents_dir) / "reportes")
    if send:
        header, _ = monthly.sections(settings, store, month)
        subject, body = mail.render("informe-mensual", {"month": month, "header": header, "agent": cfg.agent},
                                    mail.templates_dir(cfg))
        _mail_report(settings, store, subject, body, paths, f"mensual:{month}", formats)
    for p in paths:
        if p.suffix.lstrip(".") in formats:
            out.print(str(p), soft_wrap=True, highlight=False)


@report_app.command("daily")
def report_daily(config: ConfigOpt = Path("config.yaml"),
                 day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today)")] = None,
                 send: Annotated[bool, typer.Option(help="mail it to reports.daily_to (through the outbox)")]
                 = False, fmt: FormatOpt = None) -> None:
    """The daily checklist of IT services (Anexo 07), as HTML, XLSX and PDF."""
    _run_day_report(daily_report, config, day, send, fmt)


access_app = typer.Typer(no_args_is_help=True, help="The datacenter access log (Anexo 1 of S.04.03.02_P).")
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


@access_app.command("add")
def access_add(name: Annotated[str, typer.Option(help="Nombre y apellidos")],
               dni: Annotated[str, typer.Option(help="Identificación / DNI")],
               company: Annotated[str, typer.Option(help="Entidad / proveedor")],
               activity: Annotated[str, typer.Option(help="Actividad realizada")],
               time_in: Annotated[str, typer.Option("--in", help="Hora de ingreso, HH:MM")],
               by: Annotated[str, typer.Option("--by", help="who records it (the accompanying specialist)")],
               time_out: Annotated[str | None, typer.Option("--out", help="Hora de salida, HH:MM")] = None,
               day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today)")] = None,
               config: ConfigOpt = Path("config.yaml")) -> None:
    """Record an entry to the datacenter (activity 9 of flow 1)."""
    import re
    from datetime import UTC

    from sqlalchemy import insert

    from agent.settings import load_all
    from agent.store import Store
    from agent.store.schema import access_log

    settings = load_all(config)
    when = _when(settings, day)
    for label, value in (("--in", time_in), ("--out", time_out)):
        if value is not None and not re.match(_HHMM, value):
            raise typer.BadParameter(f"{label} {value!r} is not a time (HH:MM)")
    if time_out is not None and time_out < time_in:
        raise typer.BadParameter(f"--out {time_out} is before --in {time_in}")
    cfg = settings.config
    with Store(cfg.store.url, cfg.base_dir).engine.begin() as conn:
        row = conn.execute(insert(access_log).values(
            day=when.isoformat(), name=name, id_number=dni, company=company, activity=activity, time_in=time_in,
            time_out=time_out, recorded_by=by, created_at=datetime.now(UTC))).inserted_primary_key[0]
    out.print(f"access {row}: {name} ({company}) {when:%d/%m/%Y} {time_in}–{time_out or '…'}")


@access_app.command("out")
def access_out(entry: int, time_out: Annotated[str, typer.Option("--out", help="Hora de salida, HH:MM")],
               config: ConfigOpt = Path("config.yaml")) -> None:
    """Record the time someone left."""
    import re

    from sqlalchemy import select, update

    from agent.errors import AgentError
    from agent.settings import load_all
    from agent.store import Store
    from agent.store.schema import access_log

    if not re.match(_HHMM, time_out):
        raise typer.BadParameter(f"--out {time_out!r} is not a time (HH:MM)")
    cfg = load_all(config).config
    with Store(cfg.store.url, cfg.base_dir).engine.begin() as conn:
        row = conn.execute(select(access_log).where(access_log.c.id == entry)).first()
        if row is None:
            raise AgentError(f"no access-log entry {entry}")
        if time_out < row.time_in:
            raise typer.BadParameter(f"--out {time_out} is before the entry's time in {row.time_in}")
        conn.execute(update(access_log).where(access_log.c.id == entry).values(time_out=time_out))
    out.print(f"access {entry}: out at {time_out}")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(access_app, name="access-log")
