"""What `oti-agent run` and `resume` show while a run goes on.

On a terminal: a Rich live table of the steps (status, targets done of total, time, last word)
under a scrolling log of what happened. Piped or redirected: the log lines alone, so a log file
or a test reads plain text. Either way it is fed by the engine's progress callback.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agent.runbook.kinds import load_kind

STYLE = {"successful": "green", "done": "green", "failed": "bold red", "skipped": "dim", "canceled": "yellow",
         "completed_with_failures": "bold yellow", "running": "cyan", "started": "cyan", "pending": "dim"}
WAITING = ("awaiting_approval", "awaiting_confirmation", "awaiting_decision")
HINT = {"awaiting_approval": "oti-agent approve {run} --as ROL --by NOMBRE",
        "awaiting_confirmation": "oti-agent confirm {run} {step} --by NOMBRE",
        "awaiting_decision": "oti-agent confirm {run} {step} --by NOMBRE --retry|--skip|--abort"}


def style(status: str) -> str:
    return STYLE.get(status, "bold magenta" if status in WAITING else "magenta")


@dataclass
class _Row:
    activities: str
    name: str
    targets: int
    status: str = "pending"
    done: set[str] = field(default_factory=set)
    started: float | None = None
    ended: float | None = None
    message: str = ""


class RunView:
    """The engine's progress callback, drawn as a live table or printed as lines."""

    def __init__(self, console: Console, run_id: str, plan):
        self.console, self.run_id = console, run_id
        # targets are counted for kinds that act on each one; a batch kind acts once for all
        self.rows = {ps.step.id: _Row(",".join(map(str, ps.step.activities)), ps.step.name,
                                      0 if load_kind(ps.step.kind).batch else len(ps.targets))
                     for ps in plan.steps}
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._quiet = False

    def __enter__(self) -> RunView:
        if self.console.is_terminal:
            self._live = Live(console=self.console, get_renderable=self._table, refresh_per_second=4,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def __call__(self, step_id: str, target: str | None, status: str, message: str) -> None:
        """A step's status (target None) or an action's (target name, "" when the step acts once)."""
        with self._lock:
            row = self.rows.get(step_id)
            if row is not None:
                self._update(row, target, status, message)
        if self._quiet:
            return
        try:
            self._log(step_id, target, status, message)
        except (OSError, SystemExit):
            # the reader went away (a closed pipe): the run goes on, journalled; only the view stops
            self._quiet = True

    def _update(self, row: _Row, target: str | None, status: str, message: str) -> None:
        now = time.monotonic()
        if target is None:
            row.status = status
            row.message = message or ""
            if status == "running" and row.started is None:
                row.started = now
            if status in ("successful", "failed", "skipped", "canceled"):
                row.ended = now
        else:                                   # an action: on a target, or "" for a step acting once
            if status == "done" and target:
                row.done.add(target)
            row.message = f"{target}: {message}" if target else message

    def _log(self, step_id: str, target: str | None, status: str, message: str) -> None:
        when = datetime.now().strftime("%H:%M:%S")
        where = step_id + (f" [{target}]" if target else "")
        line = f"{when} [{style(status)}]{status:<21}[/] {where} {message or ''}"
        if status in HINT and not (message or "").startswith("oti-agent"):
            line += f"\n         → {HINT[status].format(run=self.run_id, step=step_id)}"
        self.console.print(line, highlight=False, soft_wrap=True)

    def _table(self) -> Group:
        now = time.monotonic()
        table = Table(title=f"run {self.run_id}", title_justify="left", expand=True)
        for col, kw in (("act.", {"width": 6}), ("paso", {"ratio": 2}), ("estado", {"width": 22}),
                        ("equipos", {"width": 8, "justify": "right"}), ("tiempo", {"width": 7, "justify": "right"}),
                        ("último", {"ratio": 3})):
            table.add_column(col, overflow="ellipsis", no_wrap=True, **kw)
        with self._lock:
            rows = list(self.rows.items())
        counts: dict[str, int] = {}
        for step_id, r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
            took = "" if r.started is None else f"{(r.ended or now) - r.started:.0f}s"
            table.add_row(r.activities, f"{step_id} — {r.name}", Text(r.status, style=style(r.status)),
                          f"{len(r.done)}/{r.targets}" if r.targets else "", took, r.message)
        summary = Text("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())), style="dim")
        return Group(table, summary)
