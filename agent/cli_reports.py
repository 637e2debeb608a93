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


def daily_report(settings, store, day: date, send: bool) -> list[Path]:
    """Write the daily checklist; with `send`, queue it for its recipients and deliver the outbox."""
    from agent import mail
    from agent.outbox import Outbox
    from agent.reports import daily

    cfg = settings.config
    paths = daily.write(settings, store, day, cfg.path(cfg.documents_dir) / "checklists", cfg.reports.responsible)
    if send:
        items = daily.items(settings, store, day)
        subject, body = mail.render("checklist-diario", {
            "day": day, "ok": sum(1 for _, ok, _ in items if ok), "total": len(items), "agent": cfg.agent,
            "bad": [(what, note) for what, ok, note in items if not ok]}, mail.templates_dir(cfg))
        html = paths[0].read_text(encoding="utf-8")
        box = Outbox(store, cfg)
        box.enqueue(mail.recipients(cfg.mail, cfg.reports.daily_to), subject, body, source=f"checklist:{day}",
                    html=html, attachments=[str(p) for p in paths[1:]])
        box.flush()
    return paths


def monitoring_report(settings, store, day: date, send: bool) -> list[Path]:
    """Write the monitoring report; with `send`, queue it for the jefa and deliver the outbox."""
    from agent import mail
    from agent.outbox import Outbox
    from agent.reports import monitoring

    cfg = settings.config
    paths = monitoring.write(settings, store, day, cfg.path(cfg.documents_dir) / "reportes")
    if send:
        header, _ = monitoring.sections(settings, store, day)
        subject, body = mail.render("reporte-monitoreo", {"day": day, "header": header, "agent": cfg.agent},
                                    mail.templates_dir(cfg))
        box = Outbox(store, cfg)
        box.enqueue(mail.recipients(cfg.mail, cfg.reports.daily_to), subject, body, source=f"monitoreo:{day}",
                    html=paths[0].read_text(encoding="utf-8"), attachments=[str(p) for p in paths[1:]])
        box.flush()
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
                      = False) -> None:
    """The monitoring report (Anexo 01 of S.04.04.01.03_P): equipment, alerts, escalations, how each ended."""
    from agent.settings import load_all
    from agent.store import Store

    settings = load_all(config)
    cfg = settings.config
    for p in monitoring_report(settings, Store(cfg.store.url, cfg.base_dir), _when(settings, day), send):
        out.print(str(p), soft_wrap=True, highlight=False)


@report_app.command("daily")
def report_daily(config: ConfigOpt = Path("config.yaml"),
                 day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today)")] = None,
                 send: Annotated[bool, typer.Option(help="mail it to reports.daily_to (through the outbox)")]
                 = False) -> None:
    """The daily checklist of IT services (Anexo 07), as HTML, XLSX and PDF."""
    from agent.settings import load_all
    from agent.store import Store

    settings = load_all(config)
    cfg = settings.config
    for p in daily_report(settings, Store(cfg.store.url, cfg.base_dir), _when(settings, day), send):
        out.print(str(p), soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
