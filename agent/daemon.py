"""`oti-agent serve`: the daemon. Wiring only: it builds the services and schedules their jobs.

APScheduler (asyncio) runs each check group at its interval — never two runs of one group at once,
missed runs coalesced — and every run's results go to the in-memory snapshot (read by /metrics),
to the store (latest readings, state changes), to the alerts and to the policies (which may start a
runbook). Escalation and the outbox run every `alerts.tick`, and so does asking people (reminders,
expiries); backups on the asset matrix's calendar; every scheduled document of the registry at its
configured time; the `schedules:` every half minute. The daemon is the only executor of runbooks: it
resumes unfinished runs when it starts, and serves the HTTP API, /metrics and the web pages on one
server (TCP, and the local socket the CLI uses). SIGTERM or SIGINT stops it cleanly.

A job that fails for a reason the agent knows (an AgentError: the store, a document, a backend)
logs it and runs again next time; anything else is APScheduler's to log with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from agent.alerts import AlertBook
from agent.alerts.installed import tell_installed
from agent.api import server as http_server
from agent.api.app import create_app
from agent.api.context import ApiContext
from agent.api.routes import runs as runs_routes
from agent.assets import expiry
from agent.backups.drills import drill_schedules
from agent.core.config import CheckGroup
from agent.core.settings import Settings
from agent.documents import compose
from agent.errors import AgentError
from agent.log import Episodes
from agent.monitoring.jobs import group_jobs
from agent.monitoring.memory import release_freed_memory
from agent.monitoring.once import probe_context
from agent.monitoring.receivers import start_syslog, start_traps
from agent.monitoring.runner import Job, Runner
from agent.monitoring.snapshot import Snapshot
from agent.people.auth import Authenticator
from agent.power import service as power_service
from agent.power.policy import PowerPolicy
from agent.runbook.asking import Asker
from agent.runbook.policies import PolicyWatcher
from agent.runbook.schedules import ScheduleKeeper
from agent.runbook.service import RunService
from agent.store import Store, leadership
from agent.transports.context import ProbeContext
from agent.web import console
from agent.web import decide as decide_pages
from agent.web import pages as web_pages
from exporters.prometheus import MetricsApp

_LOGGER = logging.getLogger(__name__)
STORE = Episodes(_LOGGER, "store")           # a store that cannot be written (disk full): once per episode
TICK = Episodes(_LOGGER, "alerts")


RECORD_BATCH = 50           # results written to the store per transaction, at most


@dataclass
class Daemon:
    """The running agent: scheduler, runner, store, snapshot, alerts and /metrics."""

    settings: Settings
    store: Store
    snapshot: Snapshot
    runner: Runner
    ctx: ProbeContext
    alerts: AlertBook
    runs: RunService
    auth: Authenticator
    policies: PolicyWatcher
    power: PowerPolicy
    schedules: ScheduleKeeper
    jobs: dict[str, list[Job]] = field(default_factory=dict)     # check group -> its jobs (a trap polls some)

    @classmethod
    def create(cls, settings: Settings) -> Daemon:
        """Open the store and build the runner and the run service; nothing is polled or started yet."""
        cfg = settings.config
        store = Store.for_config(cfg)
        pool = ThreadPoolExecutor(cfg.scheduler.ssh_threads, thread_name_prefix="probe")
        ctx = probe_context(settings, pool, store)        # probes that read the store share the daemon's
        runner = Runner(ctx, cfg.scheduler.max_concurrency, silence=True)     # a silent device is an alert
        runs = RunService(settings, store, Asker(settings, store, cfg.http.base_url()))
        policies = PolicyWatcher(cfg.policies, settings.inventory, store, _policy_start(runs))
        # the `schedules:` and the asset matrix's restore drills (one schedule per drilled asset)
        schedules = ScheduleKeeper([*cfg.schedules, *drill_schedules(settings)], ZoneInfo(cfg.agent.timezone),
                                   store, _schedule_start(runs),
                                   runs.active)
        return cls(settings, store, Snapshot(settings.inventory, snmp_counts=ctx.snmp_malformed), runner, ctx,
                   AlertBook(settings, store), runs, Authenticator(settings, store), policies,
                   power_service.build(settings, store, runs), schedules)

    async def run_group(self, group: CheckGroup, jobs: list[Job]) -> None:
        """Run one check group once: each result is published to /metrics the moment it is ready, and
        recorded (store, alerts) in batches of whatever finished meanwhile."""
        t0 = time.perf_counter()
        # results wait for the store in a bounded queue: the polls wait when it is full (memory follows the
        # batch size, not the number of devices)
        ready: asyncio.Queue = asyncio.Queue(RECORD_BATCH)
        recorder = asyncio.create_task(self._record(group, ready))
        counts = {"checks": 0, "failed": 0}

        async def publish(result) -> None:
            self.snapshot.update([result])
            counts["checks"] += 1
            counts["failed"] += not result.up
            await ready.put(result)            # the recorder lets go of it once written

        try:
            await self.runner.run_each(jobs, publish, self.settings.config.scheduler.max_concurrency)
            await ready.put(None)
            await recorder
        except asyncio.CancelledError:           # the daemon is stopping: end quietly, the next start polls again
            recorder.cancel()                    # (while polling, or while the last batch is being written)
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
            return
        _LOGGER.info("group=%s checks=%d failed=%d duration=%.2fs", group.name, counts["checks"], counts["failed"],
                     time.perf_counter() - t0)
        first = self.store.take_first_answers({(j.device.name, j.check.name) for j in jobs})
        if first:                          # monitoring newly installed and answering: the jefa is told
            try:
                await asyncio.to_thread(tell_installed, self.settings, self.store, first)
            except AgentError as err:
                _LOGGER.error("monitoring installed on %d device(s), not told by mail: %s", len(first), err)
        release_freed_memory()

    async def poll_device(self, device: str) -> None:
        """Run every job of one device now (a trap came from it), in each check group that has it."""
        for group in self.settings.config.check_groups:
            mine = [j for j in self.jobs.get(group.name, []) if j.device.name == device]
            if mine:
                await self.run_group(group, mine)

    async def _record(self, group: CheckGroup, ready: asyncio.Queue) -> None:
        """Write results to the store as they come, all that finished meanwhile in one transaction."""
        done = False
        while not done:
            batch = [await ready.get()]
            # a bounded batch: a thousand devices finishing together would build every row of every reading
            # in one transaction (hundreds of MB, kept by the allocator long after)
            while not ready.empty() and len(batch) < RECORD_BATCH:
                batch.append(ready.get_nowait())
            done = batch[-1] is None
            batch = [r for r in batch if r is not None]
            if not batch or self.runs.standby():     # a standby (issue 16) publishes its polls, records nothing
                continue
            try:
                self.policies.observe(batch)           # on the loop: a policy may start a run
                self.power.observe(batch)              # a UPS on battery, its runtime, the mains back
                changes = await asyncio.to_thread(self.store.record, batch)
                if changes:
                    await asyncio.to_thread(self.alerts.process, changes)
            except AgentError as err:
                STORE.failed(group.name, "results of group %s kept in memory only: %s", group.name, err)
                continue
            except Exception:  # noqa: BLE001 - the recorder must outlive a bug: the polls wait on its queue
                _LOGGER.exception("recording %d result(s) of group %s failed", len(batch), group.name)
                continue
            STORE.recovered(group.name)
            for c in changes:
                if c.from_state is not None:
                    _LOGGER.info("device=%s reading=%s state %s -> %s (%s)", c.device, c.reading, c.from_state.name,
                                 c.to_state.name, c.message or c.text or c.value)

    def app(self):
        """The one HTTP application: the API, the web pages, and /metrics for Prometheus."""
        ctx = ApiContext(self.settings, self.store, self.auth, runs=self.runs, snapshot=self.snapshot,
                         alerts=self.alerts, metrics=MetricsApp(self.snapshot))
        app = create_app(ctx, extra_routers=[runs_routes.router, web_pages.router, decide_pages.router])
        console.install(app)
        return app

    def _schedule_retention(self, scheduler: AsyncIOScheduler, tz: ZoneInfo) -> None:
        """The store forgets what is past its horizon (store.retention), hourly, a minute after the start."""
        from agent.store.retention import prune

        async def run() -> None:
            try:
                await asyncio.to_thread(prune, self.store, self.settings.config.store.retention, datetime.now(UTC))
            except AgentError as err:
                _LOGGER.error("store: pruning failed: %s (tried again in an hour)", err)

        scheduler.add_job(_quiet_on_stop(run), "interval", seconds=3600, id="retention", max_instances=1,
                          coalesce=True, next_run_time=datetime.now(tz) + timedelta(minutes=1))

    def _schedule_people(self, scheduler: AsyncIOScheduler) -> None:
        """Asking people (reminders, expiries) every alerts.tick; the `schedules:` every half minute (a start
        is on the loop: the run is a task of the daemon); old sessions and failed logins pruned hourly."""
        async def ask() -> None:
            try:
                counts = await asyncio.to_thread(self.runs.asker.tick)
            except AgentError as err:
                TICK.failed("asking", "%s", err)
                return
            if any(counts.values()):
                _LOGGER.info("asking: %s", " ".join(f"{k}={v}" for k, v in counts.items()))

        async def keep_schedules() -> None:
            for name, due, outcome in self.schedules.tick(datetime.now(UTC)):
                _LOGGER.info("schedule %s (%s): %s", name, due.isoformat(), outcome)

        async def prune() -> None:
            await asyncio.to_thread(self.auth.prune)

        tick = self.settings.config.alerts.tick
        scheduler.add_job(_quiet_on_stop(ask), "interval", seconds=tick, id="asking", max_instances=1, coalesce=True)
        if self.schedules.specs:
            scheduler.add_job(_quiet_on_stop(keep_schedules), "interval", seconds=30, id="schedules", max_instances=1,
                              coalesce=True, next_run_time=datetime.now(UTC))
        scheduler.add_job(_quiet_on_stop(prune), "interval", hours=1, id="prune", max_instances=1, coalesce=True)

    def _schedule_alerts(self, scheduler: AsyncIOScheduler, tz: ZoneInfo) -> None:
        """Alerts come from state changes (run_group); escalation and the outbox run every `alerts.tick`."""
        async def tick() -> None:
            try:
                counts = await asyncio.to_thread(self.alerts.tick)
            except AgentError as err:
                TICK.failed("tick", "%s", err)
                return
            TICK.recovered("tick")
            if any(counts.get(k) for k in ("resolved", "notified", "sent")):   # not every tick that mail waits
                _LOGGER.info("alerts: %s", " ".join(f"{k}={v}" for k, v in counts.items()))

        scheduler.add_job(_quiet_on_stop(tick), "interval", seconds=self.settings.config.alerts.tick, id="alerts",
                          max_instances=1,
                          coalesce=True, next_run_time=datetime.now(tz))
        glpi = self.settings.config.glpi
        if glpi.enabled and glpi.categories:              # new helpdesk tickets start their category's runbook
            from agent.notify.glpi_poll import TicketPoller

            poller = TicketPoller(self.alerts.helpdesk,
                                  lambda name, params, why: self.runs.start(name, params, None, why))
            scheduler.add_job(_quiet_on_stop(poller.tick), "interval", seconds=glpi.poll_every, id="glpi",
                              max_instances=1, coalesce=True)

    def _schedule_documents(self, scheduler: AsyncIOScheduler) -> None:
        """Every scheduled document of the registry, at the time its setting gives (a monthly one on the
        month's first working day)."""
        cfg = self.settings.config
        for name, doc in compose.scheduled(self.settings).items():
            section, _, key = doc.at.partition(".")
            hour, minute = map(int, getattr(getattr(cfg, section), key).split(":"))
            scheduler.add_job(_quiet_on_stop(self.write_document), "cron", hour=hour, minute=minute, args=[name],
                              id=f"doc-{name}",
                              max_instances=1, coalesce=True)

    async def write_document(self, name: str, now: datetime | None = None) -> None:
        """Write (and mail, when it is mailed) one scheduled document as of now."""
        doc, cfg = compose.document(name), self.settings.config
        now = now or datetime.now(UTC)
        ctx_day = now.astimezone(ZoneInfo(cfg.agent.timezone)).date()
        if not compose.due_today(doc, ctx_day, cfg.alerts.office_hours):
            return
        try:
            await asyncio.to_thread(doc.refresh, self.settings, self.store)
            params = doc.scheduled_params(_clock_context(self.settings, now))
            done = await asyncio.to_thread(compose.compose, name, self.settings, self.store, now=now,
                                           send=doc.mail_template is not None, origin="programado", **params)
        except AgentError as err:     # logged; it is written again at its next time, or by hand now
            _LOGGER.error("document %s not written: %s (oti-agent report writes it by hand)", name, err)
            return
        _LOGGER.info("document %s: %s", name, ", ".join(str(p) for p in done.paths))

    def _schedule_backups(self, scheduler: AsyncIOScheduler, tz: ZoneInfo):
        """Backups of the asset matrix: look for due assets every `check_every`."""
        if self.settings.assets is None:
            return None
        from agent.backups.service import BackupService

        cfg = self.settings.config.backups
        svc = BackupService(self.settings, self.store, on_changes=self.alerts.process)
        tasks: set[asyncio.Task] = set()

        async def start_due() -> None:       # a coroutine, so the scheduler runs it on the loop
            for task in svc.start_due():
                tasks.add(task)
                task.add_done_callback(_finished_backup(tasks))

        for task in svc.recover():           # jobs left running when the agent last stopped
            tasks.add(task)
            task.add_done_callback(_finished_backup(tasks))
        scheduler.add_job(_quiet_on_stop(start_due), "interval", seconds=cfg.check_every, id="backups", max_instances=1,
                          coalesce=True, next_run_time=datetime.now(tz))
        _LOGGER.info("backups: %d assets, checked every %gs", len(self.settings.assets.assets), cfg.check_every)
        return svc

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Schedule every check group and run until stopped."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        cfg = self.settings.config
        tz = ZoneInfo(cfg.agent.timezone)
        scheduler = AsyncIOScheduler(timezone=tz)
        for group in cfg.check_groups:
            jobs = self.jobs[group.name] = group_jobs(self.settings, group)
            _LOGGER.info("group=%s interval=%gs jobs=%d", group.name, group.interval, len(jobs))
            scheduler.add_job(self.run_group, "interval", seconds=group.interval, args=[group, jobs], id=group.name,
                              max_instances=1, coalesce=True, misfire_grace_time=int(group.interval),
                              next_run_time=datetime.now(tz))
        def lead() -> None:                              # what only the leader does (store/leadership.py)
            self._schedule_alerts(scheduler, tz)
            self._schedule_backups(scheduler, tz)
            self._schedule_documents(scheduler)
            self._schedule_people(scheduler)
            self._schedule_retention(scheduler, tz)
            expiry.schedule(scheduler, self)                 # licences and warranties about to end
            power_service.attach(self, scheduler)            # the power policy's runs, its state on /metrics
            self.runs.resume_all()
        server = http_server.ApiServer(self.app(), cfg.http, cfg.path(cfg.http.socket) if cfg.http.socket else None,
                                       cfg.base_dir)
        listening = await server.start()
        traps = start_traps(self.settings, self.snapshot, self.poll_device)
        syslog = await start_syslog(self.settings, self.store, self.snapshot)
        if not cfg.http.public_url:                      # links in mails point where it really listens
            self.runs.asker.base_url = listening.url
        _LOGGER.info("metrics at %s/metrics", listening.url)
        leader = leadership.attach(self, lead, listening.url)     # SQLite: leads at once; PostgreSQL: the lease
        if not stop.is_set():                        # a SIGTERM during start-up: nothing is scheduled
            scheduler.start()
        try:
            await stop.wait()
        finally:
            _LOGGER.info("stopping")
            if scheduler.running:
                scheduler.pause()
                await asyncio.sleep(0)               # jobs just handed to the loop start, so they end quietly
                scheduler.shutdown(wait=False)
            await self.runs.stop()
            leader.stop()                            # its runs stopped: the standby takes them over at once
            if traps is not None:
                await traps.close()
            if syslog is not None:
                await syslog.close()
            await server.stop()
            await self.ctx.aclose()
            self.ctx.ssh_pool.shutdown(wait=False, cancel_futures=True)
            self.store.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def _schedule_start(runs: RunService):
    """How a schedule starts its runbook: as the daemon, saying which schedule and occurrence."""
    def start(spec, due: datetime) -> str:
        return runs.start(spec.runbook, dict(spec.params), None, trigger={
            "by": "schedule", "schedule": spec.name, "due_at": due.isoformat(),
            "reason": f"programado ({spec.name}) para {due.isoformat(timespec='minutes')}"})
    return start


def _policy_start(runs: RunService):
    """How a policy starts its runbook: as the daemon, with the event, the reason and the policy's emergency
    rules (who must still approve, what happens when nobody answers), recorded in the run."""
    from agent.runbook.policies import render_params

    def start(spec, device: str, event: dict) -> str:
        return runs.start(spec.runbook, render_params(spec, event), None, trigger={
            "by": "policy", "policy": spec.name, "device": device, "reason": event["reason"],
            "emergency": spec.emergency.model_dump(mode="json")})
    return start


def _quiet_on_stop(job):
    """A scheduled job cancelled because the daemon stops ends quietly (APScheduler would log a traceback)."""
    async def run(*args, **kwargs):
        with contextlib.suppress(asyncio.CancelledError):
            return await job(*args, **kwargs)
    run.__name__ = run.__qualname__ = getattr(job, "__name__", "job")
    return run


def _clock_context(settings, now: datetime):
    """A context that only answers `today` for a document's scheduled parameters."""
    from agent.documents.base import DocContext

    return DocContext(settings, None, now, None, None)


def _finished_backup(tasks: set):
    def done(task: asyncio.Task) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("%s: %s", task.get_name(), task.exception())
    return done
