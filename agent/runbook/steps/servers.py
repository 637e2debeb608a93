"""Step kinds that look at a server before a restore (the Alfresco recovery, activities 4 and 8/12).

`host_ready` (4): is the target server reachable, with enough free disk and memory?
`backup_set_select` (8, 12): pick, on the server's disk, the newest backup set of the date asked for
or before it whose files match its checksum manifest; a set with a corrupt file is skipped and
named, and the next older one tried — the manual's "try the same backup again or another".
"""

from __future__ import annotations

import shlex
from datetime import date

from pydantic import Field

from agent.errors import CheckError, StepFailed
from agent.runbook.kinds import StepContext, StepKind, StepOptions


async def _run(ctx: StepContext, target, command: str, timeout: float = 60.0) -> tuple[int, str, str]:
    try:
        return await ctx.probes.ssh(target, command, timeout)
    except CheckError as err:
        raise StepFailed(str(err)) from None


class HostReadyOptions(StepOptions):
    """What the server needs."""
    path: str = Field("/", description="the filesystem the restore writes to")
    min_free_gb: float = Field(1.0, ge=0)
    min_memory_gb: float = Field(1.0, ge=0)


class HostReady(StepKind):
    """Check that each target answers over SSH with enough free disk and memory."""

    Options = HostReadyOptions
    needs_targets = True
    idempotent = True
    estimate_s = 3.0

    def describe(self, options: HostReadyOptions) -> str:
        return (f"verifica el servidor destino: SSH, {options.min_free_gb:g} GB libres en {options.path}, "
                f"{options.min_memory_gb:g} GB de memoria")

    async def run(self, ctx: StepContext, target) -> str:
        o = ctx.options
        status, out, err = await _run(ctx, target, f"df -P -B1 {shlex.quote(o.path)} | tail -1; "
                                                   "grep MemAvailable /proc/meminfo")
        try:
            lines = out.strip().splitlines()
            free = float(lines[0].split()[3]) / 1e9
            memory = float(lines[1].split()[1]) * 1024 / 1e9
        except (IndexError, ValueError):
            raise StepFailed(f"{target.name}: no se pudo leer disco y memoria ({err.strip() or out.strip()})") from None
        short = []
        if free < o.min_free_gb:
            short.append(f"{free:.1f} GB libres en {o.path} (se requieren {o.min_free_gb:g})")
        if memory < o.min_memory_gb:
            short.append(f"{memory:.1f} GB de memoria disponible (se requieren {o.min_memory_gb:g})")
        if short:
            raise StepFailed(f"{target.name}: " + "; ".join(short))
        return f"{target.name}: {free:.1f} GB libres en {o.path}, {memory:.1f} GB de memoria disponible"


class BackupSetOptions(StepOptions):
    """Where the backup sets are and which date is wanted."""
    dir: str = Field(description="folder holding one sub-folder per backup set, named YYYY-MM-DD[_HHMM]")
    before: str = Field("", description="newest date wanted, YYYY-MM-DD (template; empty: the newest set)")
    manifest: str = Field("MANIFEST.sha256", description="sha256sum file inside each set")


class BackupSetSelect(StepKind):
    """Pick the newest backup set on the server's disk whose checksums verify."""

    Options = BackupSetOptions
    needs_targets = True
    idempotent = True
    estimate_s = 10.0

    def describe(self, options: BackupSetOptions) -> str:
        return f"elige en {options.dir} la copia más reciente cuyas sumas de verificación coinciden"

    async def run(self, ctx: StepContext, target) -> str:
        folder = ctx.render(ctx.options.dir)
        before = ctx.render(ctx.options.before).strip()
        try:
            limit = date.fromisoformat(before) if before else None
        except ValueError:
            raise StepFailed(f"fecha {before!r} no válida (AAAA-MM-DD)") from None
        status, out, err = await _run(ctx, target, f"ls -1 {shlex.quote(folder)}")
        if status != 0:
            raise StepFailed(f"{target.name}: no hay copias en disco en {folder} ({err.strip()})")
        sets = sorted((n for n in out.split() if _set_date(n) and (limit is None or _set_date(n) <= limit)),
                      reverse=True)
        failed, rounds = _failed_before(ctx)
        skipped = [f"{name} (falló la restauración en una vuelta anterior)" for name in sets if name in failed]
        for name in [n for n in sets if n not in failed]:
            path = f"{folder.rstrip('/')}/{name}"
            status, out, err = await _run(ctx, target, f"cd {shlex.quote(path)} && "
                                                       f"sha256sum --quiet -c {shlex.quote(ctx.options.manifest)}",
                                          timeout=3600)
            if status == 0:
                ctx.journal.set_facts(ctx.run_id, ctx.step.id, {"backup_set": path, "backup_set_name": name,
                                                                 "backup_sets_skipped": skipped,
                                                                 "backup_sets_failed": failed,
                                                                 "backup_set_round": rounds})
                return f"copia {name} verificada" + (f"; descartadas: {'; '.join(skipped)}" if skipped else "")
            bad = [ln.split(":")[0] for ln in (out + err).splitlines() if "FAILED" in ln or "No such file" in ln]
            skipped.append(f"{name} (archivos corruptos o faltantes: {', '.join(bad[:5]) or err.strip()[:200]})")
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {"backup_set": None, "backup_sets_skipped": skipped,
                                                         "backup_sets_failed": failed, "backup_set_round": rounds})
        raise StepFailed(f"{target.name}: ninguna copia válida en {folder}"
                         + (f" hasta el {limit:%d/%m/%Y}" if limit else "")
                         + (f"; descartadas: {'; '.join(skipped)}" if skipped else ""))


def _failed_before(ctx: StepContext) -> tuple[list[str], int]:
    """The sets an earlier round picked and then sent back (activity 12: «si la restauración falla por
    archivos corruptos, se reintentará solicitando nuevamente el mismo backup u otro – actividad 8»), and
    how many times the run has been sent back so far. A pick counts as failed only when the run was sent
    back after it: a step repeated on resume, with no send-back between, picks the same set again."""
    rounds = len(ctx.journal.events_named(ctx.run_id, "sent_back"))
    facts = ctx.journal.step_facts(ctx.run_id, ctx.step.id)
    failed = list(facts.get("backup_sets_failed", []))
    picked = facts.get("backup_set_name")
    if picked and rounds > facts.get("backup_set_round", 0) and picked not in failed:
        failed.append(picked)
    return failed, rounds


def _set_date(name: str) -> date | None:
    try:
        return date.fromisoformat(name[:10])
    except ValueError:
        return None
