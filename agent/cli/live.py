"""What `oti-agent run` and `resume` show while a run goes on.

On a terminal: a Rich live table of the steps (status, targets done of total, time, last word)
under a scrolling log of what happened. Piped or redirected: the log lines alone, so a log file
or a test reads plain text. It is fed by the run's journal events, as the daemon's API gives them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

STYLE = {"successful": "green", "done": "green", "failed": "bold red", "skipped": "dim", "canceled": "yellow",
         "completed_with_failures": "bold yellow", "running": "cyan", "started": "cyan", "pending": "dim"}
WAITING = ("awaiting_approval", "awaiting_confirmation", "awaiting_decision")
HINT = {"awaiting_approval": "oti-agent approve {run} {step}   (by a holder of its role: they were mailed a link)",
        "awaiting_confirmation": "oti-agent confirm {run} {step}",
        "awaiting_decision": "oti-agent confirm {run} {step} --retry|--skip|--abort"}


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
    """A run's progress, drawn as a live table or printed as lines."""

    def __init__(self, console: Console, run_id: str, steps: list[dict]):
        self.console, self.run_id = console, run_id
        # targets are counted for kinds that act on each one (the daemon says 0 for one acting once for all)
        self.rows = {s["id"]: _Row(s["activities"], s["name"], s["targets"], s["status"]) for s in steps}
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

    def event(self, e: dict) -> None:
        """One journal event: step_<status>, action_<status>, run_<status>, sent_back, asked..."""
        kind, detail = e["event"], e.get("detail") or ""
        if kind.startswith("step_"):
            self(e["step_id"], None, kind.removeprefix("step_"), detail)
        elif kind.startswith("action_"):
            self(e["step_id"], e.get("target") or "", kind.removeprefix("action_"), detail)
        elif kind.startswith("run_"):
            self("", None, kind, detail)
        elif kind in ("sent_back", "asked", "reminded", "escalated") or kind.endswith(("_approved", "_rejected",
                                                                                        "_confirmed")):
            self(e.get("step_id") or "", None, kind, detail)

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
        news = status in ("asked", "reminded", "escalated", "sent_back") or status.endswith(
            ("_approved", "_rejected", "_confirmed"))
        if target is None and news:             # who was asked, who decided: the row keeps its status
            row.message = message or ""
        elif target is None:
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
        line = f"{when} [{style(status)}]{status:<21}[/] {escape(where)} {escape(message or '')}"
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
