"""Run checks on devices concurrently: each probe under its own timeout, all under one limit.

A dead or slow device costs its own timeout and never delays the others. A probe that raises
anything is turned into a failed CheckResult here, the one task boundary that catches all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from agent.core.inventory import Device
from agent.core.results import CheckResult, State
from agent.errors import CheckError, ConfigError, ProbeAuthFailed, ProbeTimeout
from agent.monitoring.silence import Silence
from agent.transports.context import JOB_TIMEOUT, ProbeContext

_LOGGER = logging.getLogger(__name__)
AUTH_HOLD_S = 900.0


@dataclass(frozen=True)
class Job:
    """One check to run on one device, with its timeout."""

    check: Any                  # a check plugin instance (checks/base.py: Check), from the registry
    device: Device
    timeout: float

    @property
    def key(self) -> tuple[str, str]:
        """Return (check name, device name)."""
        return (self.check.name, self.device.name)


def build_check(check_cls: type, options: dict | BaseModel | None):
    """Instantiate a check with validated options."""
    if isinstance(options, BaseModel):
        return check_cls(options)
    return check_cls(check_cls.Options.model_validate(options or {}))


class Runner:
    """Run jobs concurrently and keep the previous states that hysteresis needs."""

    def __init__(self, ctx: ProbeContext, max_concurrency: int = 64, auth_hold_s: float = AUTH_HOLD_S,
                 clock=time.monotonic, silence: bool = False, wall=None):
        self.ctx = ctx
        self.wall = wall or (lambda: datetime.now(UTC))     # the time results carry (injectable in tests)
        alerts = ctx.config.alerts
        # the daemon reports silence as an alert of its own; a one-off `oti-agent check` does not need to
        self.silence = Silence(alerts.no_answer_runs, alerts.no_answer_after, ctx.config.agent.timezone) \
            if silence else None
        self._limit = asyncio.Semaphore(max_concurrency)
        self.auth_hold_s, self._clock = auth_hold_s, clock
        self._held: dict[tuple[str, str], tuple[float, CheckResult]] = {}   # auth failures waiting out their hold
        self.previous: dict[tuple[str, str], dict[str, State]] = {}
        self.failing: dict[tuple[str, str], str] = {}    # job key -> error kind, to log changes only once

    async def run(self, jobs: Iterable[Job], on_result=None) -> list[CheckResult]:
        """Run every job; return one result per job, in the same order. `on_result` gets each result as soon
        as it is ready (a healthy device is published without waiting for a dead one's timeout)."""
        async def one(job: Job) -> CheckResult:
            result = await self.run_one(job)
            if on_result is not None:
                on_result(result)
            return result

        return list(await asyncio.gather(*(one(j) for j in jobs)))

    async def run_each(self, jobs: Iterable[Job], on_result, in_hand: int) -> None:
        """Run every job, awaiting `on_result` with each result when it is ready and keeping none: the daemon does
        not hold a thousand devices' readings until the slowest one answers. At most `in_hand` results are
        polled and not yet taken (a store slower than the polls slows the polls, not memory)."""
        room = asyncio.Semaphore(in_hand)

        async def one(job: Job) -> None:
            async with room:
                await on_result(await self.run_one(job))

        await asyncio.gather(*(one(j) for j in jobs))

    async def run_one(self, job: Job) -> CheckResult:
        """Run one job under the concurrency limit and its timeout; never raise.

        After an authentication failure (wrong keys, host-key mismatch) the target is not tried
        again for `auth_hold_s`: retrying every minute would only lock accounts or trip intrusion
        detection. The last failure is reported meanwhile."""
        held = self._held.get(job.key)
        if held and self._clock() < held[0]:
            return held[1]
        self._held.pop(job.key, None)
        async with self._limit:
            started = self.wall()
            t0 = time.perf_counter()
            result = await self._attempt(job, started, t0)
        self._log_transition(job, result)
        if self.silence is not None:
            answered = self.silence.reading(job.key, result, started)
            if answered is not None:
                result.readings.append(answered)
        if result.error_kind == "auth":
            self._held[job.key] = (self._clock() + self.auth_hold_s, result)
        if result.up:        # hysteresis needs the states that are not OK: a missing one reads as OK
            self.previous[job.key] = {r.key: r.state for r in result.readings if r.state != State.OK}
        return result

    async def _attempt(self, job: Job, started: datetime, t0: float) -> CheckResult:
        name, device = job.check.name, job.device.name
        try:
            async with asyncio.timeout(job.timeout) as limit:
                JOB_TIMEOUT.set(limit)           # ctx.blocking gives back the time spent waiting for a thread
                raw = await job.check.collect(job.device, self.ctx)
            readings = job.check.evaluate(raw, job.device, self.previous.get(job.key, {}))
            return CheckResult(name, device, started, time.perf_counter() - t0, readings)
        except TimeoutError:
            msg = f"{name} on {device} ({job.device.address}): no answer within {job.timeout:g}s"
            return CheckResult(name, device, started, time.perf_counter() - t0, error=msg, error_kind="timeout")
        except ProbeTimeout as err:
            return CheckResult(name, device, started, time.perf_counter() - t0, error=str(err), error_kind="timeout")
        except ProbeAuthFailed as err:
            return CheckResult(name, device, started, time.perf_counter() - t0, error=str(err), error_kind="auth")
        except (CheckError, ConfigError) as err:
            return CheckResult(name, device, started, time.perf_counter() - t0, error=str(err),
                               error_kind="unavailable")
        except Exception as err:  # noqa: BLE001 - the one task boundary: a buggy probe must not stop the rest
            if self.failing.get(job.key) != "internal":          # the traceback once, not every run
                _LOGGER.exception("check %s on %s raised unexpectedly", name, device)
            return CheckResult(name, device, started, time.perf_counter() - t0,
                               error=f"{name} on {device}: internal error {type(err).__name__}: {err}",
                               error_kind="internal")

    def _log_transition(self, job: Job, result: CheckResult) -> None:
        """Log an error once when a target starts failing, and once when it recovers."""
        key = job.key
        before = self.failing.get(key)
        if not result.up and (before is None or (result.error_kind == "auth" and before != "auth")):
            self.failing[key] = result.error_kind          # a refused login is worth its own line
            _LOGGER.error("check=%s device=%s failing (%s): %s", key[0], key[1], result.error_kind, result.error)
        elif not result.up and before != result.error_kind:
            # the same failure seen another way (a timeout, then a refused session): not a new line at ERROR;
            # a probe's own bug (internal) is logged with its traceback where it is caught
            self.failing[key] = result.error_kind
            _LOGGER.debug("check=%s device=%s still failing (%s): %s", key[0], key[1], result.error_kind,
                          result.error)
        elif result.up and before is not None:
            del self.failing[key]
            _LOGGER.info("check=%s device=%s recovered", key[0], key[1])
        _LOGGER.debug("check=%s device=%s duration=%.3fs readings=%d", key[0], key[1], result.duration_s,
                      len(result.readings))
