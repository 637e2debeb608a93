"""/api/v1/runbooks and /api/v1/runs: start a runbook, preview its plan, follow a run, and decide its steps.

Every decision goes through the daemon's RunService, which checks who decides (the role, a deputy in
force, never the initiator, another person for a distinct approval) and journals person, channel, address.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from agent.api.deps import Ctx, Reader, Who
from agent.errors import DaemonUnavailable
from agent.runbook.report import run_detail

router = APIRouter(prefix="/api/v1", tags=["runs"])


class StartRun(BaseModel):
    runbook: str = Field(description="a runbook id (datacenter-shutdown...)")
    params: dict[str, Any] = {}


class Started(BaseModel):
    id: str
    runbook: str


class Decision(BaseModel):
    approve: bool = Field(description="true: approve; false: reject (a comment is then required)")
    comment: str | None = Field(None, max_length=2000)


class Confirmation(BaseModel):
    values: dict[str, str] = Field({}, description="the readings the step asks for (temperatura_sala_c...)")
    comment: str | None = Field(None, max_length=2000)
    answer: str | None = Field(None, description="for a step asking what to do: retry, skip, abort or done")


class Decided(BaseModel):
    run: str
    step: str
    decision: str
    by: str


def _runs(ctx):
    if ctx.runs is None:
        raise DaemonUnavailable("runs are carried out by the daemon; this server has none")
    return ctx.runs


@router.get("/runbooks")
async def runbooks(ctx: Ctx, who: Reader) -> list[dict]:
    """The runbooks of the config's folder: id, title, procedure and parameters."""
    from agent.runbook.model import load

    folder = ctx.settings.config.path(ctx.settings.config.runbooks_dir)
    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        book = await run_in_threadpool(load, path)
        found.append({"id": book.id, "title": book.title, "procedure": book.procedure,
                      "params": {k: p.model_dump() for k, p in book.params.items()},
                      "start_roles": book.start_roles})
    return found


@router.post("/runbooks/{runbook}/plan")
async def plan(runbook: str, body: StartRun, ctx: Ctx, who: Reader) -> dict:
    """What a run would do, touching nothing: steps in order with their targets, and the critical path."""
    p = await run_in_threadpool(_runs(ctx).plan, runbook, body.params)
    return {"runbook": runbook, "params": p.params, "critical_path": p.critical_path,
            "critical_path_s": p.critical_path_s, "devices": p.devices,
            "steps": [{"id": ps.step.id, "activities": ps.step.activities, "name": ps.step.name,
                       "kind": ps.step.kind, "description": ps.description, "runs": ps.runs,
                       "targets": [d.name for d in ps.targets]} for ps in p.steps]}


@router.get("/runs")
async def runs(ctx: Ctx, who: Reader, limit: int = 20) -> list[dict]:
    """The latest runs, newest first."""
    rows = await run_in_threadpool(_runs(ctx).journal.runs, min(max(limit, 1), 500))
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()
             if k in ("id", "runbook", "title", "status", "started_by", "created_at", "ended_at", "message")}
            for r in rows]


@router.post("/runs", status_code=status.HTTP_201_CREATED)
async def start(body: StartRun, ctx: Ctx, who: Who) -> Started:
    """Start a runbook as yourself (a holder of its start roles: any operator by default)."""
    run_id = _runs(ctx).start(body.runbook, body.params, who)
    return Started(id=run_id, runbook=body.runbook)


@router.get("/runs/{run_id}")
async def detail(run_id: str, ctx: Ctx, who: Reader) -> dict:
    """A run with its steps, actions, decisions and who each waiting step asked."""
    return await run_in_threadpool(run_detail, _runs(ctx).journal, run_id, ctx.settings)


@router.get("/runs/{run_id}/events")
async def events(run_id: str, ctx: Ctx, who: Reader, after: int = 0) -> list[dict]:
    """The run's journal after event `after` (what a client following the run draws)."""
    journal = _runs(ctx).journal
    await run_in_threadpool(journal.run, run_id)
    rows = await run_in_threadpool(journal.events, run_id, after)
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]


@router.post("/runs/{run_id}/steps/{step_id}/approve")
async def approve(run_id: str, step_id: str, body: Decision, ctx: Ctx, who: Who) -> Decided:
    """Approve or reject the approval step a run waits on, as yourself."""
    decision = await run_in_threadpool(lambda: _runs(ctx).approve(run_id, step_id, who, approve=body.approve,
                                                                  comment=body.comment))
    return Decided(run=run_id, step=step_id, decision=decision, by=who.describe())


@router.post("/runs/{run_id}/steps/{step_id}/confirm")
async def confirm(run_id: str, step_id: str, body: Confirmation, ctx: Ctx, who: Who) -> Decided:
    """Confirm a physical step (with the readings it asks), or answer a step that asks what to do."""
    decision = await run_in_threadpool(lambda: _runs(ctx).confirm(run_id, step_id, who, values=body.values,
                                                                  comment=body.comment, answer=body.answer))
    return Decided(run=run_id, step=step_id, decision=decision, by=who.describe())


@router.post("/runs/{run_id}/cancel")
async def cancel(run_id: str, ctx: Ctx, who: Who) -> dict:
    """Ask a run to stop (its initiator, or the jefa)."""
    await run_in_threadpool(_runs(ctx).cancel, run_id, who)
    return {"run": run_id, "cancel_requested": True}


@router.post("/runs/{run_id}/resume")
async def resume(run_id: str, ctx: Ctx, who: Who) -> dict:
    """Carry on a run that is not being carried out (the daemon resumes unfinished runs by itself)."""
    _runs(ctx).resume(run_id, who)
    return {"run": run_id, "resumed": True}
