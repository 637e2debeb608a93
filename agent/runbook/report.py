"""A run as people read it: its steps in the runbook's order, each with status, actions, decisions and who
was asked — the one shape the API answers, the CLI draws and the web console shows."""

from __future__ import annotations

from pathlib import Path

from agent.runbook.journal import Journal
from agent.runbook.model import load


def run_detail(journal: Journal, run_id: str, settings=None) -> dict:
    """The run and its steps (raises RunbookError for an unknown run); with `settings`, how many targets
    each step acts on (the live view's done/total)."""
    from agent.store.queries import run_wait_rows

    run = journal.run(run_id)
    try:
        book = load(Path(run["runbook_path"]))
        order = [(s.id, s.name, s.kind, ",".join(map(str, s.activities)), _targets(book, s, run, settings))
                 for s in book.steps]
    except Exception:                       # noqa: BLE001 - a runbook file gone or changed: show the journal
        order = [(sid, sid, "", "", 0) for sid in journal.steps(run_id)]
    rows, actions = journal.steps(run_id), journal.actions(run_id)
    decisions = journal.decisions(run_id)
    waits = {w["step_id"]: w for w in run_wait_rows(journal.store, run_id)}
    steps = []
    for sid, name, kind, acts, targets in order:
        row = rows.get(sid, {})
        steps.append({
            "id": sid, "name": name, "kind": kind, "activities": acts, "targets": targets,
            "status": row.get("status", "pending"), "message": row.get("message"),
            "started_at": _value(row.get("started_at")), "ended_at": _value(row.get("ended_at")),
            "actions": [_plain(a) for a in actions if a["step_id"] == sid],
            "decisions": [_plain(d) for d in decisions if d["step_id"] == sid],
            "asked": waits[sid]["asked"] if sid in waits else [],
            "escalated_to": waits[sid]["escalated_to"] if sid in waits else None})
    keys = ("id", "runbook", "title", "status", "started_by", "created_at", "ended_at", "message", "params",
            "trigger")
    return {**{k: _value(run.get(k)) for k in keys}, "steps": steps}


def _targets(book, step, run: dict, settings) -> int:
    """How many targets a step acts on (0 for a kind that acts once for all)."""
    from agent.runbook.kinds import load_kind
    from agent.runbook.plan import resolve_targets

    if settings is None or step.targets is None or load_kind(step.kind).batch:
        return 0
    try:
        return len(resolve_targets(book, step, settings.inventory, run["params"]))
    except Exception:                       # noqa: BLE001 - the inventory changed since: the journal still shows
        return 0


def _plain(row: dict) -> dict:
    return {k: _value(v) for k, v in row.items()}


def _value(v):
    return v.isoformat() if hasattr(v, "isoformat") else v
