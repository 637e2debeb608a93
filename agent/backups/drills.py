"""Restore drills (simulacros de restauración, issue 17): the calendar, the pick, the evidence, the verdict.

A drill takes one backup of an asset of the matrix, restores it to a scratch target, verifies it
(agent/backups/drill_checks.py) and records the evidence: which backup, by which rule, where, when the
restore started and the verification ended — the measured recovery time, judged against the asset's
`rto` — what was checked, and whether the target was cleaned up. This module is the only writer of
`restore_drills`. A failed drill turns the asset's `restore_drill_ok` reading CRITICAL (WARNING for an
asset the matrix calls no crítico): the same state change a failed backup causes, which the alert book
opens and escalation mails.

The calendar is the matrix's: each drilled asset (`drill: mensual|bimestral|trimestral|semestral|anual`,
mensual by default for a critical one) is a schedule of `schedule_runs` (`drill_schedules`), so an
occurrence starts its run at most once, whichever daemon ticks first.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from agent.alerts.book import AlertBook
from agent.backups.backend import JobResult
from agent.core.assets import Asset
from agent.core.automation import ScheduleSpec
from agent.core.results import CheckResult, Reading, State
from agent.core.times import utc
from agent.store.schema_drills import restore_drills

_LOGGER = logging.getLogger(__name__)
CHECK = "restore_drill"
READING = "restore_drill_ok"
RULES = ("ultima", "aleatoria")


def drill_schedules(settings) -> list[ScheduleSpec]:
    """One schedule per drilled asset of the matrix: `simulacro-<asset>` starts the drill runbook with
    `activo=<asset>` on the configured day and time of each month its periodicity names."""
    cfg = settings.config.backups.drills
    if settings.assets is None or not cfg.enabled:
        return []
    hour, minute = (int(x) for x in cfg.time.split(":"))
    out = []
    for asset in settings.assets.assets:
        months = asset.drill_months()
        if months:
            out.append(ScheduleSpec(name=f"simulacro-{asset.id}", runbook=cfg.runbook, params={"activo": asset.id},
                                    cron=f"{minute} {hour} {cfg.day} {','.join(map(str, months))} *",
                                    holidays="allow", misfire=8 * 3600.0))
    return out


def pick(jobs: list[JobResult], rule: str, retention_days: int, now: datetime,
         rng: random.Random | None = None) -> JobResult | None:
    """The backup a drill restores: the latest good one (`ultima`) or any good one still within the
    asset's retention (`aleatoria`); None when there is none."""
    if rule not in RULES:
        raise ValueError(f"regla {rule!r}: use {' o '.join(RULES)}")
    good = sorted((j for j in jobs if j.good and j.started), key=lambda j: (j.started, j.job_id))
    if rule == "aleatoria":
        good = [j for j in good if j.started >= now - timedelta(days=retention_days)]
        return (rng or random.Random()).choice(good) if good else None
    return good[-1] if good else None


def rng_for(seed: int | None, run_id: str) -> random.Random:
    """The drill's randomness: seeded by the config (tests) together with the run, else the system's."""
    return random.Random(f"{seed}:{run_id}") if seed is not None else random.Random()


def record(store, row: dict) -> int:
    """Write a drill's evidence (once per run: a resumed report step does not write it twice)."""
    row = dict(row)
    row["checks"] = json.dumps(row.get("checks") or [], ensure_ascii=False)
    for key in ("backup_date", "started_at", "ended_at", "at"):
        if row.get(key) is not None:
            row[key] = utc(row[key])
    with store.transaction() as conn:
        found = conn.execute(select(restore_drills.c.id).where(restore_drills.c.run_id == row["run_id"])).first()
        if found is not None:
            return found[0]
        return conn.execute(insert(restore_drills).values(**row)).inserted_primary_key[0]


def verdict(settings, store, device: str, asset: Asset, ok: bool, message: str, now: datetime) -> list[int]:
    """Record the asset's drill reading; a failed drill opens (a passed one settles) its alert."""
    state = State.OK if ok else State.CRITICAL if asset.criticality == "critico" else State.WARNING
    changes = store.record([CheckResult(check=CHECK, device=device, started=now, duration_s=0.0, readings=[
        Reading(READING, 1.0 if ok else 0.0, state, labels=(("asset", asset.id),),
                message="" if ok else f"simulacro de restauración de {asset.name} fallido: {message}",
                help="1 if the asset's last restore drill passed")])])
    if not changes:
        return []
    return AlertBook(settings, store).process(changes)


def duration_text(seconds: float | None) -> str:
    """A recovery time as the report writes it: '2 h 05 min', '15 min', '3 min 20 s', '12 s'; '—' when unknown."""
    if seconds is None:
        return "—"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {sec:02d} s" if sec else f"{m} min"
    return f"{sec} s"
