"""Step kinds of the restore drill (`simulacro-restauracion`, issue 17).

`drill_pick` chooses the backup (the latest, or a random one within the asset's retention);
`drill_restore` first sweeps what earlier drills left (a cancelled or crashed run skips its cleanup:
folders and databases of runs no longer active), then restores the backup under the drills' scratch
folder, one subfolder per run (0700), and starts the clock; `drill_verify` checks the copy against the
backend's catalog (files, size, a sample's checksums; a database dump also with pg_restore --list and,
in a throwaway database, a query) and stops the clock; `drill_cleanup` removes the folder and drops the
databases, whatever happened before; `drill_report` writes the evidence, sets the asset's drill reading
(a failed drill is an alert, as a failed backup is) and files the drill report (informe-simulacro).
They pass what they found to each other as the run's facts (`facts.drill_*`).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from agent.backups import drill_checks, drills
from agent.backups.service import BackupService
from agent.errors import BackendError, RunbookError, StepFailed
from agent.runbook.journal import TERMINAL
from agent.runbook.kinds import NoOptions, StepContext, StepKind, StepOptions
from agent.runbook.steps.backups import _chain


def _service(ctx: StepContext) -> BackupService:
    return BackupService(ctx.settings, ctx.journal.store)


def _facts(ctx: StepContext) -> dict:
    return ctx.journal.facts(ctx.run_id)


def _set(ctx: StepContext, **facts) -> None:
    ctx.journal.set_facts(ctx.run_id, ctx.step.id, {f"drill_{k}": v for k, v in facts.items()})


def _scratch(ctx: StepContext) -> tuple[Path, Path]:
    """The drills' scratch root, and this run's folder under it."""
    cfg = ctx.settings.config
    root = cfg.path(cfg.backups.drills.scratch)
    return root, root / ctx.run_id


def _pg(ctx: StepContext) -> drill_checks.ScratchPostgres | None:
    cfg = ctx.settings.config
    pg = cfg.backups.drills.postgres
    return drill_checks.ScratchPostgres(pg, cfg.base_dir) if pg is not None else None


def _is_active(ctx: StepContext, run_id: str) -> bool:
    """Whether a run has not ended (pending, running, interrupted, awaiting someone): its scratch target is in
    use. A crashed run counts until it is resumed (then its own cleanup runs) or cancelled: it may still
    verify what it restored. A name the journal does not know is no run's."""
    if run_id == ctx.run_id:
        return True
    try:
        return ctx.journal.run(run_id)["status"] not in TERMINAL
    except RunbookError:
        return False


def _active_runs(ctx: StepContext) -> set[str]:
    """The runs not ended (any status but the journal's TERMINAL ones: a status added later counts as not
    ended, so its database is kept), this one included."""
    return {r["id"] for r in ctx.journal.runs(limit=10_000) if r["status"] not in TERMINAL} | {ctx.run_id}


async def _sweep(ctx: StepContext, root: Path) -> str:
    """Remove the folders and drop the databases runs no longer active left behind; what was swept."""
    notes = await asyncio.to_thread(drill_checks.sweep_folders, root, lambda name: _is_active(ctx, name))
    pg = _pg(ctx)
    if pg is not None:
        try:
            active = await asyncio.to_thread(_active_runs, ctx)
            notes += await asyncio.to_thread(drill_checks.sweep_databases, pg, active)
        except BackendError as err:       # housekeeping: the drill goes on, the note says it
            notes.append(f"bases de datos de simulacros anteriores: {err}")
    if notes:
        ctx.log.info("run %s: swept earlier drills' leftovers: %s", ctx.run_id, "; ".join(notes))
    return "; ".join(notes)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)               # mkdir's mode does nothing to a folder that already exists


class PickOptions(StepOptions):
    """Which asset and which rule (templates over the run's parameters)."""
    asset: str = Field("{{ params.activo }}", description="asset id of the matrix")
    rule: str = Field("{{ params.regla }}", description="ultima | aleatoria (within the asset's retention)")


class DrillPick(StepKind):
    """Choose the backup the drill restores, by its rule."""

    Options = PickOptions
    idempotent = True
    estimate_s = 5.0

    def describe(self, options) -> str:
        return "elige la copia a restaurar (la última, o una al azar dentro de la retención)"

    async def run(self, ctx: StepContext, target) -> str:
        svc = _service(ctx)
        asset = svc.settings.assets.get(ctx.render(ctx.options.asset))
        rule = ctx.render(ctx.options.rule).strip() or "ultima"
        _set(ctx, asset=asset.id, rule=rule, backend=asset.backend, job_name=asset.job)
        backend = svc.backend(asset.backend)
        try:
            jobs = await asyncio.to_thread(backend.jobs_of, asset.job)
            chosen = drills.pick(jobs, rule, asset.retention_days, datetime.now(UTC),
                                 drills.rng_for(ctx.settings.config.backups.drills.seed, ctx.run_id))
        except (BackendError, ValueError) as err:
            _set(ctx, error=str(err))
            raise StepFailed(str(err)) from None
        if chosen is None:
            message = f"no hay ninguna copia correcta de {asset.name} en {backend.name} que restaurar"
            _set(ctx, error=message)
            raise StepFailed(message)
        good = sorted((j for j in jobs if j.good and j.started), key=lambda j: j.started)
        chain = _chain(good, chosen)
        _set(ctx, jobs=",".join(j.job_id for j in chain), backup_date=chosen.started.isoformat(),
             levels=" + ".join(j.level for j in chain), bytes=sum(j.bytes for j in chain),
             volumes=sorted({v for j in chain for v in j.volumes}))
        return (f"copia del {chosen.started.astimezone(svc.tz):%d/%m/%Y %H:%M} ({rule}; "
                f"{' + '.join(j.level for j in chain)}, jobs {', '.join(j.job_id for j in chain)})")


class DrillRestore(StepKind):
    """Restore the chosen backup to the scratch folder; the measured recovery time starts here."""

    Options = NoOptions
    estimate_s = 60.0

    def describe(self, options) -> str:
        return "restaura la copia en un destino temporal (carpeta de simulacros)"

    async def run(self, ctx: StepContext, target) -> str:
        facts = _facts(ctx)
        if not facts.get("drill_jobs"):
            raise StepFailed("no se eligió una copia que restaurar")
        svc = _service(ctx)
        asset = svc.settings.assets.get(facts["drill_asset"])
        backend = svc.backend(asset.backend)
        root, where = _scratch(ctx)
        swept = await _sweep(ctx, root)
        _private_dir(root)
        _private_dir(where)                 # what comes back is production data: the agent's eyes only
        started = datetime.now(UTC)
        _set(ctx, target_kind="carpeta", where=str(where), started=started.isoformat(), swept=swept)
        try:
            job = await asyncio.to_thread(backend.scratch_restore, facts["drill_jobs"], str(where))
            if job.status == "running":
                job = await svc.wait(backend, job.job_id, timeout=ctx.settings.config.backups.drills.timeout)
        except BackendError as err:
            job = None
            error = str(err)
        else:
            error = "; ".join(job.errors[:3]) or job.backend_status or job.status
        ok = job is not None and job.good
        checks = [drill_checks.check("trabajo de restauración", "terminado sin errores",
                                     f"{job.status} (job {job.job_id})" if job else error, ok)]
        _set(ctx, checks=checks, restore_job=job.job_id if job else "", error=None if ok else error)
        if not ok:
            raise StepFailed(f"la restauración falló: {error}")
        return f"restaurada en {where} (job {job.job_id})"


class DrillVerify(StepKind):
    """Verify the restored copy against the catalog (and a dump in a throwaway database); stop the clock."""

    Options = NoOptions
    estimate_s = 30.0

    def describe(self, options) -> str:
        return "verifica la copia restaurada: archivos, tamaño, sumas de una muestra; volcados de base de datos"

    async def run(self, ctx: StepContext, target) -> str:
        facts = _facts(ctx)
        checks = list(facts.get("drill_checks") or [])
        try:
            if not facts.get("drill_where") or not all(c["ok"] for c in checks):
                raise StepFailed("no hay copia restaurada que verificar")
            checks += await self._verify(ctx, facts)
        finally:
            _set(ctx, checks=checks, ended=datetime.now(UTC).isoformat())
        bad = [c for c in checks if not c["ok"]]
        if bad:
            raise StepFailed("verificación fallida: " + "; ".join(f"{c['check']}: {c['found']}" for c in bad[:3]))
        return f"{len(checks)} verificaciones conformes"

    async def _verify(self, ctx: StepContext, facts: dict) -> list[dict]:
        svc = _service(ctx)
        asset = svc.settings.assets.get(facts["drill_asset"])
        backend = svc.backend(asset.backend)
        cfg = ctx.settings.config.backups.drills
        where = Path(facts["drill_where"])
        try:
            catalog = await asyncio.to_thread(backend.catalog, facts["drill_jobs"].split(","))
        except BackendError as err:
            return [drill_checks.check("catálogo de la copia", "legible", str(err), False)]
        rng = drills.rng_for(cfg.seed, ctx.run_id)
        out = await asyncio.to_thread(drill_checks.verify_files, backend, catalog, where, cfg.sample, rng)
        out += await asyncio.to_thread(drill_checks.verify_manifests, catalog, where, cfg.manifest)
        dumps = await asyncio.to_thread(drill_checks.dumps, catalog, where)
        pg = _pg(ctx)
        names = [drill_checks.database_name(ctx.run_id, i) for i in range(len(dumps))] if pg else []
        if dumps:
            _set(ctx, target_kind="postgresql" if pg else "carpeta", databases=names)   # before creating them
        for i, dump in enumerate(dumps):
            out.append(await asyncio.to_thread(drill_checks.list_dump, dump))
            if pg is not None:
                out += await asyncio.to_thread(drill_checks.verify_dump, pg, names[i], dump, asset.drill_query)
        return out


class DrillCleanup(StepKind):
    """Remove the scratch folder and drop the throwaway databases (always, even after a failed check)."""

    Options = NoOptions
    idempotent = True
    estimate_s = 5.0

    def describe(self, options) -> str:
        return "elimina la carpeta temporal y las bases de datos temporales"

    async def run(self, ctx: StepContext, target) -> str:
        facts = _facts(ctx)
        root, where = _scratch(ctx)
        ok, note = await asyncio.to_thread(drill_checks.cleanup, where, root, _pg(ctx), facts.get("drill_databases") or [])
        if facts.get("drill_swept"):        # the evidence says what earlier drills had left, and that it went
            note += f"; restos de simulacros anteriores: {facts['drill_swept']}"
        _set(ctx, cleanup=ok, cleanup_note=note)
        if not ok:
            raise StepFailed(f"limpieza incompleta: {note}")
        return note


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class DrillReport(StepKind):
    """Record the evidence, set the asset's drill reading (the alert), and file the drill report."""

    Options = NoOptions
    estimate_s = 2.0

    def describe(self, options) -> str:
        return "registra la evidencia del simulacro, alerta si falló y emite el informe de simulacro"

    async def run(self, ctx: StepContext, target) -> str:
        from agent.documents.compose import compose

        facts = _facts(ctx)
        svc = _service(ctx)
        asset = svc.settings.assets.get(facts.get("drill_asset") or str(ctx.params.get("activo", "")))
        started, ended = _when(facts.get("drill_started")), _when(facts.get("drill_ended"))
        seconds = (ended - started).total_seconds() if started and ended else None
        checks = list(facts.get("drill_checks") or [])
        if seconds is not None and asset.rto:
            checks.append(drill_checks.check("tiempo de recuperación", f"≤ {drills.duration_text(asset.rto)}",
                                             drills.duration_text(seconds), seconds <= asset.rto))
        ok = len(checks) > 1 and all(c["ok"] for c in checks)
        error = facts.get("drill_error") or "; ".join(f"{c['check']}: {c['found']}" for c in checks if not c["ok"])
        row = dict(run_id=ctx.run_id, asset=asset.id, backend=asset.backend, job_name=asset.job,
                   jobs=facts.get("drill_jobs"), backup_date=_when(facts.get("drill_backup_date")),
                   levels=facts.get("drill_levels"), volumes=",".join(facts.get("drill_volumes") or []),
                   bytes=facts.get("drill_bytes") or 0, rule=facts.get("drill_rule") or "ultima",
                   target_kind=facts.get("drill_target_kind"),
                   target="; ".join([facts.get("drill_where") or ""] + (facts.get("drill_databases") or [])),
                   started_at=started, ended_at=ended, seconds=seconds, objective_s=asset.rto,
                   result="ok" if ok else "failed", checks=checks, cleanup=bool(facts.get("drill_cleanup")),
                   cleanup_note=facts.get("drill_cleanup_note"), error=None if ok else (error or "sin verificar"),
                   at=datetime.now(UTC))
        await asyncio.to_thread(drills.record, ctx.journal.store, row)
        alerts = await asyncio.to_thread(drills.verdict, ctx.settings, ctx.journal.store, svc.device_of(asset), asset,
                                         ok, row["error"] or "", datetime.now(UTC))
        done = await asyncio.to_thread(compose, "informe-simulacro", ctx.settings, ctx.journal.store, run_id=ctx.run_id)
        _set(ctx, result="conforme" if ok else "fallido", time=drills.duration_text(seconds),
             objective=drills.duration_text(asset.rto), report=str(done.paths[0]), problems=None if ok else row["error"])
        alert = f"; alerta {', '.join(map(str, alerts))}" if alerts and not ok else ""
        return (f"simulacro {'conforme' if ok else 'FALLIDO'} de {asset.name} en "
                f"{drills.duration_text(seconds)}{alert}; informe {done.paths[0]}")
