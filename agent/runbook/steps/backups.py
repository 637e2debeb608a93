"""Step kinds of the restore from tape ("recuperación de información", activities 11–19).

`backup_find` (11–12) finds the backup of the date asked for, the tapes it is on and the custody
boxes holding them; `custody_request` (13) asks the custody company for the boxes that are away;
`custody_wait` (14, 18–19) waits until a person records a box received or handed back with
`oti-agent tapes box …`; `backup_restore` (15) restores it; `restore_log` (16) writes the line of
the bitácora de restauración (Anexo 06), whether the restore worked, failed, or had no backup.
They pass what they found to each other as the run's facts (`facts.restore_*`).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from agent.backups import restores
from agent.backups.custody import tell_company
from agent.backups.service import BackupService
from agent.backups.tapes import TapeInventory
from agent.core.times import utc
from agent.errors import BackendError, ConfigError, MailError, StepFailed, TapeWait
from agent.runbook.kinds import StepContext, StepKind, StepOptions

POLL_S = 1.0


def _service(ctx: StepContext) -> BackupService:
    return BackupService(ctx.settings, ctx.journal.store)


class FindOptions(StepOptions):
    """Which asset, and the date of the backup wanted (templates over the run's parameters)."""
    asset: str = Field("{{ params.activo }}", description="asset id of the matrix")
    date: str = Field("{{ params.fecha }}", description="date of the backup wanted, YYYY-MM-DD; empty: the latest")
    match: Literal["day", "as_of"] = Field(
        "day", description="day: a backup made that day (a unit asks for a day's files); as_of: the latest made "
                           "on or before it (a service restored as it was: a fortnightly backup has few days)")


class BackupFind(StepKind):
    """Find the backup made on a date, the tapes it is on and where those tapes are (activities 11–12)."""

    Options = FindOptions
    idempotent = True
    estimate_s = 5.0

    def describe(self, options: FindOptions) -> str:
        return "ubica la copia de la fecha solicitada, sus cintas y su caja de custodia"

    async def run(self, ctx: StepContext, target) -> str:
        svc = _service(ctx)
        asset = svc.settings.assets.get(ctx.render(ctx.options.asset))
        written = ctx.render(ctx.options.date).strip()
        try:
            wanted = date.fromisoformat(written) if written else None
        except ValueError:
            raise StepFailed(f"fecha {written!r} no válida (AAAA-MM-DD; vacía: la más reciente)") from None
        backend = svc.backend(asset.backend)
        try:
            jobs = await asyncio.to_thread(backend.jobs_of, asset.job)
        except BackendError as err:
            raise StepFailed(str(err)) from None
        good = sorted((j for j in jobs if j.good and j.started), key=lambda j: j.started)

        def day_of(job) -> date:
            return job.started.astimezone(svc.tz).date()

        if wanted is None:
            on_day = good
        elif ctx.options.match == "as_of":
            on_day = [j for j in good if day_of(j) <= wanted]
        else:
            on_day = [j for j in good if day_of(j) == wanted]
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {"restore_asset": asset.id, "restore_server": asset.server,
                                                         "restore_found": bool(on_day)})
        if not on_day:
            if wanted is None:
                raise StepFailed(f"no existe ninguna copia de respaldo correcta de {asset.name} en {backend.name}")
            before = [j for j in good if day_of(j) < wanted]
            hint = (f"; la anterior más cercana es del {day_of(before[-1]):%d/%m/%Y}" if before else "")
            made = "generada hasta" if ctx.options.match == "as_of" else "generada el"
            raise StepFailed(f"no existe copia de respaldo de {asset.name} {made} {wanted:%d/%m/%Y}{hint}")
        chain = _chain(good, on_day[-1])
        volumes = sorted({v for j in chain for v in j.volumes})
        inv = TapeInventory(ctx.journal.store)
        if backend.supports_tapes:
            await asyncio.to_thread(inv.sync, backend)
        boxes = inv.boxes()
        away = sorted({b for b, info in boxes.items() if info["status"] == "enviada" and set(info["tapes"]) & set(volumes)})
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {
            "restore_jobs": ",".join(j.job_id for j in chain), "restore_backup_date": chain[-1].started.isoformat(),
            "restore_backup_day": f"{chain[-1].started.astimezone(svc.tz):%d/%m/%Y}",
            "restore_levels": [j.level for j in chain], "restore_volumes": volumes, "restore_boxes": away,
            "restore_bytes": sum(j.bytes for j in chain)})
        where = ", ".join(f"{b} (en custodia)" for b in away) or "en la oficina"
        return (f"copia del {chain[-1].started.astimezone(svc.tz):%d/%m/%Y %H:%M} "
                f"({' + '.join(j.level for j in chain)}, jobs {', '.join(j.job_id for j in chain)}) en las cintas "
                f"{', '.join(volumes)}; cajas: {where}")


def _chain(good: list, last) -> list:
    """The backups a restore of `last` needs: its last full before it, the latest differential after that
    full, and the incrementals after those — as a backup program restores "as of" a date."""
    upto = [j for j in good if j.started <= last.started]
    fulls = [j for j in upto if j.level == "Full"]
    if not fulls:
        return [last]
    full = fulls[-1]
    after = [j for j in upto if j.started > full.started]
    diffs = [j for j in after if j.level == "Differential"]
    base = diffs[-1] if diffs else full
    incs = [j for j in after if j.level == "Incremental" and j.started > base.started]
    return [full] + ([base] if base is not full else []) + incs


class CustodyRequestOptions(StepOptions):
    """Why the boxes are asked for (goes in the e-mail)."""
    reason: str = Field("{{ params.motivo }}", description="template")


class CustodyRequest(StepKind):
    """Ask the custody company, as an emergency service, for the boxes the backup is in (activity 13)."""

    Options = CustodyRequestOptions
    estimate_s = 2.0

    def describe(self, options) -> str:
        return "solicita a la empresa de resguardo las cajas en custodia (servicio de emergencia)"

    async def run(self, ctx: StepContext, target) -> str:
        facts = ctx.journal.facts(ctx.run_id)
        boxes = facts.get("restore_boxes") or []
        if not boxes:
            return "las cintas están en la oficina: no se solicita ninguna caja"
        cfg = ctx.settings.config
        inv = TapeInventory(ctx.journal.store)
        reason = ctx.render(ctx.options.reason)
        for box in boxes:
            info = inv.box(box)
            if info["status"] != "enviada":
                continue
            try:
                await asyncio.to_thread(tell_company, ctx.settings, ctx.journal.store, "solicitada", info,
                                        ctx.who(), source=f"run:{ctx.run_id}:{ctx.step.id}:{box}",
                                        reason=f"{reason} (ejecución {ctx.run_id})")
            except (MailError, ConfigError) as err:
                raise StepFailed(str(err)) from None
            await asyncio.to_thread(inv.request, box, ctx.who(), reason)
        return f"solicitadas a {cfg.backups.custody.company}: {', '.join(boxes)}"


class CustodyWaitOptions(StepOptions):
    """Which movement to wait for."""
    until: str = Field(pattern="^(en_oficina|enviada)$",
                       description="en_oficina: the boxes were received (14); enviada: handed back (18–19)")


class CustodyWait(StepKind):
    """Wait until a person records the boxes received, or handed back, with `oti-agent tapes box`."""

    Options = CustodyWaitOptions
    waits_for_person = True
    idempotent = True

    def describe(self, options) -> str:
        return ("espera la recepción de las cajas (oti-agent tapes box receive)" if options.until == "en_oficina"
                else "espera la entrega de las cajas a la empresa de resguardo (oti-agent tapes box send)")

    async def run(self, ctx: StepContext, target) -> str:
        boxes = ctx.journal.facts(ctx.run_id).get("restore_boxes") or []
        if not boxes:
            return "ninguna caja en custodia para esta restauración"
        inv = TapeInventory(ctx.journal.store)
        command = "receive" if ctx.options.until == "en_oficina" else "send"
        told = False
        while True:
            pending = [b for b in boxes if (await asyncio.to_thread(inv.box, b))["status"] != ctx.options.until]
            if not pending:
                return f"cajas {', '.join(boxes)}: {ctx.options.until.replace('_', ' ')}"
            if not told:
                hint = " ".join(f"oti-agent tapes box {command} {b} --seal PRECINTO" for b in pending)
                ctx.journal.set_step(ctx.run_id, ctx.step.id, "awaiting_confirmation", hint)
                ctx.progress(ctx.step.id, None, "awaiting_confirmation", hint)
                told = True
            await asyncio.sleep(POLL_S)


class RestoreOptions(StepOptions):
    """Where to restore."""
    where: str = Field("{{ params.destino }}", description="folder on the client the files go under")
    mount_wait: float = Field(600.0, gt=0, description="seconds the backend may wait for a tape before the "
                              "restore is canceled and the operator told which tape to load")


class BackupRestore(StepKind):
    """Restore the backup found, once its tapes are in the library (activity 15)."""

    Options = RestoreOptions
    estimate_s = 60.0

    def describe(self, options) -> str:
        return "restaura la copia desde las cintas"

    async def run(self, ctx: StepContext, target) -> str:
        svc = _service(ctx)
        facts = ctx.journal.facts(ctx.run_id)
        if not facts.get("restore_jobs"):
            raise StepFailed("no se ubicó una copia que restaurar (actividad 11)")
        asset = svc.settings.assets.get(facts["restore_asset"])
        backend = svc.backend(asset.backend)
        if backend.supports_tapes:
            await self._tapes_loaded(ctx, svc, backend, facts["restore_volumes"])
        where = ctx.render(ctx.options.where)
        try:
            started = await asyncio.to_thread(backend.restore, facts["restore_jobs"], where)
            # the step's own timeout bounds the restore; one waiting for a tape is stopped sooner
            result = await svc.wait(backend, started.job_id, timeout=None, mount_wait=ctx.options.mount_wait)
            files, dirs = await asyncio.to_thread(backend.contents, facts["restore_jobs"].split(","))
        except TapeWait as err:
            raise StepFailed(f"el respaldo espera una cinta ({err}); cargue "
                             f"{', '.join(facts['restore_volumes'])} en la biblioteca y reintente") from None
        except BackendError as err:
            raise StepFailed(str(err)) from None
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {
            "restore_status": "completado" if result.good else "fallido", "restore_job": result.job_id,
            "restore_files": files or result.files, "restore_directories": dirs,
            "restore_errors": result.errors})
        if not result.good:
            raise StepFailed(f"restauración {result.job_id} {result.status}: {'; '.join(result.errors[:3])}")
        return f"restaurados {files or result.files} archivos y {dirs} directorios en {where} (job {result.job_id})"

    async def _tapes_loaded(self, ctx: StepContext, svc: BackupService, backend, volumes: list[str]) -> None:
        """Wait (up to `mount_wait`) until every tape the restore reads is in the library."""
        inv = TapeInventory(ctx.journal.store)
        loop = asyncio.get_running_loop()
        deadline, told = loop.time() + ctx.options.mount_wait, False
        while True:
            await asyncio.to_thread(inv.sync, backend)
            outside = [t["label"] for t in inv.list() if t["label"] in volumes and t["location"] != "biblioteca"]
            if not outside:
                return
            hint = f"cargue en la biblioteca las cintas {', '.join(outside)} y ejecute oti-agent tapes sync --rescan"
            if loop.time() > deadline:
                raise StepFailed(hint)
            if not told:
                ctx.progress(ctx.step.id, "", "waiting", hint)
                told = True
            await asyncio.sleep(svc.cfg.poll_every)


class RestoreLogOptions(StepOptions):
    """The requesting unit, for the bitácora."""
    requester: str = Field("{{ params.unidad }}", description="Solicitante (template)")
    restore_name: str = Field("BK_{{ facts.restore_server }}-{{ facts.restore_asset }}",
                              description="Nombre de restauración (template)")


class RestoreLog(StepKind):
    """Record the result, positive or negative, in the bitácora de restauración (activity 16, Anexo 06)."""

    Options = RestoreLogOptions
    estimate_s = 1.0

    def describe(self, options) -> str:
        return "registra el resultado en la bitácora de restauración de servidores (Anexo 06)"

    async def run(self, ctx: StepContext, target) -> str:
        from agent.documents.compose import compose

        facts = ctx.journal.facts(ctx.run_id)
        status = facts.get("restore_status") or ("sin_copia" if facts.get("restore_found") is False else "fallido")
        requester = ctx.render(ctx.options.requester)
        unit = ctx.settings.people.units.get(requester)          # a unit of the registry: its name
        row = dict(run_id=ctx.run_id, requester=unit.name if unit else requester,
                   asset=facts.get("restore_asset") or str(ctx.params.get("activo", "")),
                   server=facts.get("restore_server"), requested_date=str(ctx.params.get("fecha", "")),
                   backup_date=utc(datetime.fromisoformat(facts["restore_backup_date"]))
                   if facts.get("restore_backup_date") else None,
                   jobs=facts.get("restore_jobs"), restore_name=ctx.render(ctx.options.restore_name)
                   if facts.get("restore_asset") else "", files=facts.get("restore_files") or 0,
                   directories=facts.get("restore_directories") or 0, bytes=facts.get("restore_bytes") or 0,
                   status=status, note="; ".join(facts.get("restore_errors") or []) or None,
                   at=utc(datetime.now().astimezone()))
        await asyncio.to_thread(restores.record, ctx.journal.store, row)
        done = await asyncio.to_thread(compose, "bitacora-restauracion", ctx.settings, ctx.journal.store)
        paths = list(done.paths)
        if "unidad" in ctx.params:          # a unit's request (activity 8): its Anexo 05, with who authorised it
            request = await asyncio.to_thread(compose, "solicitud-restauracion", ctx.settings, ctx.journal.store,
                                              run_id=ctx.run_id)
            paths += request.paths
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {"restore_logged": status})
        return f"bitácora de restauración: {status} ({', '.join(str(p) for p in paths)})"
