"""The daemon's runs: the only place a run is started, decided, cancelled and carried out.

Each run is an asyncio task of the daemon (a closed terminal or browser loses nothing); at start the
daemon resumes every run that was not finished (the engine's re-check rules: nothing that took effect is
done twice), and a step waiting for a person keeps waiting. Every action checks who acts: an approval only
by a holder of its role (or a deputy in force, or the role it was escalated to), never by the run's
initiator, two `distinct_from` approvals by two people; a No needs a comment; a confirmation by the roles
the step names. Decisions are journalled with the person, how they hold the role, channel and address.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agent.core.people import OPERATORS, Identity
from agent.core.settings import Settings
from agent.errors import (
    ApprovedBefore,
    DaemonUnavailable,
    Forbidden,
    ResumeConflict,
    RunbookError,
    SelfApproval,
)
from agent.people.authz import require
from agent.runbook.asking import Asker
from agent.runbook.engine import Engine
from agent.runbook.journal import TERMINAL, Journal
from agent.runbook.model import Runbook, find, load
from agent.runbook.plan import make_plan
from agent.store import Store

_LOGGER = logging.getLogger(__name__)
WAITING = {"awaiting_approval", "awaiting_confirmation", "awaiting_decision"}
UNFINISHED = {"pending", "running", "interrupted", *WAITING}


def _now() -> datetime:
    return datetime.now(UTC)


class RunService:
    """Start, decide, cancel and resume runs inside the daemon."""

    def __init__(self, settings: Settings, store: Store, asker: Asker | None = None,
                 clock: Callable[[], datetime] = _now):
        self.settings, self.store, self.asker, self.clock = settings, store, asker, clock
        self.journal = Journal(store)
        self.tasks: dict[str, asyncio.Task] = {}
        # decisions come from the API's threads at once (a double click, two tabs, a link and the console):
        # checking and recording one is done by one at a time, so a step never gets two
        self._deciding = threading.Lock()
        # two agents on one store (issue 16): on the standby, who leads (the daemon sets it); None: this one
        self.standby: Callable[[], str | None] = lambda: None
        self.exclusive = False        # ... and whether a lease makes this agent the only executor of runs

    # ---------------------------------------------------------------- reading
    def book(self, name: str) -> Runbook:
        """A runbook by id or file name, from the config's runbooks folder."""
        cfg = self.settings.config
        return load(find(name, cfg.path(cfg.runbooks_dir)))

    def plan(self, name: str, params: dict):
        """What a run would do, touching nothing."""
        book = self.book(name)
        return make_plan(book, book.resolve_params(params), self.settings)

    def active(self, run_id: str) -> bool:
        """Whether a run is still being carried out (a schedule does not start over one)."""
        task = self.tasks.get(run_id)
        return task is not None and not task.done()

    # ---------------------------------------------------------------- starting
    def start(self, name: str, params: dict, who: Identity | None, trigger: dict | None = None) -> str:
        """Start a runbook; `who` is the person (None: the daemon itself, for a schedule or a policy, whose
        `trigger` says which). Returns the run id; the run goes on in the background."""
        self._on_leader(f"start runbook {name}")
        book = self.book(name)
        if who is not None:
            require(who, self.settings.people, book.start_roles or OPERATORS, scope="operate", at=self.clock())
        params = book.resolve_params(params)
        self._check_units(book, params)
        trigger = trigger or {"by": "person", "login": who.login if who else None,
                              "channel": who.channel if who else None, "address": who.address if who else None}
        engine = self._engine()
        run_id = engine.start(book, params, who.login if who else f"agente:{trigger.get('by', 'daemon')}", trigger)
        _LOGGER.info("run %s (%s) started by %s", run_id, book.id, who.login if who else trigger.get("reason"))
        self._spawn(run_id, engine)
        return run_id

    def _check_units(self, book: Runbook, params: dict) -> None:
        """An approval by the head of a unit names a unit of the registry (else nobody could approve)."""
        from agent.errors import ConfigError
        from agent.runbook import template as templates

        units = self.settings.people.units
        for step in book.steps:
            unit = step.with_.get("unit") if step.kind == "approval" else None
            if unit:
                value = templates.render(unit, params=params, run_id="", target=None, step=step, runbook=book,
                                         facts={})
                if value not in units:
                    raise ConfigError(f"runbook {book.id}, step {step.id}: unit {value!r} is not in the config's "
                                      f"people.units (known: {', '.join(sorted(units)) or 'none'})")

    def resume_all(self) -> list[str]:
        """At the daemon's start: carry on every run that was not finished when it stopped."""
        resumed = []
        for run in self.journal.runs(1000, statuses=UNFINISHED):
            if run["id"] not in self.tasks:
                self._spawn(run["id"], self._engine())
                resumed.append(run["id"])
        if resumed:
            _LOGGER.info("resumed %d run(s): %s", len(resumed), ", ".join(resumed))
        return resumed

    def resume(self, run_id: str, who: Identity) -> str:
        """Carry on one run by hand (one that failed to start, or that an old foreground process left)."""
        self._on_leader(f"resume run {run_id}")
        run = self.journal.run(run_id)
        require(who, self.settings.people, OPERATORS, scope="operate", at=self.clock())
        if run["status"] in TERMINAL:
            raise RunbookError(f"run {run_id} has ended ({run['status']}); start a new one")
        if self.active(run_id):
            raise RunbookError(f"run {run_id} is already being carried out by the daemon; follow it with "
                               f"oti-agent run-status {run_id}")
        self._spawn(run_id, self._engine())
        return run_id

    def _on_leader(self, what: str) -> None:
        """A standby carries out no run, so it takes no action on one: it says which agent does (one executor
        of each run, and one place where a step's decisions are checked one at a time)."""
        leader = self.standby()
        if leader:
            raise DaemonUnavailable(f"this agent is the standby: {what} on the leader, {leader}")

    def _engine(self) -> Engine:
        engine = Engine(self.settings, self.store, asking=self.asker)
        engine.exclusive = self.exclusive
        return engine

    def _spawn(self, run_id: str, engine: Engine) -> None:
        task = asyncio.get_running_loop().create_task(self._carry_out(run_id, engine), name=f"run {run_id}")
        self.tasks[run_id] = task

    async def _carry_out(self, run_id: str, engine: Engine) -> None:
        try:
            status = await engine.execute(run_id)
            _LOGGER.info("run %s ended: %s", run_id, status)
        except asyncio.CancelledError:                    # the daemon stops: the journal resumes it next start
            raise
        except ResumeConflict as err:                     # a person decides: the old file back, or cancel
            _LOGGER.error("run %s cannot go on: %s", run_id, err)
            self.journal.set_run(run_id, "interrupted", str(err))
        except Exception as err:                          # noqa: BLE001 - one run's fault never stops the daemon
            _LOGGER.error("run %s stopped: %s", run_id, err, exc_info=not isinstance(err, RunbookError))
            self.journal.set_run(run_id, "failed", f"error del agente: {err}")

    async def stop(self) -> None:
        """The daemon stops: cancel the tasks (their runs stay resumable, journalled as they are)."""
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    # ---------------------------------------------------------------- people's decisions
    def check_approver(self, run_id: str, step_id: str, who: Identity) -> str:
        """How `who` may decide this waiting approval now ('titular', 'encargado'), recording nothing:
        RunbookError when it does not wait, SelfApproval for the initiator, Forbidden for a non-holder,
        ApprovedBefore when a `distinct_from` step was theirs. The console asks it to offer the buttons."""
        return self._approver(run_id, step_id, who)[0]

    def _approver(self, run_id: str, step_id: str, who: Identity) -> tuple[str, dict]:
        """check_approver's answer and the step's options (approve() records with them: one load)."""
        run, book = self._waiting(run_id, step_id, "awaiting_approval", "approval")
        opts = book.step(step_id).with_
        if who.login == run["started_by"]:
            raise SelfApproval(f"{who.describe()} started run {run_id} and cannot approve it")
        held = self._holds_approval(run, step_id, opts, who)
        for other in opts.get("distinct_from", []):
            if any(d["by"] == who.login for d in self.journal.decisions(run_id, other, kind="approval")):
                raise ApprovedBefore(f"{who.describe()} already approved step {other}; step {step_id} needs "
                                     "another person", other)
        return held, opts

    def approve(self, run_id: str, step_id: str, who: Identity, *, approve: bool, comment: str | None = None,
                link: str | None = None) -> str:
        """Record an approval or a No from `who`, after checking they may give it; return what was recorded."""
        if not approve and not (comment or "").strip():
            raise RunbookError("a rejection needs a comment: say why (it goes to the journal and to the mail)")
        decision = "approved" if approve else "rejected"
        self._on_leader(f"decide step {step_id} of run {run_id}")
        with self._deciding:
            held, opts = self._approver(run_id, step_id, who)
            if self.journal.decisions(run_id, step_id, kind="approval"):
                raise RunbookError(f"step {step_id} of run {run_id} was already decided")
            if link and self.asker is not None:
                self.asker.links.spend(link)            # refused if it was spent meanwhile: nothing recorded
            self.journal.add_decision(run_id, step_id, "approval", who.login, decision, role=opts.get("role"),
                                      comment=comment, channel=who.channel, address=who.address, held_as=held)
        _LOGGER.info("run %s step %s %s by %s (%s, %s)", run_id, step_id, decision, who.login, held, who.channel)
        return decision

    def confirm(self, run_id: str, step_id: str, who: Identity, *, values: dict | None = None,
                comment: str | None = None, answer: str | None = None) -> str:
        """Confirm a physical step (with the readings it asks), or answer a step that asks what to do."""
        self._on_leader(f"confirm step {step_id} of run {run_id}")
        run, book = self._run_book(run_id)
        row = self.journal.steps(run_id).get(step_id)
        if row is None:
            raise RunbookError(f"run {run_id} has no step {step_id!r}")
        step = book.step(step_id)
        roles = step.with_.get("roles") or OPERATORS
        if row["status"] == "awaiting_decision":
            if answer not in ("retry", "skip", "abort", "done"):
                raise RunbookError(f"step {step_id} asks: {row['message']} (answer retry, skip, abort or done)")
            held = require(who, self.settings.people, OPERATORS, scope="operate", at=self.clock())
            self.journal.add_decision(run_id, step_id, "resolve", who.login, answer, comment=comment,
                                      channel=who.channel, address=who.address, held_as=held)
            return answer
        if row["status"] != "awaiting_confirmation" or answer:
            raise RunbookError(f"step {step_id} of run {run_id} is {row['status']}, not waiting for a confirmation")
        held = require(who, self.settings.people, roles, scope="operate", at=self.clock())
        asked = step.with_.get("values") or ([step.with_["param"]] if step.kind == "program" else [])
        missing = [v for v in asked if not str((values or {}).get(v, "")).strip()]
        if missing:
            raise RunbookError(f"step {step_id} asks for {', '.join(missing)}: give each as a value")
        self.journal.add_decision(run_id, step_id, "confirm", who.login, "confirmed", comment=comment,
                                  values=values or {}, channel=who.channel, address=who.address, held_as=held)
        return "confirmed"

    def cancel(self, run_id: str, who: Identity) -> None:
        """Ask a run to stop: by whoever started it, or the jefa."""
        self._on_leader(f"cancel run {run_id}")
        run = self.journal.run(run_id)
        if who.login != run["started_by"]:
            require(who, self.settings.people, {"jefa", "administrador"}, scope="operate", at=self.clock())
        else:
            require(who, self.settings.people, OPERATORS | {"administrador"}, scope="operate", at=self.clock())
        if run["status"] in TERMINAL:
            raise RunbookError(f"run {run_id} has ended ({run['status']})")
        self.journal.request_cancel(run_id, who.login)
        if not self.active(run_id):                       # nobody carries it out (interrupted): end it here
            for step_id, row in self.journal.steps(run_id).items():
                if row["status"] not in TERMINAL:
                    self.journal.set_step(run_id, step_id, "canceled", f"cancelado por {who.login}")
            self.journal.set_run(run_id, "canceled", f"cancelado por {who.describe()}")

    def _holds_approval(self, run: dict, step_id: str, opts: dict, who: Identity) -> str:
        """How `who` holds the role an approval asks (or the role it was escalated to); Forbidden if not."""
        from agent.runbook import template as templates

        unit = templates.render(opts["unit"], params=run["params"], run_id=run["id"], target=None, step=None,
                                runbook=None, facts={}) if opts.get("unit") else None
        roles = [opts.get("role")]
        wait = self.asker.waiting(run["id"], step_id) if self.asker else None
        if wait and wait.get("escalated_to"):
            roles.append(wait["escalated_to"])
        last: Forbidden | None = None
        for role in roles:
            try:
                return require(who, self.settings.people, {role}, scope="approve", at=self.clock(),
                               unit=unit if role == opts.get("role") else None)
            except Forbidden as err:
                last = err
        raise last or Forbidden("no role")

    def _waiting(self, run_id: str, step_id: str, status: str, kind: str) -> tuple[dict, Runbook]:
        run, book = self._run_book(run_id)
        row = self.journal.steps(run_id).get(step_id)
        if row is None or book.step_or_none(step_id) is None or book.step(step_id).kind != kind:
            raise RunbookError(f"run {run_id} has no {kind} step {step_id!r}")
        if row["status"] != status:
            raise RunbookError(f"step {step_id} of run {run_id} is {row['status']}, not waiting for a decision")
        return run, book

    def _run_book(self, run_id: str) -> tuple[dict, Runbook]:
        run = self.journal.run(run_id)
        return run, load(Path(run["runbook_path"]))
