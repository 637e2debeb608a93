"""A test operator: answers a run's approvals and confirmations through the real CLI, as people would."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from agent.runbook.journal import TERMINAL, Journal
from agent.store import Store
from tests.conftest import REPO

OTI = str(REPO / ".venv" / "bin" / "oti-agent")


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the installed oti-agent."""
    return subprocess.run([OTI, *args, "-c", str(config)], capture_output=True, text=True)


def journal_of(config: Path) -> Journal:
    """The journal in the store the config names (read as a test reads it)."""
    from agent.core import config as config_mod

    return Journal(Store.for_config(config_mod.load(config)))


def new_run(config: Path, before: set[str]) -> str | None:
    """Return the id of a run that did not exist in `before`, if one has been created."""
    journal = journal_of(config)
    fresh = [r["id"] for r in journal.runs(50) if r["id"] not in before]
    return fresh[0] if fresh else None


def run_ids(config: Path) -> set[str]:
    """Return the ids of the runs recorded so far."""
    return {r["id"] for r in journal_of(config).runs(1000)}


def operate(daemon, proc: subprocess.Popen | None, approvers: dict[str, str], values: dict[str, str] | None = None,
            timeout: float = 240.0, refusals: list | None = None, before: set[str] = frozenset(),
            run_id: str | None = None, hands=None) -> str:
    """Answer every wait of a run until it ends, through the real CLI against the daemon; return the run id.

    `approvers` maps role -> person (each acts with a token of their own); confirmations are the OS user's
    (luis); `hands(step_id)`, when given, does first what the person confirms (Datacenter.person_does).
    `refusals` collects the daemon's refusals of improper approvals tried first (the starter
    approving; the jefa approving General Management's step too)."""
    config = daemon.config
    journal = journal_of(config)
    deadline = time.monotonic() + timeout
    answered: set[tuple[str, int]] = set()
    while time.monotonic() < deadline:
        run_id = run_id or new_run(config, set(before))
        if run_id:
            run = journal.run(run_id)
            if run["status"] in TERMINAL and (proc is None or proc.poll() is not None):
                return run_id
            for step_id, row in journal.steps(run_id).items():
                key = (step_id, len(journal.decisions(run_id, step_id)))
                if key in answered:
                    continue
                if row["status"] in ("awaiting_approval", "awaiting_confirmation"):
                    # our own answer is one more decision while the step may still show it waits: not again
                    answered |= {key, (step_id, key[1] + 1)}
                if row["status"] == "awaiting_approval":
                    _approve(daemon, run, step_id, approvers, refusals)
                elif row["status"] == "awaiting_confirmation":
                    if hands is not None:
                        hands(step_id)
                    extra = [a for k, v in (values or {}).items() for a in ("--value", f"{k}={v}")]
                    out = daemon.cli("confirm", run_id, step_id, *extra)
                    assert out.returncode == 0, out.stderr
        time.sleep(0.2)
    if proc is not None:
        proc.kill()
    status = daemon.cli("run-status", run_id).stdout if run_id else ""
    raise AssertionError(f"run {run_id} did not end within {timeout:g}s:\n{status}\n{daemon.tail()}")


def _approve(daemon, run: dict, step_id: str, approvers: dict[str, str], refusals) -> None:
    from agent.runbook.model import load

    role = load(Path(run["runbook_path"])).step(step_id).with_["role"]
    if refusals is not None:
        starter = daemon.cli("approve", run["id"], step_id)                  # the OS user: the run's starter
        refusals.append((step_id, starter.returncode, starter.stderr))
        if role == "gg":
            twice = daemon.cli("approve", run["id"], step_id, person=approvers["jefa"])
            refusals.append((step_id, twice.returncode, twice.stderr))
    out = daemon.cli("approve", run["id"], step_id, "--comment", "conforme", person=approvers[role])
    assert out.returncode == 0, out.stderr
