"""Run each asset's backup on its calendar, check it ended well, retry, and record it all.

Activities 2–5 of "copias de respaldo": run the backup (2), is it conforming? (3), if not review and
run it again (4), record the final state for the bitácora (5). A failed job is retried
`backups.retries` times, `retry_delay` apart; when the last attempt fails too, the asset's
`backup_last_run_ok` reading turns CRITICAL (WARNING for an asset the matrix calls no crítico) with the
job's own error lines — the state change the alerting escalates. Critical assets are started first. Every attempt is a row of `backup_runs`, written before the job starts and
after it ends, so the bitácora and the freshness probe read the store, never the backend.

The clock is injectable: the scheduler asks `due(now)` and `tick(now)`, which is how tests run a
week of calendar in seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, select, update

from agent.backups.backend import BackupBackend, JobResult, backend_class
from agent.core.assets import Asset
from agent.core.results import CheckResult, Reading, State
from agent.core.settings import Settings
from agent.core.times import utc
from agent.errors import BackendError, ConfigError, TapeWait
from agent.store import Store, queries
from agent.store.schema import backup_runs

_LOGGER = logging.getLogger(__name__)
CHECK = "backup"


JOB_TIMEOUT = object()        # wait()'s default: the configured backups.job_timeout


class BackupService:
    """The asset matrix's backups, against one store."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], object] | None = None, on_changes: Callable[[list], object] | None = None):
        if settings.assets is None:
            raise ConfigError("no asset matrix: set backups.matrix in the config")
        self.settings, self.store = settings, store
        self.cfg = settings.config.backups
        self.tz = ZoneInfo(settings.config.agent.timezone)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep or asyncio.sleep
        self._backends: dict[str, BackupBackend] = {}
        self.on_changes = on_changes       # the daemon's alerts, told of the state changes a verdict causes
        self._running: set[str] = set()

    # ------------------------------------------------------------------ calendar
    def due(self, now: datetime) -> list[tuple[Asset, datetime]]:
        """Return the assets whose latest scheduled time has passed without a run for it.

        Only the latest missed time of each asset, and only within `backups.catch_up`: an agent down
        for three days runs a daily backup once, not three times, and a backup missed long ago is
        left to the freshness alert rather than started in the middle of the working day."""
        out = []
        for asset in self.settings.assets.assets:
            slots = asset.slots(now - timedelta(seconds=self.cfg.catch_up), now, self.tz)
            if slots and not self._handled(asset.id, slots[-1]):
                out.append((asset, slots[-1]))
        # the critical assets first (Anexo 02): when the night's jobs queue for one tape drive, theirs go first
        return sorted(out, key=lambda due: (due[0].criticality != "critico", due[1], due[0].id))

    async def tick(self, now: datetime | None = None) -> list[JobResult]:
        """Run every backup due now (each asset at most once at a time); return how they ended."""
        now = now or self.clock()
        due = [(a, s) for a, s in self.due(now) if a.id not in self._running]
        results = await asyncio.gather(*(self.run(a, slot=s) for a, s in due))
        return list(results)

    def start_due(self, now: datetime | None = None) -> list[asyncio.Task]:
        """Start every backup due now in the background (the daemon's tick: a long job does not hold
        back the others); return the tasks."""
        now = now or self.clock()
        tasks = []
        for asset, slot in self.due(now):
            if asset.id not in self._running:
                self._running.add(asset.id)       # at once: the next tick must not start it again
                tasks.append(asyncio.create_task(self.run(asset, slot=slot), name=f"backup-{asset.id}"))
        return tasks

    def recover(self) -> list[asyncio.Task]:
        """Follow the jobs an earlier agent started and did not see end (it was stopped or killed):
        each is read from the backend until it ends and recorded; a run that never reached the
        backend is closed as interrupted."""
        tasks = []
        for r in self.runs():
            if r["status"] != "running":
                continue
            asset = next((a for a in self.settings.assets.assets if a.id == r["asset"]), None)
            if not r["job_id"] or asset is None:
                self._finish(r["id"], JobResult(job_id=r["job_id"] or "", name=r["job_name"], level=r["level"],
                                                status="error", errors=["interrumpida: el agente se detuvo antes "
                                                                        "de que el trabajo empezara"]))
                continue
            self._running.add(asset.id)
            tasks.append(asyncio.create_task(self._follow(asset, r), name=f"backup-{asset.id}"))
        return tasks

    async def _follow(self, asset: Asset, row: dict) -> None:
        try:
            try:
                result = await self.wait(self.backend(row["backend"]), row["job_id"])
            except BackendError as err:
                result = JobResult(job_id=row["job_id"], name=row["job_name"], level=row["level"], status="error",
                                   errors=[str(err)])
            await asyncio.to_thread(self._finish, row["id"], result)
            await asyncio.to_thread(self._verdict, asset, result)
        finally:
            self._running.discard(asset.id)

    def _handled(self, asset_id: str, slot: datetime) -> bool:
        return self.store.scalar(select(func.count()).select_from(backup_runs).where(
            and_(backup_runs.c.asset == asset_id, backup_runs.c.slot == utc(slot)))) > 0

    # ------------------------------------------------------------------ one asset
    async def run(self, asset: Asset, slot: datetime | None = None, level: str | None = None) -> JobResult:
        """Run an asset's backup with retries; record each attempt; alert when the last one fails."""
        self._running.add(asset.id)
        try:
            backend = self.backend(asset.backend)
            level = level or asset.level_for(slot or self.clock(), self.last_full(asset.id))
            result = None
            for attempt in range(1, self.cfg.retries + 2):
                result = await self._attempt(backend, asset, slot, level, attempt)
                if result.good:
                    break
                _LOGGER.warning("asset=%s attempt=%d %s: %s", asset.id, attempt, result.status,
                                "; ".join(result.errors) or result.backend_status)
                if attempt <= self.cfg.retries:
                    await self.sleep(self.cfg.retry_delay)
            await asyncio.to_thread(self._verdict, asset, result)
            return result
        finally:
            self._running.discard(asset.id)

    async def _attempt(self, backend: BackupBackend, asset: Asset, slot, level: str, attempt: int) -> JobResult:
        started = self.clock()
        row = await asyncio.to_thread(self._insert, asset, slot, level, attempt, started, backend.name)
        try:
            job_id = await asyncio.to_thread(backend.start, asset.job, level)
            await asyncio.to_thread(self._update, row, job_id=job_id)
            result = await self.wait(backend, job_id)
        except BackendError as err:
            result = JobResult(job_id="", name=asset.job, level=level, status="error", errors=[str(err)])
        await asyncio.to_thread(self._finish, row, result)
        return result

    async def wait(self, backend: BackupBackend, job_id: str, timeout: float | None | object = JOB_TIMEOUT,
                   mount_wait: float | None = None) -> JobResult:
        """Poll a job until it ends; cancel it after `timeout` (default `job_timeout`; None: never), and,
        with `mount_wait`, when it has waited that long for a tape (raising TapeWait)."""
        loop = asyncio.get_running_loop()
        timeout = self.cfg.job_timeout if timeout is JOB_TIMEOUT else timeout
        deadline = loop.time() + timeout if timeout is not None else None
        waiting_since = None
        while True:
            result = await asyncio.to_thread(backend.job, job_id)
            if result.status != "running":
                return result
            if mount_wait is not None and "waiting for" in result.backend_status and "tape" in result.backend_status:
                waiting_since = waiting_since or loop.time()
                if loop.time() - waiting_since > mount_wait:
                    await asyncio.to_thread(backend.cancel, job_id)
                    raise TapeWait(result.backend_status)
            else:
                waiting_since = None
            if deadline is not None and loop.time() > deadline:
                await asyncio.to_thread(backend.cancel, job_id)
                result.status = "failed"
                result.errors.append(f"sin terminar en {self.cfg.job_timeout / 3600:g} h: cancelado por el agente "
                                     f"({result.backend_status})")
                return result
            await asyncio.sleep(self.cfg.poll_every)

    # ------------------------------------------------------------------ store
    def _insert(self, asset: Asset, slot, level: str, attempt: int, started: datetime, backend: str) -> int:
        with self.store.transaction() as conn:
            return conn.execute(insert(backup_runs).values(
                asset=asset.id, slot=utc(slot) if slot else None, attempt=attempt, trigger="schedule" if slot else "manual",
                backend=backend, job_name=asset.job, level=level, status="running", started_at=utc(started),
                bytes=0, files=0)).inserted_primary_key[0]

    def _update(self, row: int, **values) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(backup_runs).where(backup_runs.c.id == row).values(**values))

    def _finish(self, row: int, r: JobResult) -> None:
        values = dict(job_id=r.job_id or None, status=r.status, ended_at=utc(r.ended or self.clock()),
                      bytes=r.bytes, files=r.files, volumes=",".join(r.volumes),
                      errors=json.dumps(r.errors, ensure_ascii=False) if r.errors else None,
                      message=r.backend_status or None)
        if r.started is not None:          # the backend's own start time, else the agent's
            values["started_at"] = utc(r.started)
        self._update(row, **values)

    def _verdict(self, asset: Asset, r: JobResult) -> None:
        """Record the asset's last-run reading: its state change is what alerts on a failed backup."""
        device = self.device_of(asset)
        # the asset's criticality is the alert's: a non-critical asset's failed backup is a warning
        state = State.OK if r.good else State.CRITICAL if asset.criticality == "critico" else State.WARNING
        message = "" if r.good else f"copia de respaldo de {asset.name} fallida tras {self.cfg.retries + 1} " \
                                    f"intentos: " + "; ".join(r.errors or [r.backend_status or r.status])
        changes = self.store.record([CheckResult(check=CHECK, device=device, started=self.clock(), duration_s=0.0,
                                                 readings=[Reading("backup_last_run_ok", 1.0 if r.good else 0.0, state,
                                                                   labels=(("asset", asset.id),), message=message,
                                                                   help="1 if the asset's last backup (after "
                                                                        "retries) ended well")])])
        if changes and self.on_changes is not None:
            self.on_changes(changes)

    def device_of(self, asset: Asset) -> str:
        """The inventory device an asset's server names (by name or address), else the server as written."""
        inv = self.settings.inventory
        if asset.server in inv.by_name:
            return asset.server
        for d in inv:
            if d.address == asset.server:
                return d.name
        return asset.server

    def last_full(self, asset_id: str) -> datetime | None:
        return self.store.scalar(select(func.max(backup_runs.c.started_at)).where(and_(
            backup_runs.c.asset == asset_id, backup_runs.c.level == "Full",
            backup_runs.c.status.in_(queries.GOOD_BACKUP))))

    def runs(self, since: datetime | None = None, until: datetime | None = None,
             asset: str | None = None) -> list[dict]:
        """Backup runs, oldest first."""
        return queries.backup_runs(self.store, since, until, asset)

    # ------------------------------------------------------------------ backends
    def backend(self, name: str) -> BackupBackend:
        if name not in self._backends:
            entry = self.cfg.backends.get(name)
            if entry is None:
                raise ConfigError(f"no backup backend {name!r} in the config's backups.backends")
            cls = backend_class(entry.type)
            self._backends[name] = cls(name, cls.Options.model_validate(entry.options), self.settings)
        return self._backends[name]

