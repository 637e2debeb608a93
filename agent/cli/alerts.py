"""The alert commands of the CLI: `oti-agent alerts …`, `oti-agent silence`, `oti-agent outbox …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from agent.cli.show import DataTable, esc, reading_store, styled

out = Console()
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
CommentOpt = Annotated[str | None, typer.Option(help="what was done or found")]
alerts_app = typer.Typer(help="Alerts: list, acknowledge, resolve.", invoke_without_command=True)
outbox_app = typer.Typer(no_args_is_help=True, help="The mail outbox: what waits to be delivered.")
STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}
OUTBOX_STYLE = {"queued": "yellow", "sent": "green", "failed": "bold red", "withdrawn": "dim"}


def _book(config: Path):
    from agent.alerts import AlertBook
    from agent.core.settings import load_all

    settings = load_all(config)
    return AlertBook(settings, reading_store(settings.config))


@alerts_app.callback()
def alerts_list(ctx: typer.Context, config: ConfigOpt = Path("config.yaml"),
                all_: Annotated[bool, typer.Option("--all", help="resolved ones too")] = False) -> None:
    """List open and acknowledged alerts (the daily review, activity 7)."""
    if ctx.invoked_subcommand is not None:
        return
    book = _book(config)
    tz = ZoneInfo(book.settings.config.agent.timezone)
    table = DataTable()
    for col in ("id", "status", "severity", "device", "reading", "value", "since", "notified", "by"):
        table.add_column(col, overflow="fold", no_wrap=col in ("id", "status", "severity", "since"))
    for a in book.list(status=None if all_ else ("open", "acknowledged")):
        value = a["text"] or ("" if a["value"] is None else f"{a['value']:g}")
        table.add_row(str(a["id"]), styled(a["status"] + (" (oscila)" if a["flapping"] else ""), STYLE.get(a["status"], "")),
                      "CRÍTICO" if a["severity"] >= 2 else "ADVERTENCIA", a["device"], a["reading"], value,
                      f"{a['opened_at'].astimezone(tz):%d/%m %H:%M}", str(a["steps_sent"]),
                      a["acked_by"] or a["resolved_by"] or "")
    out.print(table)


@alerts_app.command("ack")
def alerts_ack(alert_ids: list[int], comment: CommentOpt = None, config: ConfigOpt = Path("config.yaml")) -> None:
    """Acknowledge alerts (one or several ids), as yourself: someone is on it, escalation stops."""
    for alert_id in alert_ids:
        a = _act(config, alert_id, "ack", comment)
        out.print(f"alert {a['id']} acknowledged by {esc(a['acked_by'])}")


@alerts_app.command("resolve")
def alerts_resolve(alert_id: int, comment: CommentOpt = None, config: ConfigOpt = Path("config.yaml")) -> None:
    """Close an alert by hand, as yourself."""
    a = _act(config, alert_id, "resolve", comment)
    out.print(f"alert {a['id']} resolved by {esc(a['resolved_by'])}")


@alerts_app.command("escalate")
def alerts_escalate(alert_id: int, comment: CommentOpt = None, config: ConfigOpt = Path("config.yaml")) -> None:
    """Send an alert's next escalation step now (you cannot solve it: the jefa, the vendor are told)."""
    a = _act(config, alert_id, "escalate", comment)
    out.print(f"alert {a['id']} escalated: {a.get('notified', a.get('steps_sent'))} step(s) sent")


def _act(config: Path, alert_id: int, action: str, comment: str | None) -> dict:
    """Through the daemon (who you are: your OS user on its socket, or OTI_TOKEN); with the daemon down, in
    the store directly, as the person your OS user is (said so)."""
    from agent.cli.client import Daemon
    from agent.errors import DaemonUnavailable

    try:
        return Daemon(config).post(f"/alerts/{alert_id}/{action}", {"comment": comment})
    except DaemonUnavailable as down:
        from agent.cli.identity import local_person

        Console(stderr=True).print(f"[yellow]warning[/yellow] {esc(str(down))}; writing the store directly",
                                   soft_wrap=True)
        book = _book(config)
        who = local_person(book.settings)
        done = getattr(book, action)(alert_id, who.describe(), comment)
        return done


@alerts_app.command("show")
def alerts_show(alert_id: int, config: ConfigOpt = Path("config.yaml")) -> None:
    """An alert and its history: notifications, acknowledgement, resolution."""
    book = _book(config)
    tz = ZoneInfo(book.settings.config.agent.timezone)
    a = book.get(alert_id)
    out.print(f"[bold]alert {a['id']}[/bold] " + esc(f"{a['device']} {a['reading']}: {a['status']} — {a['message'] or ''}"),
              highlight=False, soft_wrap=True)
    for e in book.events(alert_id):
        out.print(esc(f"  {e['at'].astimezone(tz):%d/%m %H:%M:%S} {e['event']:<13} {e['by'] or '':<10} {e['detail'] or ''}"),
                  highlight=False, soft_wrap=True)


def silence(device: str, reason: Annotated[str, typer.Option(help="why (a maintenance window...)")],
            for_: Annotated[str, typer.Option("--for", help="how long: 30m, 2h, 1d")] = "1h",
            config: ConfigOpt = Path("config.yaml")) -> None:
    """Keep a device's alerts quiet for a while; its readings are still recorded."""
    from agent.core.config import parse_duration

    try:
        seconds = float(parse_duration(for_))
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    from agent.cli.identity import local_person

    book = _book(config)
    until = book.silence(device, seconds, local_person(book.settings).describe(), reason)
    out.print(f"{esc(device)} silenced until {until.astimezone(ZoneInfo(book.settings.config.agent.timezone)):%d/%m %H:%M}")


@outbox_app.command("list")
def outbox_list(config: ConfigOpt = Path("config.yaml"),
                all_: Annotated[bool, typer.Option("--all", help="the failed and sent ones too")] = False) -> None:
    """Messages waiting to be delivered (and, with --all, those given up on and those sent), with their last error."""
    from agent.store import queries

    book = _book(config)
    tz = ZoneInfo(book.settings.config.agent.timezone)
    table = DataTable()
    for col in ("id", "status", "to", "subject", "attempts", "next try", "last error"):
        table.add_column(col, overflow="fold")
    status = None if all_ else ("queued",)
    for m in queries.outbox_messages(book.store, status=status):
        table.add_row(str(m["id"]), styled(m["status"], OUTBOX_STYLE.get(m["status"], "")), ", ".join(m["to"]),
                      m["subject"], str(m["attempts"]), f"{m['next_at'].astimezone(tz):%d/%m %H:%M}" if m["next_at"]
                      else "", m["last_error"] or "")
    out.print(table)


@outbox_app.command("flush")
def outbox_flush(config: ConfigOpt = Path("config.yaml")) -> None:
    """Try to deliver what waits now; exit 1 if something is still pending."""
    sent, pending = _book(config).outbox.flush()
    out.print(f"sent {sent}, pending {pending}")
    raise typer.Exit(1 if pending else 0)


def register(app: typer.Typer) -> None:
    """Add the alert commands to the CLI."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(outbox_app, name="outbox")
    app.command("silence")(silence)
