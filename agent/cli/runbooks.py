"""The runbook commands of the CLI: plan, run, runs, run-status, approve, confirm, cancel, resume."""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli.live import style
from agent.errors import AgentError

out = Console()
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="runbook parameter, key=value")]
ByOpt = Annotated[str, typer.Option("--by", help="your name, as it goes in the journal")]


def _env(config: Path, progress=None):
    from agent.cli.show import reading_store
    from agent.core.settings import load_all
    from agent.runbook.engine import Engine

    settings = load_all(config)
    return Engine(settings, reading_store(settings.config), progress)


def _params(values: list[str] | None) -> dict[str, str]:
    out_ = {}
    for v in values or []:
        if "=" not in v:
            raise typer.BadParameter(f"{v!r}: parameters are key=value")
        k, _, val = v.partition("=")
        out_[k.strip()] = val
    return out_


def _book(engine, name: str):
    from agent.runbook.model import find, load

    cfg = engine.settings.config
    return load(find(name, cfg.path(cfg.runbooks_dir)))


def plan(runbook: str, config: ConfigOpt = Path("config.yaml"), param: ParamOpt = None) -> None:
    """Print the ordered plan of a runbook against the inventory; nothing is touched."""
    from agent.runbook.plan import make_plan

    engine = _env(config)
    book = _book(engine, runbook)
    p = make_plan(book, book.resolve_params(_params(param)), engine.settings)
    out.print(f"[bold]{book.title}[/bold] — {book.procedure}")
    out.print("parámetros: " + ", ".join(f"{k}={v}" for k, v in p.params.items()))
    table = Table()
    for col in ("act.", "step", "kind", "what", "targets, in order", "par.", "needs", "start s", "est. s"):
        table.add_column(col, overflow="fold")
    for ps in p.steps:
        s = ps.step
        targets = ", ".join(d.name for d in ps.targets) or "—"
        what = ps.description if ps.runs else f"[dim]no aplica ({s.when})[/dim]"
        table.add_row(",".join(map(str, s.activities)), s.id, s.kind, what, targets, str(s.parallel),
                      ", ".join(s.needs), f"{ps.start_s:.0f}", f"{ps.estimate_s:.0f}")
    out.print(table)
    approvals = [f"{ps.step.id} ({ps.step.with_.get('role')})" for ps in p.steps if ps.step.kind == "approval"]
    if approvals:
        out.print("aprobaciones: " + " → ".join(approvals))
    for ps in p.steps:
        if ps.parallel_with and ps.runs:
            out.print(f"en paralelo: {ps.step.id} con {', '.join(ps.parallel_with)}")
    out.print(f"ruta crítica (estimada, sin esperas de personas): {p.critical_path_s:.0f} s — "
              + " → ".join(p.critical_path))
    out.print(f"equipos en mantenimiento durante la ejecución: {', '.join(p.devices) or 'ninguno'}")


def run(runbook: str, config: ConfigOpt = Path("config.yaml"), param: ParamOpt = None,
        by: Annotated[str | None, typer.Option("--by", help="who starts it (default: your login)")] = None) -> None:
    """Start a runbook and execute it with live progress. Exit 0 only if it ends successful (not
    failed, canceled, or completed_with_failures: steps that failed with on_failure: continue)."""
    engine = _env(config)
    book = _book(engine, runbook)
    params = book.resolve_params(_params(param))
    run_id = engine.start(book, params, by or os.environ.get("SUDO_USER") or getpass.getuser())
    out.print(f"run [bold]{run_id}[/bold] started; from another terminal: oti-agent run-status {run_id}",
              soft_wrap=True)
    _execute(engine, run_id)


def resume(run_id: str, config: ConfigOpt = Path("config.yaml")) -> None:
    """Continue a run that was interrupted; done steps are not repeated."""
    _execute(_env(config), run_id)


def _execute(engine, run_id: str) -> None:
    from agent.cli.live import RunView
    from agent.runbook.model import load
    from agent.runbook.plan import make_plan

    run_ = engine.journal.run(run_id)
    plan_ = make_plan(load(Path(run_["runbook_path"])), run_["params"], engine.settings)
    with RunView(out, run_id, plan_) as view:
        engine.progress = view
        status = asyncio.run(engine.execute(run_id))
    _finish(status, run_id, engine.journal.run(run_id)["message"])


def _finish(status: str, run_id: str, message: str | None = None) -> None:
    """Say how the run ended; exit 0 only when it was successful (completed_with_failures is not)."""
    out.print(f"run {run_id}: [{style(status)}]{status}[/]" + (f" — {escape(message)}" if message else ""),
              soft_wrap=True)
    raise typer.Exit(0 if status == "successful" else 1)


def runs(config: ConfigOpt = Path("config.yaml"), limit: int = 20) -> None:
    """List the latest runs."""
    from agent.runbook.engine import alive
    from agent.runbook.journal import TERMINAL

    engine = _env(config)
    table = Table()
    for col in ("run", "runbook", "status", "started by", "created", "message"):
        table.add_column(col, overflow="fold", no_wrap=col in ("run", "status"))
    for r in engine.journal.runs(limit):
        status, message = r["status"], r["message"] or ""
        if status not in TERMINAL and status != "pending" and r["pid"] and not alive(r["pid"]):
            status, message = "interrupted", f"oti-agent resume {r['id']}"
        table.add_row(r["id"], r["runbook"], f"[{style(status)}]{status}", r["started_by"],
                      f"{r['created_at']:%Y-%m-%d %H:%M}", message)
    out.print(table)


def run_status(run_id: str, config: ConfigOpt = Path("config.yaml")) -> None:
    """Show a run's steps, what each is waiting for, and its actions."""
    from agent.runbook.model import load

    engine = _env(config)
    run_ = engine.journal.run(run_id)
    book = load(run_["runbook_path"])
    steps = engine.journal.steps(run_id)
    actions = engine.journal.actions(run_id)
    out.print(f"[bold]{run_id}[/bold] {run_['title']}: [{style(run_['status'])}]{run_['status']}[/] "
              f"{run_['message'] or ''}")
    table = Table()
    for col in ("act.", "step", "status", "actions", "message"):
        table.add_column(col, overflow="fold")
    for s in book.steps:
        row = steps[s.id]
        acts = [a for a in actions if a["step_id"] == s.id and a["target"]]
        summary = ", ".join(f"{a['target']}:{a['status']}" for a in acts)
        table.add_row(",".join(map(str, s.activities)), s.id, f"[{style(row['status'])}]{row['status']}",
                      summary, row["message"] or "")
    out.print(table)


def approve(run_id: str, role: Annotated[str, typer.Option("--as", help="the role you approve as")], by: ByOpt,
            reject: Annotated[bool, typer.Option("--reject", help="reject instead")] = False,
            comment: Annotated[str | None, typer.Option(help="why")] = None,
            config: ConfigOpt = Path("config.yaml")) -> None:
    """Approve (or reject) the approval step a run waits on, as a role."""
    from agent.runbook.model import load

    engine = _env(config)
    j = engine.journal
    run_ = j.run(run_id)
    book = load(run_["runbook_path"])
    steps = j.steps(run_id)
    waiting = [s for s in book.steps if s.kind == "approval" and steps[s.id]["status"] == "awaiting_approval"]
    match = [s for s in waiting if s.with_.get("role") == role]
    if not match:
        roles = ", ".join(str(s.with_.get("role")) for s in waiting) or "nobody"
        raise AgentError(f"run {run_id} is not waiting for an approval by {role!r} (it waits for: {roles})")
    step = match[0]
    if by == run_["started_by"]:
        raise AgentError(f"{by} started run {run_id} and cannot approve it")
    for other in step.with_.get("distinct_from", []):
        if any(d["by"] == by for d in j.decisions(run_id, other, kind="approval")):
            raise AgentError(f"{by} already approved step {other}; step {step.id} needs a different person")
    j.add_decision(run_id, step.id, "approval", by, "rejected" if reject else "approved", role=role, comment=comment)
    out.print(f"{'rejected' if reject else 'approved'} {run_id} {step.id} as {role} by {by}")


def confirm(run_id: str, step: str, by: ByOpt,
            value: Annotated[list[str] | None, typer.Option("--value", help="a reading entered, key=value")] = None,
            comment: Annotated[str | None, typer.Option(help="a note for the journal")] = None,
            retry: Annotated[bool, typer.Option("--retry", help="a failed step: try it again")] = False,
            skip: Annotated[bool, typer.Option("--skip", help="a failed step: go on without it")] = False,
            abort: Annotated[bool, typer.Option("--abort", help="a failed step: fail the run")] = False,
            done: Annotated[bool, typer.Option("--done", help="an interrupted action: it did take effect")] = False,
            config: ConfigOpt = Path("config.yaml")) -> None:
    """Confirm a physical action a run waits on, or answer a step that asks what to do."""
    engine = _env(config)
    j = engine.journal
    j.run(run_id)
    row = j.steps(run_id).get(step)
    if row is None:
        raise AgentError(f"run {run_id} has no step {step!r}")
    answers = [a for a, flag in (("retry", retry), ("skip", skip), ("abort", abort), ("done", done)) if flag]
    if len(answers) > 1:
        raise typer.BadParameter("give one of --retry, --skip, --abort, --done")
    if row["status"] == "awaiting_decision":
        if not answers:
            raise AgentError(f"step {step} asks: {row['message']}")
        j.add_decision(run_id, step, "resolve", by, answers[0], comment=comment)
    elif row["status"] == "awaiting_confirmation" and not answers:
        j.add_decision(run_id, step, "confirm", by, "confirmed", comment=comment, values=_params(value))
    else:
        raise AgentError(f"step {step} of run {run_id} is {row['status']}, not waiting for you")
    out.print(f"{answers[0] if answers else 'confirmed'}: {run_id} {step} by {by}")


def cancel(run_id: str, by: ByOpt, config: ConfigOpt = Path("config.yaml")) -> None:
    """Ask a running run to stop; steps in progress are interrupted, the rest not started."""
    engine = _env(config)
    engine.journal.request_cancel(run_id, by)
    out.print(f"cancel requested for {run_id}")


def register(app: typer.Typer) -> None:
    """Add the runbook commands to the CLI."""
    for fn in (plan, run, resume, runs, approve, confirm, cancel):
        app.command()(fn)
    app.command("run-status")(run_status)
