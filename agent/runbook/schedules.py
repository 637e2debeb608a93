"""The schedule runtime: which scheduled runbooks are due, and each occurrence started at most once.

Owner of the table `schedule_runs`: one row per occurrence (schedule, due_at), written BEFORE the run
starts. The primary key decides who starts it: of two keepers (two daemons on one PostgreSQL store, or one
daemon ticking twice) only the one whose insert won calls `start_run`. A row's outcome is `started`,
`skipped_overlap` (the previous run of that schedule is still active), `skipped_holiday`, `missed` (the
daemon was down past `misfire`), or `failed` (`start_run` raised; the message is logged and kept in
`ScheduleKeeper.errors`: the table has no column for it); `starting` only while the start is under way
(a daemon killed then leaves it so, and the occurrence is not started again).

The pure part (`occurrences`, `next_due`, `plan`) takes its times as arguments: no clock is read here.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import and_, delete, func, select, update

from agent.core.automation import ScheduleSpec
from agent.core.calendar import holidays
from agent.core.times import utc
from agent.errors import AgentError, ConfigError
from agent.store import Store
from agent.store.schema import schedule_runs

_LOGGER = logging.getLogger(__name__)
MAX_DAYS = 8 * 366 + 1                  # a 29 February comes at least once in eight years
CATCH_UP = timedelta(days=31)           # occurrences missed longer ago than this are not recorded one by one
MAX_RECORDED = 1000                     # ... nor more than this many in one tick
OUTCOMES = ("started", "skipped_overlap", "skipped_holiday", "missed", "failed")

Outcome = tuple[str, datetime, str]
"""(schedule, due_at, outcome) of one occurrence a tick recorded."""


def wall(day: date, hour: int, minute: int, tz: tzinfo) -> datetime:
    """An aware time from a wall time in `tz`. An ambiguous one (clocks set back) is its first instant; one
    the clocks skip (set forward) is the instant as far past the gap's start as the wall time was."""
    naive = datetime(day.year, day.month, day.day, hour, minute)
    when = naive.replace(tzinfo=tz, fold=0)
    back = when.astimezone(UTC).astimezone(tz)
    return back if back.replace(tzinfo=None) != naive else when


def occurrences(spec: ScheduleSpec, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """Every occurrence of a schedule strictly after `after`, in order, aware in `tz`; holidays included
    (see `on_holiday`). A one-shot `at` yields itself, when it is after."""
    if spec.at is not None:
        at = spec.at_in(tz).astimezone(tz)
        if at.timestamp() > after.timestamp():
            yield at
        return
    cal = spec.calendar()
    first, last = after.astimezone(tz).date(), after.timestamp()
    for offset in range(MAX_DAYS):
        day = first + timedelta(days=offset)
        if not cal.on(day):
            continue
        for hour, minute in cal.times:
            when = wall(day, hour, minute, tz)
            if when.timestamp() > last:
                last = when.timestamp()
                yield when


def on_holiday(spec: ScheduleSpec, when: datetime, tz: tzinfo) -> bool:
    """Whether an occurrence falls on a Peru public holiday that this schedule skips (a one-shot `at` names
    its date on purpose: holidays never apply to it)."""
    if spec.at is not None or spec.holidays == "allow":
        return False
    day = when.astimezone(tz).date()
    return day in holidays(day.year)


def next_due(spec: ScheduleSpec, after: datetime, tz: tzinfo) -> datetime | None:
    """When the schedule next starts after `after` (holidays it skips passed over); None: never again.
    `enabled` is not looked at: this is the calendar."""
    return next((w for w in occurrences(spec, tz, after) if not on_holiday(spec, w, tz)), None)


def plan(spec: ScheduleSpec, tz: tzinfo, last_seen: datetime | None,
         now: datetime) -> list[tuple[datetime, str]]:
    """What to do with the occurrences in (last_seen, now]: 'due' for the one to start (at most one: the
    latest run day within `misfire`), 'skipped_holiday', or 'missed'. Without a last_seen the window opens
    `misfire` before now (a one-shot `at` is looked at however old it is)."""
    misfire = timedelta(seconds=spec.misfire)
    if last_seen is not None:
        after = max(last_seen, now - CATCH_UP)
    elif spec.at is not None:
        after = spec.at_in(tz) - timedelta(microseconds=1)
    else:
        after = now - misfire
    found: deque[datetime] = deque(maxlen=MAX_RECORDED)
    for when in occurrences(spec, tz, after):
        if when.timestamp() > now.timestamp():
            break
        found.append(when)
    days = [w for w in found if not on_holiday(spec, w, tz)]
    pick = days[-1] if days and now.timestamp() - days[-1].timestamp() <= spec.misfire else None
    return [(w, "due" if w == pick else "skipped_holiday" if on_holiday(spec, w, tz) else "missed")
            for w in found]


class ScheduleKeeper:
    """Decides which scheduled runbooks start, and records every occurrence once in `schedule_runs`.

    `start_run(spec, due_at)` starts the run and returns its id (None: it started nothing, recorded as
    failed); an AgentError it raises is recorded as failed. `is_active(run_id)` says whether a run is still
    going (overlap: skip)."""

    def __init__(self, specs: Iterable[ScheduleSpec], tz: tzinfo, store: Store,
                 start_run: Callable[[ScheduleSpec, datetime], str | None], is_active: Callable[[str], bool]):
        self.specs = list(specs)
        names = [s.name for s in self.specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"schedules: names must be unique; repeated: {', '.join(dupes)}")
        self.tz, self.store, self.start_run, self.is_active = tz, store, start_run, is_active
        self.errors: dict[tuple[str, datetime], str] = {}     # why a start failed, by (schedule, due_at)

    def next_due(self, spec: ScheduleSpec, after: datetime) -> datetime | None:
        """When `spec` next starts after `after`, in the office's zone (pure; see `next_due`)."""
        return next_due(spec, after, self.tz)

    def tick(self, now: datetime) -> list[Outcome]:
        """Record and start what is due at `now` (aware); return the occurrences this keeper recorded."""
        if now.tzinfo is None:
            raise ValueError("ScheduleKeeper.tick needs an aware time")
        out: list[Outcome] = []
        for spec in self.specs:
            if spec.enabled:
                out += self._tick_one(spec, now)
        return out

    def _tick_one(self, spec: ScheduleSpec, now: datetime) -> list[Outcome]:
        out = []
        for due, verdict in plan(spec, self.tz, self.last_seen(spec.name), now):
            if verdict == "due":
                outcome = self._start(spec, due)
            else:
                outcome = verdict if self._claim(spec.name, due, verdict) else None
            if outcome is not None:
                out.append((spec.name, due, outcome))
        return out

    def _start(self, spec: ScheduleSpec, due: datetime) -> str | None:
        """Start one occurrence if this keeper's insert wins it; its outcome (None: another keeper's)."""
        if not self._claim(spec.name, due, "starting"):
            return None
        run_id, outcome = None, "failed"
        try:
            previous = self._previous_run(spec.name, due)
            if previous is not None and self.is_active(previous):
                outcome = "skipped_overlap"
                _LOGGER.info("schedule %s: occurrence %s skipped: run %s still active", spec.name,
                             due.isoformat(), previous)
            else:
                run_id = self.start_run(spec, due)
                outcome = "started" if run_id else "failed"
                if not run_id:
                    self._failed(spec, due, "start_run no inició ninguna ejecución")
        except AgentError as err:
            self._failed(spec, due, str(err))
        finally:
            self._finish(spec.name, due, outcome, run_id, self.errors.get((spec.name, due)))
        return outcome

    def _failed(self, spec: ScheduleSpec, due: datetime, message: str) -> None:
        self.errors[(spec.name, due)] = message
        _LOGGER.warning("schedule %s (runbook %s): the occurrence of %s did not start: %s",
                        spec.name, spec.runbook, due.isoformat(), message)

    # ------------------------------------------------------------------ the table
    def last_seen(self, name: str) -> datetime | None:
        """The latest occurrence of a schedule recorded in the store."""
        q = select(func.max(schedule_runs.c.due_at)).where(schedule_runs.c.schedule == name)
        return self.store.scalar(q)

    def _claim(self, name: str, due: datetime, outcome: str) -> bool:
        """Insert the occurrence's row; whether this insert won (the primary key refuses a second one)."""
        with self.store.transaction() as conn:
            stmt = _insert_new(conn.dialect.name).values(schedule=name, due_at=utc(due), outcome=outcome)
            done = conn.execute(stmt.on_conflict_do_nothing(index_elements=["schedule", "due_at"]))
        return done.rowcount == 1

    def _finish(self, name: str, due: datetime, outcome: str, run_id: str | None, message: str | None) -> None:
        key = and_(schedule_runs.c.schedule == name, schedule_runs.c.due_at == utc(due))
        with self.store.transaction() as conn:
            conn.execute(update(schedule_runs).where(key).values(outcome=outcome, run_id=run_id, message=message))

    def _previous_run(self, name: str, due: datetime) -> str | None:
        """The run id of the schedule's latest earlier occurrence that started one."""
        return self.store.scalar(
            select(schedule_runs.c.run_id)
            .where(schedule_runs.c.schedule == name, schedule_runs.c.due_at < utc(due),
                   schedule_runs.c.run_id.is_not(None))
            .order_by(schedule_runs.c.due_at.desc()).limit(1))

    def prune(self, before: datetime) -> int:
        """Retention: forget occurrences older than `before`, except each schedule's latest (the next tick
        counts from it). Return how many rows went."""
        latest = schedule_runs.alias("latest")
        newest = (select(func.max(latest.c.due_at)).where(latest.c.schedule == schedule_runs.c.schedule)
                  .scalar_subquery())
        with self.store.transaction() as conn:
            gone = conn.execute(delete(schedule_runs).where(schedule_runs.c.due_at < utc(before),
                                                            schedule_runs.c.due_at < newest))
        return gone.rowcount


def _insert_new(dialect: str):
    """An INSERT of `schedule_runs` that can be told ON CONFLICT DO NOTHING (SQLite or PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(schedule_runs)
