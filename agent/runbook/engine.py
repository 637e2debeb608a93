"""Execute a runbook's graph: ready steps run at once, each target's action journalled around it.

Resume is the same loop: finished steps and done actions are skipped; an action that was running
when the agent died is first re-checked (the kind's own check, else the step's `verify`) and run
again only if its effect is absent; when nothing can tell, a person is asked.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.core.inventory import Device
from agent.core.settings import Settings
from agent.errors import CheckError, ConfigError, ResumeConflict, SentBack, StepFailed
from agent.monitoring.once import probe_context
from agent.runbook import conditions, expr
from agent.runbook.journal import FAILED, TERMINAL, GroupCommit, Journal
from agent.runbook.kinds import StepContext, load_kind
from agent.runbook.model import Runbook, Step, load
from agent.runbook.plan import make_plan, resolve_targets
from agent.store import Store
from agent.transports.context import ProbeContext

_LOGGER = logging.getLogger(__name__)
POLL_S = 0.25
RESUME_GRACE_S = 10.0       # how long a resumed run watches for an interrupted action's effect
Progress = Callable[[str, str | None, str, str], None]   # (step, target: None for the step itself, status, message)


class Engine:
    """Start, run and resume runbook runs against one store and inventory."""

    def __init__(self, settings: Settings, store: Store, progress: Progress | None = None, asking=None):
        self.settings, self.store, self.journal = settings, store, Journal(store)
        self.progress = progress or (lambda *a: None)
        self.asking = asking          # the daemon's Asker: who a waiting step asks, by mail (None: nobody)
        self.exclusive = False        # the leader lease of agents sharing the store makes this the only executor

    def start(self, book: Runbook, params: dict, started_by: str, trigger: dict | None = None) -> str:
        """Plan (refusing a bad runbook before anything runs) and record a new run; return its id."""
        plan = make_plan(book, params, self.settings)
        return self.journal.create_run(book, params, started_by, [s.id for s in book.steps], plan.devices,
                                       trigger)

    async def execute(self, run_id: str) -> str:
        """Run (or resume) a run until it ends or waits on nobody; return its final status."""
        run = self.journal.run(run_id)
        if run["status"] in TERMINAL:
            return run["status"]
        pid = run.get("pid")
        # a run's pid is another host's after a takeover (issue 16): the lease, not this host's pids, says who acts
        if pid and pid != os.getpid() and run["status"] != "pending" and not self.exclusive and alive(pid):
            raise ResumeConflict(f"run {run_id} is still being executed by process {pid}")
        book = load(Path(run["runbook_path"]))
        if book.digest != run["runbook_digest"]:
            raise ResumeConflict(f"runbook {run['runbook_path']} changed since run {run_id} started; "
                                 "finish it with the old file or cancel it")
        self.journal.set_run(run_id, "running", pid=os.getpid())
        self.writes = GroupCommit(self.journal)
        pool = ThreadPoolExecutor(max(16, self.settings.config.scheduler.ssh_threads), thread_name_prefix="step")
        probes = probe_context(self.settings, pool, self.store)
        cancel = asyncio.Event()
        try:
            status, message = await self._loop(run, book, probes, cancel)
        finally:
            await probes.aclose()
            pool.shutdown(wait=False, cancel_futures=True)
            self.writes.close()
        self.journal.set_run(run_id, status, message)
        self.progress("", None, f"run_{status}", run_id)
        return status

    async def _loop(self, run: dict, book: Runbook, probes: ProbeContext,
                    cancel: asyncio.Event) -> tuple[str, str | None]:
        """Run the ready steps until none is left; return the run's status and message."""
        run_id = run["id"]
        status = {sid: row["status"] for sid, row in self.journal.steps(run_id).items()}
        tasks: dict[str, asyncio.Task] = {}
        failing = False
        while True:
            if self.journal.cancel_requested(run_id) and not cancel.is_set():
                cancel.set()
                for t in tasks.values():
                    t.cancel()
            for step in book.steps if not (failing or cancel.is_set()) else []:
                if step.id in tasks or status[step.id] in TERMINAL:
                    continue
                needs = [status[n] for n in step.needs]
                if all(s in ("successful", "skipped") or (s == "failed" and book.step(n).on_failure == "continue")
                       for s, n in zip(needs, step.needs, strict=True)):
                    fresh = status[step.id] == "pending"       # nothing journalled for it yet: no actions to read
                    tasks[step.id] = asyncio.create_task(self._run_step(run, book, step, status, probes, cancel, fresh))
            if not tasks:
                break
            done, _ = await asyncio.wait(tasks.values(), timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
            for sid in [s for s, t in tasks.items() if t in done]:
                task = tasks.pop(sid)
                try:
                    status[sid] = task.result()
                except SentBack as back:            # "Regresa a la actividad 1": rerun from there
                    await self._send_back(run_id, book, sid, back, status, tasks)
                    continue
                except asyncio.CancelledError:
                    status[sid] = "canceled"
                    await self.writes.set_step(run_id, sid, "canceled", "cancelado por el operador")
                except Exception as err:      # noqa: BLE001 - a fault outside the actions fails its step, not the run
                    status[sid] = "failed"
                    await self.writes.set_step(run_id, sid, "failed", _unexpected(sid, err))
                if status[sid] in FAILED and book.step(sid).on_failure != "continue":
                    failing = True
        if cancel.is_set():
            for sid, s in status.items():
                if s not in TERMINAL:
                    await self.writes.set_step(run_id, sid, "canceled", "cancelado por el operador")
            return "canceled", None
        return _outcome(book, status, failing)

    async def _send_back(self, run_id: str, book: Runbook, sid: str, back: SentBack, status: dict,
                         tasks: dict[str, asyncio.Task]) -> None:
        """Make `back.goto` and every step after it pending again (the rejecting step among them)."""
        again = _from(book, back.goto)
        for other in [s for s in tasks if s in again]:
            tasks.pop(other).cancel()
        await self.writes.set_step(run_id, sid, "failed", str(back))
        self.progress(sid, None, "failed", str(back))
        self.journal.send_back(run_id, back.goto, sorted(again), str(back), origin=sid)
        for s in again:
            status[s] = "pending"
        self.progress(back.goto, None, "sent_back", str(back))

    async def _run_step(self, run: dict, book: Runbook, step: Step, status: dict, probes, cancel, fresh: bool) -> str:
        run_id = run["id"]
        if step.when and not expr.evaluate(step.when, run["params"], status):
            await self.writes.set_step(run_id, step.id, "skipped", f"no aplica: {step.when}")
            self.progress(step.id, None, "skipped", step.when)
            return "skipped"
        kind = load_kind(step.kind)()
        targets = resolve_targets(book, step, self.settings.inventory, run["params"])
        scope = (run.get("trigger") or {}).get("scope")
        if scope is not None and targets:          # a power event concerns the devices its UPS feeds
            targets = [t for t in targets if t.name in scope]
            if not targets:
                await self.writes.set_step(run_id, step.id, "skipped", "no aplica: ningún equipo de esta UPS")
                self.progress(step.id, None, "skipped", "fuera del alcance")
                return "skipped"
        if step.targets and step.targets.optional and not targets:
            await self.writes.set_step(run_id, step.id, "skipped", "no aplica: ningún equipo del inventario")
            self.progress(step.id, None, "skipped", "sin equipos")
            return "skipped"
        ctx = StepContext(run_id, book, step, kind.Options.model_validate(step.with_), run["params"],
                          run["started_by"], self.settings, self.journal, probes, cancel, targets, self.progress,
                          asking=self.asking, trigger=run.get("trigger") or {})
        while True:
            await self.writes.set_step(run_id, step.id, "running")
            self.progress(step.id, None, "running", step.name)
            failures = await self._act_on_all(ctx, kind, [None] if kind.batch or not targets else targets, fresh)
            fresh = False
            if not failures and step.verify:
                failures = await self._verify(ctx, targets)
            if not failures:                   # what it waited for is over: the actions say what was done
                await self.writes.set_step(run_id, step.id, "successful", "")
                self.progress(step.id, None, "successful", "")
                return "successful"
            message = "; ".join(failures)
            rounds = self.journal.sent_back_from(run_id, step.id) if step.back_to else step.back_times
            if rounds < step.back_times:            # "No: regresa a la actividad 8": those steps again, then this
                goto = book.step(step.back_to)
                raise SentBack(goto.id, f"{message}; vuelve a la actividad {goto.activities[0]} "
                                        f"({goto.name}), vuelta {rounds + 1} de {step.back_times}")
            if step.on_failure != "ask":
                await self.writes.set_step(run_id, step.id, "failed", message)
                self.progress(step.id, None, "failed", message)
                return "failed"
            answer = await self._ask(ctx, f"falló: {message}. Responda con oti-agent confirm {run_id} {step.id} "
                                          "--retry | --skip | --abort")
            if answer == "retry":
                continue
            final = "skipped" if answer in ("skip", "done") else "failed"
            await self.writes.set_step(run_id, step.id, final, f"decisión del operador: {answer}; {message}")
            return final

    async def _act_on_all(self, ctx: StepContext, kind, targets: list[Device | None], fresh: bool) -> list[str]:
        prior = {} if fresh else {a["target"]: a for a in self.journal.actions(ctx.run_id, ctx.step.id)}
        limit = asyncio.Semaphore(ctx.step.parallel)

        async def one(target: Device | None) -> str | None:
            async with limit:
                try:
                    return await self._act(ctx, kind, target, prior.get(target.name if target else ""))
                except SentBack:
                    raise
                except Exception as err:  # noqa: BLE001 - e.g. a kind's check: fail this target, leave no orphans
                    return _unexpected(target.name if target else ctx.step.id, err)

        return [f for f in await asyncio.gather(*(one(t) for t in targets)) if f]

    async def _act(self, ctx: StepContext, kind, target: Device | None, prior: dict | None) -> str | None:
        """Act on one target with retries; return None on success or the failure message."""
        name = target.name if target else ""
        step, run_id = ctx.step, ctx.run_id
        if prior and prior["status"] == "done":
            return None                                        # already took effect: never repeated
        if prior and prior["status"] == "started":             # the agent died while acting
            effect = await self._effect(ctx, kind, target)
            if effect:
                await self.writes.action_end(run_id, step.id, name, "done", "efecto verificado al reanudar")
                return None
            if effect is None:
                answer = await self._ask(ctx, f"{name or step.id}: la acción pudo ejecutarse antes de la "
                                              "interrupción y no hay cómo verificarla. Responda con oti-agent "
                                              f"confirm {run_id} {step.id} --done | --retry | --abort")
                if answer == "done":
                    await self.writes.action_end(run_id, step.id, name, "done", "confirmado por el operador", by="operador")
                    return None
                if answer == "abort":
                    return f"{name or step.id}: abortado por el operador"
        error = ""
        for attempt in range(1, step.retries + 2):
            await self.writes.action_start(run_id, step.id, name, attempt)
            self.progress(step.id, name, "started", f"intento {attempt}")
            try:
                async with asyncio.timeout(step.timeout):
                    message = await kind.run(ctx, target)
                await self.writes.action_end(run_id, step.id, name, "done", message)
                self.progress(step.id, name, "done", message)
                return None
            except SentBack:
                raise                                          # not a failure: the run goes back (the engine)
            except TimeoutError:
                error = f"{name or step.id}: sin terminar en {step.timeout:g}s"
            except (StepFailed, CheckError, ConfigError) as err:
                error = f"{name or step.id}: {err}"
            except Exception as err:          # noqa: BLE001 - any fault of a kind fails this attempt, journalled
                error = _unexpected(name or step.id, err)
            await self.writes.action_end(run_id, step.id, name, "failed", error)
            self.progress(step.id, name, "failed", error)
            if attempt <= step.retries:
                await asyncio.sleep(step.retry_delay * 2 ** (attempt - 1))
        return error

    async def _effect(self, ctx: StepContext, kind, target: Device | None) -> bool | None:
        """Tell whether an interrupted action took effect: the kind's check, else the step's verify."""
        if kind.idempotent:
            return False                                       # simply do it again
        found = await kind.check(ctx, target)
        if found is not None:
            return found
        if ctx.step.verify and target is not None:
            # a short look, not the step's full `within`: if the effect is absent the action runs again
            quick = ctx.step.verify.model_copy(update={"within": min(ctx.step.verify.within, RESUME_GRACE_S)})
            return await conditions.wait_for(quick, target, ctx.probes)
        return None

    async def _verify(self, ctx: StepContext, targets: list[Device]) -> list[str]:
        cond = ctx.step.verify
        results = await asyncio.gather(*(conditions.wait_for(cond, t, ctx.probes) for t in targets))
        return [f"{t.name}: no se verificó {conditions.describe(cond)} en {cond.within:g}s"
                for t, ok in zip(targets, results, strict=True) if not ok]

    async def _ask(self, ctx: StepContext, question: str) -> str:
        """Wait for an operator's answer (retry / skip / done / abort) recorded by `oti-agent confirm`."""
        seen = len(self.journal.decisions(ctx.run_id, ctx.step.id, kind="resolve"))
        await self.writes.set_step(ctx.run_id, ctx.step.id, "awaiting_decision", question)
        await self.writes.set_run(ctx.run_id, "awaiting_decision", question)
        self.progress(ctx.step.id, None, "awaiting_decision", question)
        while True:
            answers = self.journal.decisions(ctx.run_id, ctx.step.id, kind="resolve")
            if len(answers) > seen:
                await self.writes.set_run(ctx.run_id, "running", "")
                return answers[-1]["decision"]
            await asyncio.sleep(POLL_S)


def _from(book: Runbook, start: str) -> set[str]:
    """`start` and every step that needs it, directly or through others."""
    found = {start}
    grew = True
    while grew:
        more = {s.id for s in book.steps if s.id not in found and found & set(s.needs)}
        found |= more
        grew = bool(more)
    return found


def _unexpected(where: str, err: Exception) -> str:
    """The journal's message for an exception no kind raises on purpose (a template's undefined name,
    a bug); its traceback goes to the log, once, here."""
    _LOGGER.error("runbook step %s: unexpected %s", where, type(err).__name__, exc_info=err)
    return f"{where}: error inesperado {type(err).__name__}: {err}"


def _outcome(book: Runbook, status: dict[str, str], stopped: bool) -> tuple[str, str | None]:
    """The run's status and message once no step is left to start.

    A failed step the runbook branches on (another step's `when` reads `steps.<id>.status`) is the
    manual's question answered ("¿hay copia en disco?"), not a failure of the run."""
    branched = {ref for s in book.steps if s.when for ref in expr.step_refs(s.when)}
    failed = [s.id for s in book.steps if status[s.id] in FAILED]
    if stopped or any(s not in TERMINAL for s in status.values()):
        return "failed", (f"se detuvo: falló {', '.join(failed)}" if failed else None)
    counted = [sid for sid in failed if sid not in branched]
    if counted:
        return "completed_with_failures", f"terminó con pasos fallidos: {', '.join(counted)}"
    return "successful", None


def alive(pid: int) -> bool:
    """Return whether a process runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:     # a zombie (killed child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
