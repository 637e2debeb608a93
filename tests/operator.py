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


def new_run(config: Path, before: set[str]) -> str | None:
    """Return the id of a run that did not exist in `before`, if one has been created."""
    journal = Journal(Store("sqlite:///var/oti.db", config.parent))
    fresh = [r["id"] for r in journal.runs(50) if r["id"] not in before]
    return fresh[0] if fresh else None


def run_ids(config: Path) -> set[str]:
    """Return the ids of the runs recorded so far."""
    return {r["id"] for r in Journal(Store("sqlite:///var/oti.db", config.parent)).runs(1000)}


def operate(config: Path, proc: subprocess.Popen, approvers: dict[str, str], values: dict[str, str] | None = None,
            timeout: float = 240.0, refusals: list | None = None, before: set[str] = frozenset()) -> str:
    """Answer every wait of the run started by `proc` until it ends; return the run id.

    `approvers` maps role -> person. `refusals` collects the CLI's refusals of improper approvals
    that are tried first (the starter approving, one person approving twice)."""
    journal = Journal(Store("sqlite:///var/oti.db", config.parent))
    deadline = time.monotonic() + timeout
    run_id = None
    answered: set[tuple[str, int]] = set()
    while time.monotonic() < deadline:
        run_id = run_id or new_run(config, set(before))
        if run_id:
            run = journal.run(run_id)
            if run["status"] in TERMINAL and proc.poll() is not None:
                return run_id
            for step_id, row in journal.steps(run_id).items():
                key = (step_id, len(journal.decisions(run_id, step_id)))
                if key in answered:
                    continue
                if row["status"] == "awaiting_approval":
                    answered.add(key)
                    _approve(config, run, step_id, approvers, refusals)
                elif row["status"] == "awaiting_confirmation":
                    answered.add(key)
                    extra = [a for k, v in (values or {}).items() for a in ("--value", f"{k}={v}")]
                    out = cli(config, "confirm", run_id, step_id, "--by", approvers.get("operador", "luis"), *extra)
                    assert out.returncode == 0, out.stderr
        if proc.poll() is not None and run_id and journal.run(run_id)["status"] in TERMINAL:
            return run_id
        time.sleep(0.2)
    proc.kill()
    status = cli(config, "run-status", run_id).stdout if run_id else ""
    raise AssertionError(f"run {run_id} did not end within {timeout:g}s:\n{status}\n{proc.stdout.read()[-3000:]}")


def _approve(config: Path, run: dict, step_id: str, approvers: dict[str, str], refusals) -> None:
    role = "jefa" if "jefa" in step_id else "gg"
    if refusals is not None:
        starter = cli(config, "approve", run["id"], "--as", role, "--by", run["started_by"])
        refusals.append((step_id, starter.returncode, starter.stderr))
        if role == "gg":
            twice = cli(config, "approve", run["id"], "--as", "gg", "--by", approvers["jefa"])
            refusals.append((step_id, twice.returncode, twice.stderr))
    out = cli(config, "approve", run["id"], "--as", role, "--by", approvers[role], "--comment", "conforme")
    assert out.returncode == 0, out.stderr
