"""The run journal: every change of a run, step and action, committed before and after it acts.

Each call is its own transaction, so a killed agent leaves the journal exactly as far as it got.
Other terminals write approvals, confirmations and cancellations here; the running engine polls.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import secrets
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from agent.errors import RunbookError
from agent.store import Store, chain, queries
from agent.store.schema import maintenance, run_actions, run_decisions, run_events, run_steps, runs

FAILED = {"failed", "timeout"}                    # a step that did not do what it should
# completed_with_failures: a run that went on past steps that failed with `on_failure: continue`
TERMINAL = {"successful", "completed_with_failures", "failed", "canceled", "skipped", "timeout"}


def _now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """Read and write runs in the store."""

    def __init__(self, store: Store):
        self.store = store
        self.engine = store.engine

    # ---------------------------------------------------------------- runs
    def create_run(self, runbook, params: dict, started_by: str, step_ids: list[str], devices: list[str],
                   trigger: dict | None = None) -> str:
        """Record a new run with every step pending and its devices in maintenance; return its id.
        `trigger` says why it started (a person, a schedule, a policy with its emergency rules)."""
        now = _now()
        run_id = f"{now:%Y%m%d-%H%M%S}-{runbook.id}-{secrets.token_hex(2)}"
        with chain.transaction(self.store, "run_events") as conn:
            conn.execute(insert(runs).values(
                id=run_id, runbook=runbook.id, runbook_path=runbook.source, runbook_digest=runbook.digest,
                title=runbook.title, params=json.dumps(params, ensure_ascii=False), status="pending",
                started_by=started_by, created_at=now, cancel_requested=False, pid=os.getpid(),
                trigger=json.dumps(trigger, ensure_ascii=False, default=str) if trigger else None))
            conn.execute(insert(run_steps), [dict(run_id=run_id, step_id=s, status="pending", attempts=0)
                                             for s in step_ids])
            if devices:
                conn.execute(insert(maintenance), [dict(device=d, run_id=run_id, since=now) for d in devices])
            chain.insert(conn, run_events, run_id=run_id, event="created", detail=f"by {started_by}", at=now)
        return run_id

    def run(self, run_id: str) -> dict:
        """Return a run; raise if there is none."""
        found = queries.run_row(self.store, run_id)
        if found is None:
            raise RunbookError(f"no run {run_id!r}; see `oti-agent runs`")
        return found

    def runs(self, limit: int = 20, statuses: set[str] | None = None) -> list[dict]:
        """Return the latest runs, newest first (only those in `statuses`, when given)."""
        return queries.run_list(self.store, limit, statuses)

    def set_run(self, run_id: str, status: str, message: str | None = None, *, pid: int | None = None) -> None:
        """Change a run's status (ending it ends its maintenance window)."""
        with chain.transaction(self.store, "run_events") as conn:
            _set_run(conn, run_id, status, message, pid)

    def request_cancel(self, run_id: str, by: str) -> None:
        """Ask the running engine to stop the run."""
        self.run(run_id)
        with chain.transaction(self.store, "run_events") as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
            chain.insert(conn, run_events, run_id=run_id, event="cancel_requested", detail=f"by {by}",
                         at=_now())

    def cancel_requested(self, run_id: str) -> bool:
        """Return whether someone asked to cancel the run."""
        return bool(self.store.scalar(select(runs.c.cancel_requested).where(runs.c.id == run_id)))

    # ---------------------------------------------------------------- steps and actions
    def steps(self, run_id: str) -> dict[str, dict]:
        """Return the run's steps by id."""
        return queries.run_step_rows(self.store, run_id)

    def set_step(self, run_id: str, step_id: str, status: str, message: str | None = None) -> None:
        """Change a step's status, with a journal event."""
        with chain.transaction(self.store, "run_events") as conn:
            _set_step(conn, run_id, step_id, status, message)

    def action_start(self, run_id: str, step_id: str, target: str, attempt: int) -> None:
        """Record, before acting, that an action on a target is about to happen."""
        with chain.transaction(self.store, "run_events") as conn:
            _action_start(conn, run_id, step_id, target, attempt)

    def action_end(self, run_id: str, step_id: str, target: str, status: str, message: str, by: str = "agente") -> None:
        """Record, after acting, how an action ended (done or failed), and by whom."""
        with chain.transaction(self.store, "run_events") as conn:
            _action_end(conn, run_id, step_id, target, status, message, by)

    def actions(self, run_id: str, step_id: str | None = None) -> list[dict]:
        """Return the run's actions (optionally of one step), in start order."""
        return queries.run_action_rows(self.store, run_id, step_id)

    # ---------------------------------------------------------------- people
    def add_decision(self, run_id: str, step_id: str, kind: str, by: str, decision: str, *, role: str | None = None,
                     comment: str | None = None, values: dict | None = None, channel: str | None = None,
                     address: str | None = None, held_as: str | None = None) -> None:
        """Record a person's decision on a step (approval, confirmation, or how to resolve a doubt): who, how
        they held the role, through which channel and from where."""
        now = _now()
        with chain.transaction(self.store, "run_events") as conn:
            conn.execute(insert(run_decisions).values(
                run_id=run_id, step_id=step_id, kind=kind, role=role, by=by, decision=decision, comment=comment,
                values=json.dumps(values, ensure_ascii=False) if values else None, at=now, channel=channel,
                address=address, held_as=held_as, superseded=False))
            via = f" via {channel}" + (f" from {address}" if address else "") if channel else ""
            chain.insert(conn, run_events, run_id=run_id, step_id=step_id, event=f"{kind}_{decision}",
                         detail=f"by {by}{via}" + (f": {comment}" if comment else ""),
                         at=now)

    def decisions(self, run_id: str, step_id: str | None = None, kind: str | None = None,
                  superseded: bool = False) -> list[dict]:
        """Return decisions of the current round, oldest first (with `superseded`, those sent back too)."""
        return queries.run_decision_rows(self.store, run_id, step_id, kind, superseded)

    def send_back(self, run_id: str, goto: str, step_ids: list[str], reason: str, origin: str | None = None) -> None:
        """A No (or a failed check, `origin`) that sends the run back to `goto`: those steps are pending again,
        their actions forgotten (kept as events) and their decisions superseded — the next round asks again.
        The event names the step that sent it back in its `target`, so rounds can be counted per step."""
        now = _now()
        with chain.transaction(self.store, "run_events") as conn:
            for row in conn.execute(select(run_actions).where(run_actions.c.run_id == run_id,
                                                              run_actions.c.step_id.in_(step_ids))).mappings():
                chain.insert(conn, run_events, run_id=run_id, step_id=row["step_id"], target=row["target"],
                             event="action_superseded", detail=row["message"], at=now)
            conn.execute(delete(run_actions).where(run_actions.c.run_id == run_id,
                                                   run_actions.c.step_id.in_(step_ids)))
            conn.execute(update(run_decisions).where(run_decisions.c.run_id == run_id,
                                                     run_decisions.c.step_id.in_(step_ids)).values(superseded=True))
            conn.execute(update(run_steps).where(run_steps.c.run_id == run_id, run_steps.c.step_id.in_(step_ids))
                         .values(status="pending", started_at=None, ended_at=None, message=None))
            chain.insert(conn, run_events, run_id=run_id, step_id=goto, target=origin, event="sent_back",
                         detail=reason, at=now)

    def sent_back(self, run_id: str, step_id: str) -> int:
        """How many times the run was sent back to this step."""
        return len(queries.run_event_rows(self.store, run_id, event="sent_back", step_id=step_id))

    def sent_back_from(self, run_id: str, origin: str) -> int:
        """How many times this step has sent the run back (its `back_to` rounds so far)."""
        return sum(e["target"] == origin for e in self.events_named(run_id, "sent_back"))

    def events(self, run_id: str, after: int = 0) -> list[dict]:
        """Return the run's journal events, oldest first (those after event id `after`)."""
        return queries.run_event_rows(self.store, run_id, after=after)

    def event(self, run_id: str, event: str, detail: str | None = None, step_id: str | None = None,
              target: str | None = None) -> None:
        """Append a free event to the journal."""
        with chain.transaction(self.store, "run_events") as conn:
            _event(conn, run_id, event, detail, step_id, target)

    def set_facts(self, run_id: str, step_id: str, facts: dict[str, Any]) -> None:
        """Record what a step found, for the steps after it (`facts.<key>` in templates and kinds)."""
        self.event(run_id, "facts", json.dumps(facts, ensure_ascii=False, default=str), step_id=step_id)

    def facts(self, run_id: str) -> dict[str, Any]:
        """Everything the run's steps recorded as facts so far (a later fact replaces an earlier one)."""
        out: dict[str, Any] = {}
        for e in queries.run_event_rows(self.store, run_id, event="facts"):
            out.update(json.loads(e["detail"]))
        return out

    def step_facts(self, run_id: str, step_id: str) -> dict[str, Any]:
        """What one step recorded as facts, in all its rounds (the latest value of each key)."""
        out: dict[str, Any] = {}
        for e in queries.run_event_rows(self.store, run_id, event="facts", step_id=step_id):
            out.update(json.loads(e["detail"]))
        return out

    def events_named(self, run_id: str, event: str) -> list[dict]:
        """The run's events of one kind, oldest first."""
        return queries.run_event_rows(self.store, run_id, event=event)

    def in_maintenance(self) -> set[str]:
        """Return the devices a running shutdown or startup is touching (their alarms stay quiet)."""
        return queries.maintenance_devices(self.store)


class GroupCommit:
    """The engine's journal writer: a thread that commits every write queued meanwhile in one
    transaction.

    A caller resumes only once its own write is durable, so "journalled before acting" holds; a
    burst of writes from fifty targets costs one fsync instead of fifty, and the event loop never
    blocks on the disk. Each write is a function of the connection (`_set_step` and the rest).
    """

    def __init__(self, journal: Journal):
        self.engine = journal.engine
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="journal", daemon=True)
        self._thread.start()

    async def set_run(self, run_id: str, status: str, message: str | None = None, *, pid: int | None = None) -> None:
        await self._write(_set_run, run_id, status, message, pid)

    async def set_step(self, run_id: str, step_id: str, status: str, message: str | None = None) -> None:
        await self._write(_set_step, run_id, step_id, status, message)

    async def action_start(self, run_id: str, step_id: str, target: str, attempt: int) -> None:
        await self._write(_action_start, run_id, step_id, target, attempt)

    async def action_end(self, run_id: str, step_id: str, target: str, status: str, message: str,
                         by: str = "agente") -> None:
        await self._write(_action_end, run_id, step_id, target, status, message, by)

    def close(self) -> None:
        """Finish the queued writes and stop the thread."""
        self._queue.put(None)
        self._thread.join()

    async def _write(self, op, *args) -> None:
        done: Future = Future()
        self._queue.put((op, args, done))
        await asyncio.wrap_future(done)

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            batch = [item]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)      # stop after this batch
                    break
                batch.append(nxt)
            # a write whose caller was cancelled before it ran is dropped: the caller never acted
            batch = [(op, args, done) for op, args, done in batch if done.set_running_or_notify_cancel()]
            try:
                with self.engine.begin() as conn:
                    chain.lock(conn, "run_events")      # the head before any run's row (chain.transaction)
                    for op, args, _ in batch:
                        op(conn, *args)
            except Exception:                  # noqa: BLE001 - one bad write must not fail its neighbours
                for op, args, done in batch:
                    try:
                        with self.engine.begin() as conn:
                            chain.lock(conn, "run_events")
                            op(conn, *args)
                    except Exception as err:   # noqa: BLE001 - handed to the waiting caller
                        done.set_exception(err)
                    else:
                        done.set_result(None)
                continue
            for _, _, done in batch:
                done.set_result(None)


# ---------------------------------------------------------------- the writes, one transaction's part each
def _set_run(conn, run_id: str, status: str, message: str | None, pid: int | None) -> None:
    values: dict[str, Any] = {"status": status}
    if message is not None:
        values["message"] = message
    if pid is not None:
        values["pid"] = pid
    if status in TERMINAL:
        values["ended_at"] = _now()
    conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
    chain.insert(conn, run_events, run_id=run_id, event=f"run_{status}", detail=message, at=_now())
    if status in TERMINAL:
        conn.execute(delete(maintenance).where(maintenance.c.run_id == run_id))


def _set_step(conn, run_id: str, step_id: str, status: str, message: str | None) -> None:
    now = _now()
    values: dict[str, Any] = {"status": status}
    if message is not None:
        values["message"] = message
    if status == "running":
        values["started_at"] = now
    if status in TERMINAL:
        values["ended_at"] = now
    conn.execute(update(run_steps).where(and_(run_steps.c.run_id == run_id, run_steps.c.step_id == step_id))
                 .values(**values))
    chain.insert(conn, run_events, run_id=run_id, step_id=step_id, event=f"step_{status}",
                 detail=message, at=now)


def _action_key(run_id: str, step_id: str, target: str):
    return and_(run_actions.c.run_id == run_id, run_actions.c.step_id == step_id, run_actions.c.target == target)


def _action_start(conn, run_id: str, step_id: str, target: str, attempt: int) -> None:
    now = _now()
    key = _action_key(run_id, step_id, target)
    if conn.execute(select(run_actions.c.status).where(key)).first() is None:
        conn.execute(insert(run_actions).values(run_id=run_id, step_id=step_id, target=target,
                                                status="started", attempt=attempt, started_at=now))
    else:
        conn.execute(update(run_actions).where(key).values(status="started", attempt=attempt, started_at=now,
                                                           ended_at=None, message=None))
    chain.insert(conn, run_events, run_id=run_id, step_id=step_id, target=target,
                 event="action_started", detail=f"attempt {attempt}", at=now)


def _action_end(conn, run_id: str, step_id: str, target: str, status: str, message: str, by: str) -> None:
    now = _now()
    conn.execute(update(run_actions).where(_action_key(run_id, step_id, target))
                 .values(status=status, ended_at=now, message=message, by=by))
    chain.insert(conn, run_events, run_id=run_id, step_id=step_id, target=target,
                 event=f"action_{status}", detail=message, at=now)


def _event(conn, run_id: str, event: str, detail: str | None, step_id: str | None, target: str | None) -> None:
    chain.insert(conn, run_events, run_id=run_id, step_id=step_id, target=target, event=event, detail=detail,
                 at=_now())
