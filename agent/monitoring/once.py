"""Run the configured checks once, without the scheduler (`oti-agent check`), and build the probe context
every runner uses (the daemon's, a runbook's `checks` step, this one)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from agent.core.results import CheckResult
from agent.core.settings import Settings
from agent.monitoring.jobs import all_jobs
from agent.monitoring.runner import Runner
from agent.transports.context import ProbeContext


def probe_context(settings: Settings, pool: ThreadPoolExecutor, store=None) -> ProbeContext:
    """A context for a loaded config: what plugins loaded while validating it (SNMP profiles) is shared,
    and the store is the one given, or opened from the config on first use."""
    from agent.store import Store

    cfg = settings.config
    ctx = ProbeContext(cfg, pool, services=dict(settings.data))
    if store is not None:
        ctx.services["store"] = store
    ctx.factories["store"] = lambda: Store.for_config(cfg)
    return ctx


async def run_once(settings: Settings, *, group: str | None = None, device: str | None = None) -> list[CheckResult]:
    """Run every job of the selected groups once; return the results."""
    cfg = settings.config
    jobs = [j for js in all_jobs(settings, group=group, device=device).values() for j in js]
    with ThreadPoolExecutor(cfg.scheduler.ssh_threads, thread_name_prefix="probe") as pool:
        ctx = probe_context(settings, pool)
        try:
            return await Runner(ctx, cfg.scheduler.max_concurrency).run(jobs)
        finally:
            await ctx.aclose()
