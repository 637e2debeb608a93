"""The `oti-agent` command line. The only module (with daemon.py) that prints or sets up logging."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

# Help and usage errors in click's plain format: Typer's Rich help imports Markdown and traceback renderers
# (about 0.1 CPU-s on every `oti-agent` start) and boxes that fold badly at 80 columns.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from agent.cli.show import DataTable, esc, styled  # noqa: E402
from agent.core.results import State  # noqa: E402
from agent.errors import AgentError, ConfigError  # noqa: E402

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="oti-agent: monitoring, runbooks and paperwork for an IT office's datacenter.")
config_app = typer.Typer(no_args_is_help=True, help="Validate configuration.")
app.add_typer(config_app, name="config")
out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file", show_default=True)]
DEFAULT_CONFIG = Path("config.yaml")
STATE_STYLE = {State.OK: "green", State.WARNING: "yellow", State.CRITICAL: "bold red", State.UNKNOWN: "magenta"}


def _settings(path: Path, strict: bool = False):
    from agent.core.settings import load_all

    settings = load_all(path, strict=strict)
    if strict:                  # what the daemon itself starts: its schedules' and policies' runbooks
        from agent.runbook import automation_check

        problems = automation_check.problems(settings)
        if problems:
            raise ConfigError(problems)
    return settings


@config_app.command("check")
def config_check(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Validate a config, its inventory and profiles; list every error with file, path and line (exit 2)."""
    try:
        settings = _settings(config, strict=True)     # every secret resolvable, here and now
    except ConfigError as e:
        for p in e.problems:
            err.print(f"[red]error[/red] {esc(p)}", highlight=False, soft_wrap=True)
        err.print(f"{len(e.problems)} problem(s) found")
        raise typer.Exit(2) from None
    groups = len(settings.config.check_groups)
    out.print(f"{esc(config)}: OK ({len(settings.inventory)} devices, {groups} check groups, "
              f"{len(settings.data.get('snmp.profiles', {}))} SNMP profiles)")


@app.command()
def inventory(config: ConfigOpt = DEFAULT_CONFIG,
              inventory_file: Annotated[Path | None, typer.Option("--inventory", "-i",
                                                                  help="read this inventory instead")] = None,
              as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """List devices by kind, criticality and order."""
    from agent.core import inventory as inv_mod

    inv = inv_mod.load(inventory_file) if inventory_file else _settings(config).inventory
    if as_json:
        print(json.dumps([d.model_dump(mode="json", exclude_none=True) for d in inv], ensure_ascii=False, indent=2))
        return
    table = DataTable(title=esc(f"Inventory {inv.path} ({len(inv)} devices)"))
    for col in ("kind", "order", "device", "address", "criticality", "site", "groups", "access"):
        table.add_column(col)
    for d in inv:
        access = ", ".join(a for a, v in (("snmp", d.snmp), ("ssh", d.ssh), ("ipmi", d.ipmi)) if v)
        crit = styled(d.criticality, "bold" if d.criticality == "critico" else "")
        table.add_row(d.kind, str(d.order), d.name, d.address, crit, d.site, ", ".join(d.groups), access)
    out.print(table)


@app.command()
def check(config: ConfigOpt = DEFAULT_CONFIG,
          device: Annotated[str | None, typer.Option("--device", "-d", help="only this device")] = None,
          group: Annotated[str | None, typer.Option("--group", "-g", help="only this check group")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
          show_ok: Annotated[bool, typer.Option("--all/--problems", help="show every reading or only problems")]
          = True) -> None:
    """Run the probes once and print readings and states. Exit 2 if anything is CRITICAL or unreachable."""
    import asyncio

    from agent.monitoring.once import run_once

    settings = _settings(config)
    results = asyncio.run(run_once(settings, group=group, device=device))
    if as_json:
        print(json.dumps([_result_json(r) for r in results], ensure_ascii=False, indent=2))
    else:
        _print_results(results, show_ok)
    bad = any(not r.up or r.state == State.CRITICAL for r in results)
    raise typer.Exit(2 if bad else 0)


def _result_json(r) -> dict:
    return {"check": r.check, "device": r.device, "up": r.up, "state": r.state.name, "error": r.error,
            "duration_s": round(r.duration_s, 4),
            "readings": [{"name": x.name, "labels": dict(x.labels), "value": x.value, "text": x.text,
                          "unit": x.unit, "state": x.state.name, "message": x.message or None} for x in r.readings]}


def _print_results(results, show_ok: bool) -> None:
    table = DataTable(title="oti-agent check")
    for col in ("device", "check", "reading", "labels", "value", "state", "note"):
        table.add_column(col, overflow="fold")
    for r in sorted(results, key=lambda r: (r.device, r.check)):
        if not r.up:
            table.add_row(r.device, r.check, "-", "", "-", styled(r.state.name, STATE_STYLE[r.state]), r.error or "")
            continue
        for x in r.readings:
            if not show_ok and x.state == State.OK:
                continue
            value = x.text if x.value is None else _fmt(x.value, x.unit, x.text)
            table.add_row(r.device, r.check, x.name, _labels(x.labels), value or "",
                          styled(x.state.name, STATE_STYLE[x.state]), x.message)
    out.print(table)
    down = sum(1 for r in results if not r.up)
    worst = State.worst(r.state for r in results)
    out.print(f"{len(results)} checks, {down} unreachable/failed, worst state {worst.name}")


def _labels(labels) -> str:
    # row indexes (ifindex, sensor_id, line...) are for machines; names are what a person reads
    named = [(k, v) for k, v in labels if v and not k.endswith(("index", "_id"))]
    return " ".join(v for _, v in named) if named else " ".join(v for _, v in labels)


def _fmt(value: float, unit: str, text: str | None) -> str:
    shown = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"
    if text:
        return f"{text} ({shown})"
    return f"{shown} {unit}".strip()


@app.command()
def serve(config: ConfigOpt = DEFAULT_CONFIG,
          log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
          log_json: Annotated[bool, typer.Option("--log-json", help="one JSON object per log line")] = False) -> None:
    """Run the monitoring daemon: scheduled checks, the store, and /metrics."""
    import asyncio
    import signal

    # SIGTERM while starting (imports, profiles, the store): a quiet exit, not death by signal; the running
    # daemon's own handler replaces this one once its loop runs
    signal.signal(signal.SIGTERM, _stop_while_starting)

    from agent import log
    from agent.daemon import Daemon

    log.setup(log_level, log_json)
    settings = _settings(config, strict=True)
    asyncio.run(_when_the_store_opens(settings, Daemon).serve())
    _exit_now()


def _stop_while_starting(_signum, _frame) -> None:
    raise SystemExit(0)


def _when_the_store_opens(settings, daemon_class):
    """The daemon, once its store can be written: a full disk is said once (which disk, how much room) and
    tried again every `store.retry_every` until there is room (SIGTERM stops the wait)."""
    import time

    from agent.store.store import no_room, room_message

    cfg, told = settings.config, False
    while True:
        try:
            return daemon_class.create(settings)
        except AgentError as err:
            if not no_room(cfg.store.url, err):
                raise
            if not told:
                logging.getLogger("agent.daemon").error("%s; trying again every %gs", room_message(cfg.store.url),
                                                        cfg.store.retry_every)
                told = True
            time.sleep(cfg.store.retry_every)


def _exit_now() -> None:
    """Leave at once once the daemon has stopped cleanly (store closed, logs written): a probe thread
    still blocked in a library call (paramiko waiting out a dead host's banner) is abandoned, not
    waited for, so SIGTERM stops the agent in a moment, not after the slowest timeout."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def checks() -> None:
    """List the registered check plugins and their options."""
    from agent.core import plugins

    for name in plugins.names("checks"):
        plugin = plugins.check(name)
        out.print(f"[bold]{esc(name)}[/bold]: {esc(plugin.description)}")
        for field, info in plugin.Options.model_fields.items():
            if info.is_required():
                given = "required"
            else:
                default = info.default if info.default_factory is None else info.default_factory()
                shown = default.model_dump(exclude_defaults=True) if hasattr(default, "model_dump") else default
                given = f"default {shown!r}"
            out.print(esc(f"    {field} ({given}){': ' + info.description if info.description else ''}"),
                      highlight=False)


@app.command()
def profiles(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """List the SNMP device profiles (built-in plus the config's profiles_dirs)."""
    from agent.core import plugins
    from agent.core.config import AgentConfig, load

    cfg = load(config) if config.exists() else AgentConfig()
    for name, p in sorted(plugins.check("snmp").profiles(cfg).items()):
        n = len(p.metrics) + sum(len(t.metrics) for t in p.tables)
        out.print(f"[bold]{esc(name)}[/bold] ({esc(', '.join(p.kinds))}; {n} readings): {esc(p.description)}")


@app.command()
def demo(workdir: Annotated[Path, typer.Option(help="where the demo writes its config and store")] = Path("var/demo"),
         port: Annotated[int, typer.Option(help="port of /metrics")] = 9877,
         power_failure: Annotated[bool, typer.Option(help="play a power failure: the UPS goes on battery, the "
                                                          "staged shutdown, the mains back, the gated startup")] = False,
         power_failure_after: Annotated[float, typer.Option(help="seconds before the mains fail")] = 60.0) -> None:
    """Start a simulated datacenter on loopback and the daemon on it; Ctrl-C stops everything."""
    from agent import log
    from agent.demo import run_demo

    log.setup("INFO")
    run_demo(workdir, port, out, power_failure_after if power_failure else None)


from agent.cli import alerts as _alerts  # noqa: E402 - the command families, added once the app exists
from agent.cli import backups as _backups  # noqa: E402
from agent.cli import discover as _discover  # noqa: E402
from agent.cli import doctor as _doctor  # noqa: E402
from agent.cli import reports as _reports  # noqa: E402
from agent.cli import runbooks as _runbooks  # noqa: E402
from agent.cli import users as _users  # noqa: E402
from agent.cli import verify as _verify  # noqa: E402

for _family in (_runbooks, _backups, _alerts, _reports, _users, _discover, _doctor, _verify):
    _family.register(app)


def main() -> None:
    """Entry point: run the CLI, turning agent errors into one line and exit code 1."""
    # everything the agent writes (the store, its WAL, documents with DNI numbers, mail bodies, the run
    # journal) is its user's alone; documents_group_readable opens the documents to the group
    os.umask(0o077)
    try:
        app()
    except ConfigError as e:
        for p in e.problems:
            err.print(f"[red]error[/red] {esc(p)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except AgentError as e:
        err.print(f"[red]error[/red] {esc(e)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 - last resort: a short line here, the traceback in the debug log
        logging.getLogger("agent.cli").debug("unexpected error", exc_info=True)
        path = _crash_report()
        err.print(f"[red]unexpected error[/red] {esc(repr(sys.exc_info()[1]))}; traceback written to {esc(path)}",
                  highlight=False, soft_wrap=True)
        sys.exit(1)


def _crash_report() -> str:
    """Write the traceback to a new file only its owner reads (mkstemp: 0600, O_EXCL, never a link)."""
    import tempfile
    import traceback

    from agent.core.secrets import redact

    fd, path = tempfile.mkstemp(prefix="oti-agent-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(redact(traceback.format_exc()))      # a secret that slipped into a message stays out
    return path
