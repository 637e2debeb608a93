"""`oti-agent report daily|monitoring|monthly [--send]` and `oti-agent access-log …`: the office's documents on
demand, through the same `compose` the daemon uses."""

from __future__ import annotations

import getpass
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from agent.cli.show import esc, reading_store

out = Console()
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
report_app = typer.Typer(no_args_is_help=True, help="The office's documents: write them now, and mail them.")
FORMATS = ("html", "xlsx", "pdf")
FormatOpt = Annotated[list[str] | None, typer.Option("--format", help="html, xlsx or pdf (repeatable): which files "
                                                     "to print and attach; all three are always written")]
SendOpt = Annotated[bool, typer.Option(help="mail it to reports.daily_to (through the outbox)")]
DayOpt = Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today)")]
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def _formats(values: list[str] | None) -> tuple[str, ...]:
    bad = [v for v in values or [] if v not in FORMATS]
    if bad:
        raise typer.BadParameter(f"unknown format(s) {', '.join(bad)}; use {', '.join(FORMATS)}")
    return tuple(values) if values else FORMATS


def _day(text: str | None, today: date) -> date:
    try:
        return date.fromisoformat(text) if text else today
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _open(config: Path):
    from agent.core.settings import load_all

    settings = load_all(config)
    cfg = settings.config
    now = datetime.now(UTC)                     # one clock for the whole command
    return settings, reading_store(cfg), now, now.astimezone(ZoneInfo(cfg.agent.timezone)).date()


def _report(name: str, config: Path, send: bool, fmt: list[str] | None, **params) -> None:
    """Write (and with `send`, mail) a document; print the files of the chosen formats."""
    from agent.documents.compose import compose

    formats = _formats(fmt)
    settings, store, now, today = _open(config)
    if "day" in params:
        params["day"] = _day(params["day"], today)
    if "month" in params:
        params["month"] = _month(params["month"], today)
    done = compose(name, settings, store, now=now, send=send, formats=formats,
                   origin=f"oti-agent report (usuario {getpass.getuser()})", **params)
    for p in done.files(formats):
        out.print(esc(p), soft_wrap=True, highlight=False)


def _month(text: str | None, today: date) -> str:
    if text is None:
        return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise typer.BadParameter(f"{text!r} is not a month (YYYY-MM)")
    return text


@report_app.command("daily")
def report_daily(config: ConfigOpt = Path("config.yaml"), day: DayOpt = None, send: SendOpt = False,
                 fmt: FormatOpt = None) -> None:
    """The daily checklist of IT services (Anexo 07), as HTML, XLSX and PDF."""
    _report("checklist-diario", config, send, fmt, day=day)


@report_app.command("monitoring")
def report_monitoring(config: ConfigOpt = Path("config.yaml"), day: DayOpt = None, send: SendOpt = False,
                      fmt: FormatOpt = None) -> None:
    """The monitoring report (Anexo 01 of S.04.04.01.03_P): equipment, alerts, escalations, how each ended."""
    _report("reporte-monitoreo", config, send, fmt, day=day)


@report_app.command("monthly")
def report_monthly(config: ConfigOpt = Path("config.yaml"),
                   month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month)")] = None,
                   send: SendOpt = False, fmt: FormatOpt = None) -> None:
    """The monthly IT services report: availability, switches, incidents, backups, custody, access log."""
    _report("informe-mensual", config, send, fmt, month=month)


access_app = typer.Typer(no_args_is_help=True, help="The datacenter access log (Anexo 1 of S.04.03.02_P).")


def _times(time_in: str | None, time_out: str | None) -> None:
    for label, value in (("--in", time_in), ("--out", time_out)):
        if value is not None and not re.match(_HHMM, value):
            raise typer.BadParameter(f"{label} {value!r} is not a time (HH:MM)")
    if time_in is not None and time_out is not None and time_out < time_in:
        raise typer.BadParameter(f"--out {time_out} is before --in {time_in}")


@access_app.command("add")
def access_add(name: Annotated[str, typer.Option(help="Nombre y apellidos")],
               dni: Annotated[str, typer.Option(help="Identificación / DNI")],
               company: Annotated[str, typer.Option(help="Entidad / proveedor")],
               activity: Annotated[str, typer.Option(help="Actividad realizada")],
               time_in: Annotated[str, typer.Option("--in", help="Hora de ingreso, HH:MM")],
               time_out: Annotated[str | None, typer.Option("--out", help="Hora de salida, HH:MM")] = None,
               day: DayOpt = None, config: ConfigOpt = Path("config.yaml")) -> None:
    """Record an entry to the datacenter (activity 9 of flow 1)."""
    from agent.access.log import AccessLog
    from agent.cli.identity import local_person

    _times(time_in, time_out)
    settings, store, _now, today = _open(config)
    when = _day(day, today)
    by = local_person(settings).describe()          # the accompanying specialist: who runs this command
    row = AccessLog(store).add(when, name, dni, company, activity, time_in, time_out, by)
    out.print(esc(f"access {row}: {name} ({company}) {when:%d/%m/%Y} {time_in}–{time_out or '…'}"))


@access_app.command("out")
def access_out(entry: int, time_out: Annotated[str, typer.Option("--out", help="Hora de salida, HH:MM")],
               config: ConfigOpt = Path("config.yaml")) -> None:
    """Record the time someone left."""
    from agent.access.log import AccessLog

    _times(None, time_out)
    _settings, store, _now, _today = _open(config)
    log = AccessLog(store)
    found = log.entry(entry)
    if time_out < found["time_in"]:
        raise typer.BadParameter(f"--out {time_out} is before the entry's time in {found['time_in']}")
    log.leave(entry, time_out)
    out.print(f"access {entry}: out at {time_out}")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(access_app, name="access-log")
