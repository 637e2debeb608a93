"""Step kinds that use what the agent already knows: `checklist` (documents from the journal), `document` (one
of the office's documents, written and mailed: the monthly report sent to the jefa for her conformity) and
`checks` (the monitoring probes, run now on the step's targets)."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from agent.core.results import State
from agent.documents.compose import compose
from agent.errors import StepFailed
from agent.runbook.kinds import StepContext, StepKind, StepOptions


class ChecklistOptions(StepOptions):
    """Which form to write."""
    title: str
    file: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="file name, without extension")
    activities: list[int] = Field([], description="only these activities (empty: the whole run)")
    form: Literal["actividades", "servicios"] = Field(
        "actividades", description="actividades: the apagado-encendido checklist; servicios: Ítem, Actividades, "
                                   "Sí, No, Observación (the validation checklist)")
    signers: dict[str, str] = Field({}, description="signature line -> the step whose approver or confirmer signs "
                                    "it (\"Aprobado por\": supervision-jefa); default: the run's last approvals")


class Checklist(StepKind):
    """Write a checklist of the run so far, from its journal, as HTML and XLSX."""

    Options = ChecklistOptions
    idempotent = True
    estimate_s = 0.5

    def describe(self, options: ChecklistOptions) -> str:
        return f"genera «{options.title}» (HTML y XLSX) desde el registro"

    async def run(self, ctx: StepContext, target) -> str:
        o = ctx.options
        done = await asyncio.to_thread(compose, "checklist-ejecucion", ctx.settings, ctx.journal.store,
                                       origin=f"ejecución {ctx.run_id}, paso {ctx.step.id}", run_id=ctx.run_id,
                                       file=o.file, title=o.title, form=o.form, activities=o.activities,
                                       writer=ctx.step.id, signers=o.signers)
        return f"{o.title}: {done.page.facts['lines']} líneas en {', '.join(str(p) for p in done.paths)}"


class DocumentOptions(StepOptions):
    """Which document, for what (its parameters are templates over the run's), and whether it is mailed."""
    name: str = Field(description="a document of the agent: informe-mensual, reporte-monitoreo, ...")
    params: dict[str, str] = Field({}, description="the document's parameters (month: \"{{ params.mes }}\")")
    send: bool = Field(True, description="mail it to its recipients (reports.daily_to) through the outbox")


class WriteDocument(StepKind):
    """Write one of the office's documents now (and mail it): what a person elaborates and sends for a decision."""

    Options = DocumentOptions
    idempotent = True
    estimate_s = 5.0

    def describe(self, options: DocumentOptions) -> str:
        return f"elabora el documento {options.name}" + (" y lo envía" if options.send else "")

    async def run(self, ctx: StepContext, target) -> str:
        from agent.errors import AgentError

        params = {k: ctx.render(v) for k, v in ctx.options.params.items()}
        try:
            done = await asyncio.to_thread(compose, ctx.options.name, ctx.settings, ctx.journal.store,
                                           send=ctx.options.send, origin=f"ejecución {ctx.run_id}, paso {ctx.step.id}",
                                           **params)
        except AgentError as err:
            raise StepFailed(f"{ctx.options.name}: {err}") from None
        ctx.journal.set_facts(ctx.run_id, ctx.step.id, {"document": [str(p) for p in done.paths]})
        sent = " (enviado)" if ctx.options.send else ""
        return f"{ctx.options.name}{sent}: {', '.join(str(p) for p in done.paths)}"


class ChecksOptions(StepOptions):
    """Which check groups to run."""
    groups: list[str] = Field([], description="check groups of the config (empty: all that cover the targets)")


class Checks(StepKind):
    """Run the monitoring checks on the step's targets now; fail on anything CRITICAL or unreachable."""

    Options = ChecksOptions
    idempotent = True
    needs_targets = True
    batch = True
    estimate_s = 10.0

    def describe(self, options: ChecksOptions) -> str:
        return "ejecuta los chequeos de monitoreo" + (f" ({', '.join(options.groups)})" if options.groups else "")

    async def run(self, ctx: StepContext, target) -> str:
        from agent.monitoring.jobs import all_jobs
        from agent.monitoring.runner import Runner

        names = {t.name for t in ctx.targets}
        jobs = [j for group, js in all_jobs(ctx.settings).items()
                if not ctx.options.groups or group in ctx.options.groups for j in js if j.device.name in names]
        if not jobs:
            raise StepFailed("ningún grupo de chequeo cubre estos equipos")
        results = await Runner(ctx.probes, 32).run(jobs)
        problems: dict[str, list[str]] = {name: [] for name in sorted(names)}
        for r in results:
            if not r.up:
                problems[r.device].append(f"{r.check}: {r.error}")
            problems[r.device] += [f"{x.key} {x.message or x.text or x.value}" for x in r.readings
                                   if x.state == State.CRITICAL]
        for device, found in problems.items():      # one verdict per device, for the validation checklist
            ctx.journal.event(ctx.run_id, "check_failed" if found else "check_ok",
                              "; ".join(found) or _summary(results, device), step_id=ctx.step.id, target=device)
        bad = [f"{device}: {p}" for device, found in problems.items() for p in found]
        if bad:
            raise StepFailed("; ".join(bad[:10]) + (f" (y {len(bad) - 10} más)" if len(bad) > 10 else ""))
        return f"{len(results)} chequeos sobre {len(names)} equipos, ninguno crítico"


def _summary(results, device: str) -> str:
    checks = sorted({r.check for r in results if r.device == device})
    return f"operativo ({', '.join(checks)})"
