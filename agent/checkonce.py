"""Run the configured checks once, without the scheduler (`oti-agent check`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from agent.plan import all_jobs
from agent.results import CheckResult
from agent.runner import Runner
from agent.settings import Settings
from checks.base import ProbeContext


async def run_once(settings: Settings, *, group: str | None = None, device: str | None = None) -> list[CheckResult]:
    """Run every job of the selected groups once; return the results."""
    cfg = settings.config
    jobs = [j for js in all_jobs(settings, group=group, device=device).values() for j in js]
    with ThreadPoolExecutor(cfg.scheduler.ssh_threads, thread_name_prefix="probe") as pool:
        ctx = ProbeContext.for_settings(settings, pool)
        try:
            return await Runner(ctx, cfg.scheduler.max_concurrency).run(jobs)
        finally:
            await ctx.aclose()
