"""How long the staged shutdown needs: the time the policy must keep in the battery.

The budget is the longer of the plan's critical path (each step's estimate, waves of targets) and the
last real runs' time spent acting (their steps' durations, leaving out time spent waiting for a person,
which an emergency does not wait for), plus what the policy's approvals may wait, plus its margin. A plan that
cannot be made (the runbook does not load) is an error the daemon reports when the UPS goes on battery,
never a silent zero: the policy then shuts down on the battery floor or the UPS's low-battery flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.core.times import aware
from agent.store import queries

PEOPLE_WAITS = ("approval", "confirm", "program", "pause")
LAST_RUNS = 3


@dataclass(frozen=True)
class Budget:
    """The seconds the shutdown needs, and how they were found (in Spanish, for the checklist)."""

    seconds: float
    how: str


def shutdown_budget(settings, store, runbook: str, params: dict, margin: float, waits: float = 0.0) -> Budget:
    """The budget of `runbook` with these parameters (the emergency's: its steps for people left out by
    their `when`); `waits` is what the policy's approvals may wait (the jefa's window to cancel).
    ConfigError when it cannot be planned."""
    from agent.runbook.model import find, load
    from agent.runbook.plan import make_plan

    cfg = settings.config
    book = load(find(runbook, cfg.path(cfg.runbooks_dir)))
    plan = make_plan(book, book.resolve_params(params), settings)
    kinds = {s.id: s.kind for s in book.steps}
    measured = [_acting_seconds(store, r["id"], kinds) for r in _last_runs(store, runbook)]
    longest = max(measured, default=0.0)
    acting = max(plan.critical_path_s, longest)
    how = (f"plan {plan.critical_path_s / 60:.1f} min"
           + (f", ejecución real más larga {longest / 60:.1f} min" if measured else "")
           + (f", espera de aprobaciones {waits / 60:.1f} min" if waits else "") + f", margen {margin / 60:.1f} min")
    return Budget(acting + waits + margin, how)


def _last_runs(store, runbook: str) -> list[dict]:
    done = [r for r in queries.run_list(store, 50, {"successful", "completed_with_failures"})
            if r["runbook"] == runbook]
    return done[:LAST_RUNS]


def _acting_seconds(store, run_id: str, kinds: dict[str, str]) -> float:
    """The time a run's steps spent acting (steps that wait for people left out)."""
    total = 0.0
    for step_id, row in queries.run_step_rows(store, run_id).items():
        start, end = aware(row.get("started_at")), aware(row.get("ended_at"))
        if kinds.get(step_id) in PEOPLE_WAITS or not isinstance(start, datetime) or not isinstance(end, datetime):
            continue
        total += max(0.0, (end - start).total_seconds())
    return total
