"""`oti-agent doctor`: check the host, the files and the peers of a config, and say what to fix.

It runs locally, without the daemon (the daemon may be the thing that does not start)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.show import DataTable, esc, styled

STATUS_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(config: Annotated[Path, typer.Option("--config", "-c", help="config file")] = Path("config.yaml"),
           user: Annotated[str | None, typer.Option(help="the agent's user, whose rights on the state "
                                                         "folders "
                                                         "are checked (default: who runs doctor)")] = None,
           ntp: Annotated[str | None, typer.Option(help="an NTP server to compare the clock with, when "
                                                        "timedatectl cannot tell")] = None,
           devices: Annotated[bool, typer.Option("--devices/--no-devices",
                                                 help="knock on every device of the inventory")] = True,
           timeout: Annotated[float, typer.Option(help="seconds per connection")] = 3.0,
           show_ok: Annotated[bool, typer.Option("--all/--problems", help="show every finding or only "
                                                 "problems")] = True,
           as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Check the host for the agent: config, clock, disk, permissions, peers, devices, certificates, ports.
    Print each finding as OK, WARN or FAIL with what to fix; exit 2 if anything FAILs."""
    import asyncio

    from agent.monitoring.doctor import DoctorOptions, Status, examine, load_settings, worst

    options = DoctorOptions(timeout=timeout, ntp_server=ntp, devices=devices,
                            **({"user": user} if user else {}))
    settings, findings = load_settings(config)
    if settings is not None:
        findings += asyncio.run(examine(settings, options))
    if as_json:
        print(json.dumps([{"status": f.status.name, "check": f.check, "subject": f.subject,
                           "message": f.message,
                           "fix": f.fix or None} for f in findings], ensure_ascii=False, indent=2))
    else:
        _print(findings, show_ok)
    raise typer.Exit(2 if worst(findings) == Status.FAIL else 0)


def _print(findings, show_ok: bool) -> None:
    """A borderless table: status and check in narrow columns, the message with its `fix:` folded beside
    them, so each finding reads as one block at 80 columns."""
    from agent.cli import out

    table = DataTable(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column("status", no_wrap=True, width=4)
    table.add_column("check", no_wrap=True)
    table.add_column("finding", overflow="fold")
    for f in findings:
        if not show_ok and f.status.name == "OK":
            continue
        text = f.message + (f"\n  fix: {f.fix}" if f.fix else "")
        table.add_row(styled(f.status.name, STATUS_STYLE[f.status.name]), f.check, text)
    out.print(table)
    counts = {s: sum(1 for f in findings if f.status.name == s) for s in ("OK", "WARN", "FAIL")}
    out.print(esc(f"{counts['OK']} OK, {counts['WARN']} WARN, {counts['FAIL']} FAIL"), highlight=False)
