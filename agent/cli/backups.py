"""The backup and tape commands of the CLI: `oti-agent backups …` and `oti-agent tapes …`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent.cli.show import DataTable, esc, reading_store, styled
from agent.errors import AgentError

out = Console()
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
DateOpt = Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today)")]
backups_app = typer.Typer(no_args_is_help=True, help="Backups of the asset matrix (Anexo 01, 03).")
tapes_app = typer.Typer(no_args_is_help=True, help="Tape inventory and custody boxes (Anexo 04).")
box_app = typer.Typer(no_args_is_help=True, help="Custody boxes: prepare, send, request back, receive.")
tapes_app.add_typer(box_app, name="box")
STATUS_STYLE = {"ok": "green", "warning": "yellow", "failed": "bold red", "error": "bold red", "running": "cyan"}


def _service(config: Path):
    """The backup service of a config, on its store."""
    from agent.backups.service import BackupService
    from agent.core.settings import load_all

    settings = load_all(config)
    cfg = settings.config
    return BackupService(settings, reading_store(cfg))


def _day(text: str | None, svc) -> date:
    if text is None:
        return datetime.now(svc.tz).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


# ---------------------------------------------------------------------- backups
@backups_app.command("list")
def backups_list(config: ConfigOpt = Path("config.yaml"), day: DateOpt = None,
                 asset: Annotated[str | None, typer.Option(help="only this asset")] = None) -> None:
    """List the backup runs of a day."""
    from agent.documents.backup_log import day_bounds

    svc = _service(config)
    since, until = day_bounds(_day(day, svc), svc.tz)
    table = DataTable()
    for col in ("asset", "level", "attempt", "status", "start", "end", "bytes", "files", "tapes", "errors"):
        table.add_column(col, overflow="fold")
    for r in svc.runs(since, until, asset):
        table.add_row(r["asset"], r["level"], str(r["attempt"]),
                      styled(r["status"], STATUS_STYLE.get(r["status"], "magenta")),
                      f"{r['started_at'].astimezone(svc.tz):%H:%M:%S}",
                      f"{r['ended_at'].astimezone(svc.tz):%H:%M:%S}" if r["ended_at"] else "",
                      str(r["bytes"]), str(r["files"]), r["volumes"] or "", "; ".join(r["errors"][:2]))
    out.print(table)


@backups_app.command("due")
def backups_due(config: ConfigOpt = Path("config.yaml")) -> None:
    """Show each asset's periodicity and whether a scheduled backup is due now."""
    svc = _service(config)
    now = datetime.now(svc.tz)
    due = {a.id: s for a, s in svc.due(now)}
    table = DataTable()
    for col in ("asset", "name", "server", "periodicity", "time", "level", "backend/job", "due now"):
        table.add_column(col, overflow="fold")
    for a in svc.settings.assets.assets:
        table.add_row(a.id, a.name, a.server, a.periodicity.describe(), f"{a.time:%H:%M}", a.level,
                      f"{a.backend}/{a.job}", f"[yellow]{due[a.id]:%d/%m %H:%M}" if a.id in due else "no")
    out.print(table)


@backups_app.command("run")
def backups_run(asset: str, config: ConfigOpt = Path("config.yaml"),
                level: Annotated[str | None, typer.Option(help="completo | incremental | diferencial")] = None) -> None:
    """Run one asset's backup now (with the configured retries); exit 1 if it fails."""
    from agent.core.assets import LEVELS

    svc = _service(config)
    target = svc.settings.assets.get(asset)
    if level is not None and level not in LEVELS:
        raise typer.BadParameter(f"level must be one of {', '.join(LEVELS)}")
    out.print(f"backing up [bold]{esc(target.name)}[/bold] ({esc(target.backend)}/{esc(target.job)}) …")
    import asyncio

    result = asyncio.run(svc.run(target, level=LEVELS[level] if level else None))
    style = STATUS_STYLE.get(result.status, "magenta")
    out.print(f"[{style}]{esc(result.status)}[/]: job {esc(result.job_id)}, {result.files} files, {result.bytes} bytes, "
              f"tapes {', '.join(result.volumes) or '—'}")
    for e in result.errors:
        out.print(f"  [red]{esc(e)}[/red]", highlight=False)
    raise typer.Exit(0 if result.good else 1)


@backups_app.command("bitacora")
def backups_bitacora(config: ConfigOpt = Path("config.yaml"), day: DateOpt = None) -> None:
    """Write the bitácora diaria de copia de respaldo (Anexo 03) of a day, as HTML and XLSX."""
    from agent.documents.compose import compose

    svc = _service(config)
    for p in compose("bitacora-copias", svc.settings, svc.store, day=_day(day, svc)).paths:
        out.print(esc(p), soft_wrap=True, highlight=False)


# ---------------------------------------------------------------------- tapes
def _tapes(config: Path):
    from agent.backups.tapes import TapeInventory

    svc = _service(config)
    return svc, TapeInventory(svc.store)


@tapes_app.command("sync")
def tapes_sync(config: ConfigOpt = Path("config.yaml"),
               rescan: Annotated[bool, typer.Option(help="first make the library read its barcodes again "
                                                         "(after loading or ejecting tapes)")] = False) -> None:
    """Read every tape from the backends that have tapes into the inventory."""
    svc, inv = _tapes(config)
    for name in svc.cfg.backends:
        backend = svc.backend(name)
        if backend.supports_tapes:
            if rescan:
                backend.rescan()
            counts = inv.sync(backend)
            out.print(f"{esc(name)}: {counts['tapes']} tapes ({counts['new']} new)")
    for line in inv.early_recycling(svc.settings.assets):       # the matrix's retention against the backend's
        out.print(f"[yellow]warning[/yellow] {esc(line)}")


@tapes_app.command("label")
def tapes_label(slots: Annotated[str, typer.Argument(help="library slots, e.g. 1-8 or 2,4")],
                pool: Annotated[str, typer.Option(help="the pool the new tapes join")],
                config: ConfigOpt = Path("config.yaml"),
                backend: Annotated[str | None, typer.Option(help="backend name (default: the only one with tapes)")]
                = None) -> None:
    """Label new tapes by their barcodes and add them to the inventory."""
    svc, inv = _tapes(config)
    names = [n for n in svc.cfg.backends if svc.backend(n).supports_tapes]
    if backend is None and len(names) != 1:
        raise typer.BadParameter(f"name the backend with --backend (tape backends: {', '.join(names) or 'none'})")
    chosen = svc.backend(backend or names[0])
    created = chosen.label(pool, slots)
    inv.sync(chosen)
    out.print(f"labelled {len(created)} tape(s): {esc(', '.join(created)) or 'none (already labelled)'}")


@tapes_app.command("list")
def tapes_list(config: ConfigOpt = Path("config.yaml")) -> None:
    """List the tape inventory: status, where each tape is, what it holds."""
    svc, inv = _tapes(config)
    jobs = inv.jobs_by_tape()
    table = DataTable()
    for col in ("tape", "pool", "status", "last written", "retention until", "location", "slot", "box", "holds"):
        table.add_column(col, overflow="fold")
    for t in inv.list():
        table.add_row(t["label"], t["pool"] or "", t["status"],
                      f"{t['last_written'].astimezone(svc.tz):%d/%m/%Y}" if t["last_written"] else "",
                      f"{t['retention_until'].astimezone(svc.tz):%d/%m/%Y}" if t["retention_until"] else "",
                      t["location"], str(t["slot"] or ""), t["box"] or "", "; ".join(jobs.get(t["label"], [])[-3:]))
    out.print(table)


@tapes_app.command("inventory")
def tapes_inventory(config: ConfigOpt = Path("config.yaml")) -> None:
    """Write the tape inventory (Anexo 04) as HTML and XLSX."""
    from agent.documents.compose import compose

    svc, inv = _tapes(config)
    for p in compose("inventario-cintas", svc.settings, svc.store, day=inv.today(svc.tz)).paths:
        out.print(esc(p), soft_wrap=True, highlight=False)


@tapes_app.command("boxes")
def tapes_boxes(config: ConfigOpt = Path("config.yaml")) -> None:
    """List the custody boxes and their movements."""
    svc, inv = _tapes(config)
    table = DataTable()
    for col in ("box", "status", "seal", "tapes", "sent", "returned"):
        table.add_column(col, overflow="fold")
    for b in inv.boxes().values():
        table.add_row(b["box"], b["status"], b["seal"] or "", ", ".join(b["tapes"]),
                      f"{b['sent_at'].astimezone(svc.tz):%d/%m/%Y}" if b["sent_at"] else "",
                      f"{b['returned_at'].astimezone(svc.tz):%d/%m/%Y}" if b["returned_at"] else "")
    out.print(table)


@box_app.command("prepare")
def box_prepare(box: str, tapes: list[str], config: ConfigOpt = Path("config.yaml"),
                seal: Annotated[str | None, typer.Option(help="precinto de seguridad")] = None,
                allow_not_full: Annotated[bool, typer.Option(help="accept tapes that are not full")] = False) -> None:
    """Activity 6: put full tapes in a custody box."""
    svc, inv = _tapes(config)
    c, by = svc.cfg.custody, _who(svc)
    info = inv.prepare(box, tapes, seal, by, c.company, c.box_capacity, allow_not_full)
    out.print(esc(f"box {box}: {', '.join(info['tapes'])} ({info['status']})"))


@box_app.command("send")
def box_send(box: str, config: ConfigOpt = Path("config.yaml"),
             seal: Annotated[str | None, typer.Option(help="precinto de seguridad")] = None,
             mail: Annotated[bool, typer.Option(help="e-mail the custody company")] = True) -> None:
    """Activities 7 and 19: hand a box to the custody company (and tell them by e-mail)."""
    svc, inv = _tapes(config)
    (info, leaves_with), by = inv.check_send(box, seal), _who(svc)     # refused: nobody is told
    if mail:
        _mail(svc, "enviada", {**info, "seal": leaves_with}, by)
    inv.send(box, by, seal)
    out.print(esc(f"box {box} sent to {svc.cfg.custody.company}" + (" (e-mail sent)" if mail else "")))


@box_app.command("request")
def box_request(box: str, reason: Annotated[str, typer.Option(help="why (a restore request...)")],
                config: ConfigOpt = Path("config.yaml"),
                mail: Annotated[bool, typer.Option(help="e-mail the custody company")] = True) -> None:
    """Activity 13: ask the custody company to bring a box back, as an emergency service."""
    svc, inv = _tapes(config)
    info, by = inv.box(box), _who(svc)
    if info["status"] == "enviada" and mail:       # an impossible request is refused by inv.request, unmailed
        _mail(svc, "solicitada", info, by, reason)
    inv.request(box, by, reason)
    out.print(esc(f"box {box} requested back from {svc.cfg.custody.company}"))


@box_app.command("receive")
def box_receive(box: str, config: ConfigOpt = Path("config.yaml"),
                seal: Annotated[str | None, typer.Option(help="the seal number on the box received")] = None) -> None:
    """Activity 14: a box is back in the office."""
    svc, inv = _tapes(config)
    info = inv.receive(box, _who(svc), seal)
    note = inv.movements(box)[-1]["note"]
    out.print(esc(f"box {box} received: {', '.join(info['tapes'])}") + (f" — [red]{esc(note)}[/red]" if note else ""))


def _who(svc) -> str:
    """The person this OS user is, as custody records name them (no `--by`: a typed name is no identity)."""
    from agent.cli.identity import local_person

    return local_person(svc.settings).describe()


def _mail(svc, movement: str, box: dict, by: str, reason: str | None = None) -> None:
    """Tell the custody company; when the mail cannot go, nothing is recorded (the message is withdrawn)."""
    from agent.backups.custody import tell_company
    from agent.errors import MailError

    source = f"custody:{box['box']}:{movement}:{datetime.now(svc.tz):%Y%m%dT%H%M%S}"
    try:
        tell_company(svc.settings, svc.store, movement, box, by, source=source, reason=reason,
                     withdraw_on_failure=True)
    except MailError as err:
        raise AgentError(f"{err}; nothing was recorded — retry, or record it with --no-mail") from None


def register(app: typer.Typer) -> None:
    """Add the backup and tape commands to the CLI."""
    app.add_typer(backups_app, name="backups")
    app.add_typer(tapes_app, name="tapes")

