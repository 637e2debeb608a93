"""The runbook commands of the CLI: clients of the daemon, which alone carries runs out.

`run` asks the daemon to start a runbook and follows its journal; Ctrl-C (or a closed terminal) only stops
following — the run goes on. `approve`, `confirm`, `cancel`, `resume` ask the daemon, as the person this
OS user is (or the token's). `plan`, `runs` and `run-status` read; the last two answer from the store
when the daemon is down (said so), and `plan` needs no daemon at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli.client import Daemon
from agent.cli.live import RunView, style
from agent.errors import DaemonUnavailable, RunbookError

out = Console()
err = Console(stderr=True)
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="runbook parameter, key=value")]
CommentOpt = Annotated[str | None, typer.Option(help="why (required to reject); it goes to the journal")]
FOLLOW_S = 0.3


def _params(values: list[str] | None) -> dict[str, str]:
    found = {}
    for v in values or []:
        if "=" not in v:
            raise typer.BadParameter(f"{v!r}: parameters are key=value")
        k, _, val = v.partition("=")
        found[k.strip()] = val
    return found


def plan(runbook: str, config: ConfigOpt = Path("config.yaml"), param: ParamOpt = None) -> None:
    """Print the ordered plan of a runbook against the inventory; nothing is touched."""
    from agent.cli.plan_view import print_plan

    print_plan(out, runbook, config, _params(param))


def run(runbook: str, config: ConfigOpt = Path("config.yaml"), param: ParamOpt = None,
        detach: Annotated[bool, typer.Option("--detach", help="return at once with the run id")] = False) -> None:
    """Ask the daemon to start a runbook, then follow it live (Ctrl-C stops following; the run goes on).
    Exit 0 only if it ends successful (not failed, canceled, or completed_with_failures)."""
    daemon = Daemon(config)
    started = daemon.post("/runs", {"runbook": runbook, "params": _params(param)})
    run_id = started["id"]
    out.print(f"run [bold]{run_id}[/bold] started by the daemon; follow it: oti-agent run-status {run_id}",
              soft_wrap=True)
    if detach:
        return
    _follow(daemon, run_id)


def resume(run_id: str, config: ConfigOpt = Path("config.yaml"),
           detach: Annotated[bool, typer.Option("--detach", help="return at once")] = False) -> None:
    """Ask the daemon to carry on a run (it resumes unfinished runs by itself when it starts)."""
    daemon = Daemon(config)
    daemon.post(f"/runs/{run_id}/resume")
    if not detach:
        _follow(daemon, run_id)


def _follow(daemon: Daemon, run_id: str) -> None:
    """Draw the run from its journal events until it ends; Ctrl-C detaches."""
    detail = daemon.get(f"/runs/{run_id}")
    after = 0
    try:
        with RunView(out, run_id, detail["steps"]) as view:
            ended = False
            while True:
                for e in daemon.get(f"/runs/{run_id}/events", after=after):
                    after = e["id"]
                    view.event(e)
                if ended:           # the events journalled between the last read and the end are drawn too
                    break
                ended = daemon.get(f"/runs/{run_id}")["status"] in _terminal()
                if not ended:
                    time.sleep(FOLLOW_S)
    except KeyboardInterrupt:
        out.print(f"\nno longer following {run_id}: the daemon carries it on (oti-agent run-status {run_id})")
        raise typer.Exit(0) from None
    final = daemon.get(f"/runs/{run_id}")
    _finish(final["status"], run_id, final.get("message"))


def _terminal():
    # the store's modules, only when a run is followed (`--help` stays fast)
    from agent.runbook.journal import TERMINAL

    return TERMINAL


def _finish(status: str, run_id: str, message: str | None = None) -> None:
    """Say how the run ended; exit 0 only when it was successful (completed_with_failures is not)."""
    out.print(f"run {run_id}: [{style(status)}]{status}[/]" + (f" — {escape(message)}" if message else ""),
              soft_wrap=True)
    raise typer.Exit(0 if status == "successful" else 1)


def runs(config: ConfigOpt = Path("config.yaml"), limit: int = 20) -> None:
    """List the latest runs (from the store when the daemon is down)."""
    try:
        found = Daemon(config).get("/runs", limit=limit)
    except DaemonUnavailable as down:
        found = _offline(config, down).runs(limit)
    table = Table()
    for col in ("run", "runbook", "status", "started by", "created", "message"):
        table.add_column(col, overflow="fold", no_wrap=col in ("run", "status"))
    for r in found:
        created = str(r["created_at"])[:16].replace("T", " ")
        table.add_row(r["id"], escape(r["runbook"]), f"[{style(r['status'])}]{r['status']}",
                      escape(r["started_by"]), created, escape(r["message"] or ""))
    out.print(table)


def run_status(run_id: str, config: ConfigOpt = Path("config.yaml")) -> None:
    """Show a run's steps, what each is waiting for and who was asked, and its actions."""
    try:
        detail = Daemon(config).get(f"/runs/{run_id}")
    except DaemonUnavailable as down:
        from agent.runbook.report import run_detail

        journal = _offline(config, down)
        detail = run_detail(journal, run_id)
    out.print(f"[bold]{run_id}[/bold] {escape(detail['title'])}: [{style(detail['status'])}]{detail['status']}[/] "
              f"{escape(detail['message'] or '')}", soft_wrap=True)
    table = Table()
    for col in ("act.", "step", "status", "actions", "message"):
        table.add_column(col, overflow="fold")
    for s in detail["steps"]:
        acts = ", ".join(f"{a['target']}:{a['status']}" for a in s["actions"] if a["target"])
        once = [a for a in s["actions"] if not a["target"]]          # a step acting once: its result
        message = s["message"] or (once[-1]["message"] or "" if once else "")
        if s.get("asked"):
            message += f" (se pidió a: {', '.join(s['asked'])})"
        table.add_row(s["activities"], s["id"], f"[{style(s['status'])}]{s['status']}", escape(acts),
                      escape(message))
    out.print(table)


def _offline(config: Path, down: DaemonUnavailable):
    """The journal read straight from the store, when the daemon cannot be asked (said once)."""
    from agent.cli.show import reading_store
    from agent.core.settings import load_all
    from agent.runbook.journal import Journal

    err.print(f"[yellow]warning[/yellow] {escape(str(down))}; reading the store directly", soft_wrap=True)
    return Journal(reading_store(load_all(config).config))


def approve(run_id: str, step: Annotated[str | None, typer.Argument(help="the approval step (default: the one "
                                                                         "the run waits on)")] = None,
            reject: Annotated[bool, typer.Option("--reject", help="reject instead (give --comment)")] = False,
            comment: CommentOpt = None, config: ConfigOpt = Path("config.yaml")) -> None:
    """Approve (or reject, with a comment) the approval a run waits on, as yourself: the daemon checks that
    you hold its role, did not start the run, and did not approve a step that needs another person."""
    daemon = Daemon(config)
    step = step or _waiting_step(daemon, run_id, "awaiting_approval")
    done = daemon.post(f"/runs/{run_id}/steps/{step}/approve", {"approve": not reject, "comment": comment})
    out.print(f"{done['decision']}: {run_id} {step} by {escape(done['by'])}")


def confirm(run_id: str, step: str,
            value: Annotated[list[str] | None, typer.Option("--value", help="a reading entered, key=value")] = None,
            comment: CommentOpt = None,
            retry: Annotated[bool, typer.Option("--retry", help="a failed step: try it again")] = False,
            skip: Annotated[bool, typer.Option("--skip", help="a failed step: go on without it")] = False,
            abort: Annotated[bool, typer.Option("--abort", help="a failed step: fail the run")] = False,
            done: Annotated[bool, typer.Option("--done", help="an interrupted action: it did take effect")] = False,
            config: ConfigOpt = Path("config.yaml")) -> None:
    """Confirm a physical action a run waits on, or answer a step that asks what to do."""
    answers = [a for a, flag in (("retry", retry), ("skip", skip), ("abort", abort), ("done", done)) if flag]
    if len(answers) > 1:
        raise typer.BadParameter("give one of --retry, --skip, --abort, --done")
    body = {"values": _params(value), "comment": comment, "answer": answers[0] if answers else None}
    result = Daemon(config).post(f"/runs/{run_id}/steps/{step}/confirm", body)
    out.print(f"{result['decision']}: {run_id} {step} by {escape(result['by'])}")


def cancel(run_id: str, config: ConfigOpt = Path("config.yaml")) -> None:
    """Ask a run to stop (whoever started it, or the jefa); steps in progress are interrupted."""
    Daemon(config).post(f"/runs/{run_id}/cancel")
    out.print(f"cancel requested for {run_id}")


def _waiting_step(daemon: Daemon, run_id: str, status: str) -> str:
    steps = [s["id"] for s in daemon.get(f"/runs/{run_id}")["steps"] if s["status"] == status]
    if not steps:
        raise RunbookError(f"run {run_id} is not waiting for an approval")
    return steps[0]


def register(app: typer.Typer) -> None:
    """Add the runbook commands to the CLI."""
    for fn in (plan, run, resume, runs, approve, confirm, cancel):
        app.command()(fn)
    app.command("run-status")(run_status)
