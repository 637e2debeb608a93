"""`oti-agent serve`: the monitoring daemon.

APScheduler (asyncio) runs each check group at its interval — never two runs of one group at once,
missed runs coalesced — and every run's results go to the in-memory snapshot (read by /metrics)
and to the store (latest readings, state changes). SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, start_http_server

from agent.config import CheckGroup
from agent.errors import StoreError
from agent.plan import group_jobs
from agent.runner import Job, Runner
from agent.settings import Settings
from agent.snapshot import Snapshot
from agent.store import Store
from checks.base import ProbeContext
from exporters.prometheus import SnapshotCollector

_LOGGER = logging.getLogger(__name__)


@dataclass
class Daemon:
    """The running agent: scheduler, runner, store, snapshot and /metrics."""

    settings: Settings
    store: Store
    snapshot: Snapshot
    runner: Runner
    ctx: ProbeContext
    alerts: object | None = None        # the AlertBook, set when serving

    @classmethod
    def create(cls, settings: Settings) -> Daemon:
        """Open the store and build the runner; nothing is polled yet."""
        cfg = settings.config
        store = Store(cfg.store.url, cfg.base_dir, cfg.store.latest_every)
        ctx = ProbeContext.for_settings(settings, ThreadPoolExecutor(cfg.scheduler.ssh_threads,
                                                                     thread_name_prefix="probe"))
        ctx.services["store"] = store        # probes that read the store (backup freshness) share it
        return cls(settings, store, Snapshot(settings.inventory), Runner(ctx, cfg.scheduler.max_concurrency), ctx)

    async def run_group(self, group: CheckGroup, jobs: list[Job]) -> None:
        """Run one check group once and record its results."""
        t0 = time.perf_counter()
        results = await self.runner.run(jobs)
        self.snapshot.update(results)
        try:
            changes = await asyncio.to_thread(self.store.record, results)
        except StoreError as err:
            _LOGGER.error("group=%s: results kept in memory only: %s", group.name, err)
            changes = []
        if changes and self.alerts is not None:
            try:
                await asyncio.to_thread(self.alerts.process, changes)
            except Exception as err:     # noqa: BLE001 - an alert bookkeeping failure must not stop polling
                _LOGGER.error("group=%s: alerts not updated: %s", group.name, err)
        for c in changes:
            if c.from_state is not None:
                _LOGGER.info("device=%s reading=%s state %s -> %s (%s)", c.device, c.reading, c.from_state.name,
                             c.to_state.name, c.message or c.text or c.value)
        failed = sum(1 for r in results if not r.up)
        _LOGGER.info("group=%s checks=%d failed=%d duration=%.2fs", group.name, len(results), failed,
                     time.perf_counter() - t0)

    def serve_metrics(self):
        """Start /metrics in a background thread; return the HTTP server."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(self.snapshot))
        http = self.settings.config.http
        server, _thread = start_http_server(http.port, addr=http.listen, registry=registry)
        return server

    def _schedule_alerts(self, scheduler: AsyncIOScheduler, tz: ZoneInfo) -> None:
        """Alerts come from state changes (run_group); escalation and the outbox run every `alerts.tick`."""
        from agent.alerts import AlertBook

        self.alerts = AlertBook(self.settings, self.store)

        async def tick() -> None:
            try:
                counts = await asyncio.to_thread(self.alerts.tick)
            except Exception as err:     # noqa: BLE001 - logged; the next tick tries again
                _LOGGER.error("alerts: %s", err)
                return
            if any(counts.values()):
                _LOGGER.info("alerts: %s", " ".join(f"{k}={v}" for k, v in counts.items()))

        scheduler.add_job(tick, "interval", seconds=self.settings.config.alerts.tick, id="alerts", max_instances=1,
                          coalesce=True, next_run_time=datetime.now(tz))

        async def daily() -> None:
            from agent.cli_reports import daily_report, monitoring_report

            for name, report in (("daily checklist", daily_report), ("monitoring report", monitoring_report)):
                try:
                    paths = await asyncio.to_thread(report, self.settings, self.store, datetime.now(tz).date(), True)
                    _LOGGER.info("%s: %s", name, ", ".join(str(p) for p in paths))
                except Exception as err:     # noqa: BLE001 - logged; tomorrow runs again; `oti-agent report` now
                    _LOGGER.error("%s not written: %s", name, err)

        hour, minute = map(int, self.settings.config.reports.daily_time.split(":"))
        scheduler.add_job(daily, "cron", hour=hour, minute=minute, id="daily-checklist", max_instances=1,
                          coalesce=True)

    def _schedule_backups(self, scheduler: AsyncIOScheduler, tz: ZoneInfo):
        """Backups of the asset matrix: look for due assets every `check_every`, write yesterday's
        bitácora (Anexo 03) and the tape inventory (Anexo 04) every day at `log_time`."""
        if self.settings.assets is None:
            return None
        from agent.backups.service import BackupService

        cfg = self.settings.config.backups
        svc = BackupService(self.settings, self.store, on_changes=self.alerts.process if self.alerts else None)
        tasks: set[asyncio.Task] = set()

        async def start_due() -> None:       # a coroutine, so the scheduler runs it on the loop
            for task in svc.start_due():
                tasks.add(task)
                task.add_done_callback(_finished_backup(tasks))

        for task in svc.recover():           # jobs left running when the agent last stopped
            tasks.add(task)
            task.add_done_callback(_finished_backup(tasks))
        hour, minute = map(int, cfg.log_time.split(":"))
        scheduler.add_job(start_due, "interval", seconds=cfg.check_every, id="backups", max_instances=1,
                          coalesce=True, next_run_time=datetime.now(tz))
        scheduler.add_job(self._daily_backup_documents, "cron", hour=hour, minute=minute, args=[svc],
                          id="backup-documents", max_instances=1, coalesce=True)
        _LOGGER.info("backups: %d assets, checked every %gs", len(self.settings.assets.assets), cfg.check_every)
        return svc

    async def _daily_backup_documents(self, svc) -> None:
        from datetime import timedelta

        from agent.backups.reports import daily_log, tape_inventory
        from agent.backups.tapes import TapeInventory

        cfg = self.settings.config
        folder = cfg.path(cfg.documents_dir)
        yesterday = datetime.now(svc.tz).date() - timedelta(days=1)
        try:
            paths = await asyncio.to_thread(daily_log, svc, yesterday, folder / "bitacoras", cfg.backups.responsible)
            inv = TapeInventory(self.store)
            for name in cfg.backups.backends:
                backend = svc.backend(name)
                if backend.supports_tapes:
                    await asyncio.to_thread(inv.sync, backend)
            paths += await asyncio.to_thread(tape_inventory, inv.list(), inv.jobs_by_tape(), inv.boxes(),
                                             folder / "cintas", svc.tz, cfg.backups.responsible, inv.today(svc.tz))
            _LOGGER.info("backup documents written: %s", ", ".join(str(p) for p in paths))
        except Exception as err:      # noqa: BLE001 - one bad day must not stop the daemon; logged, retried tomorrow
            _LOGGER.error("backup documents of %s not written: %s", yesterday, err)

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
            jobs = group_jobs(self.settings, group)
            _LOGGER.info("group=%s interval=%gs jobs=%d", group.name, group.interval, len(jobs))
            scheduler.add_job(self.run_group, "interval", seconds=group.interval, args=[group, jobs], id=group.name,
                              max_instances=1, coalesce=True, misfire_grace_time=int(group.interval),
                              next_run_time=datetime.now(tz))
        self._schedule_alerts(scheduler, tz)
        self._schedule_backups(scheduler, tz)
        server = self.serve_metrics()
        _LOGGER.info("metrics at http://%s:%d/metrics", cfg.http.listen, server.server_port)
        scheduler.start()
        try:
            await stop.wait()
        finally:
            _LOGGER.info("stopping")
            scheduler.shutdown(wait=False)
            server.shutdown()
            await self.ctx.aclose()
            self.ctx.ssh_pool.shutdown(wait=False, cancel_futures=True)
            self.store.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def _finished_backup(tasks: set):
    def done(task: asyncio.Task) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("%s: %s", task.get_name(), task.exception())
    return done
