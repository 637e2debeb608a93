"""The policy runtime: a runbook started when a condition on a device's readings has held for a while.

Owner of the table `policy_episodes`. An episode of (policy, device) opens when the condition is first
seen holding and ends once it has not held for `clear_after`; the runbook starts at most once per episode,
when the condition has held without a break for `for`. The row is written before the run starts (its
`started_at` claimed by a conditional update), so a daemon that restarts during an episode finds it open
and started, and does not start the runbook a second time. A device that does not answer (no reading)
neither starts nor ends an episode: it is left as it was.

`render_params(spec, event)` renders a policy's params over the event with the runbook templates' sandboxed
environment (StrictUndefined): the event's values are inserted as data, never evaluated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import delete, insert, select, update

from agent.core.automation import PolicySpec
from agent.core.inventory import Inventory
from agent.core.results import CheckResult, Reading
from agent.core.times import utc
from agent.errors import AgentError, ConfigError, InventoryError
from agent.runbook.template import environment
from agent.store import Store
from agent.store.schema import policy_episodes

_LOGGER = logging.getLogger(__name__)

Event = dict[str, Any]
"""What started a run: device, reading, value, text, since, policy, reason."""


def _now() -> datetime:
    return datetime.now(UTC)


def render_params(spec: PolicySpec, event: Event) -> dict[str, Any]:
    """The policy's params with each text rendered over the event; a ConfigError naming the policy and
    the param when a template fails or reaches for what the sandbox refuses."""
    out: dict[str, Any] = {}
    for key, value in spec.params.items():
        if not isinstance(value, str):
            out[key] = value
            continue
        try:
            out[key] = environment().from_string(value).render(**event)
        except TemplateError as err:
            raise ConfigError(f"policy {spec.name!r}: params.{key}: template refused: {err}") from None
    return out


def reason(spec: PolicySpec, device: str, reading: Reading, since: datetime, now: datetime,
           tz: tzinfo) -> str:
    """Why the runbook starts, in Spanish: 'ups-01: ups_output_source = battery desde 10:02 (5 min)'."""
    local, today = since.astimezone(tz), now.astimezone(tz)
    when = f"{local:%H:%M}" if local.date() == today.date() else f"{local:%Y-%m-%d %H:%M}"
    minutes = int((now.timestamp() - since.timestamp()) // 60)
    return f"{device}: {spec.condition.describe(reading)} desde {when} ({minutes} min)"


@dataclass
class _Episode:
    """An open episode of (policy, device), as the watcher follows it."""

    id: int
    holding_since: datetime | None      # the condition holds, without a break, since then (None: it does not)
    false_since: datetime | None        # the condition does not hold since then (None: it does)
    started: bool


class PolicyWatcher:
    """Feeds every check result to the policies; starts a policy's runbook once per episode.

    `start_run(spec, device, event)` starts the run and returns its id (None: it started nothing); an
    AgentError it raises is recorded in the episode's reason. `observe` returns what happened, as
    (policy, device, outcome) with outcome opened / started / failed / ended."""

    def __init__(self, specs: Iterable[PolicySpec], inventory: Inventory, store: Store,
                 start_run: Callable[[PolicySpec, str, Event], str | None],
                 clock: Callable[[], datetime] = _now, tz: tzinfo | None = None):
        self.specs = list(specs)
        names = [s.name for s in self.specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"policies: names must be unique; repeated: {', '.join(dupes)}")
        self.store, self.start_run, self.clock = store, start_run, clock
        self.tz = tz or store.tz
        self.devices = {s.name: _select(s, inventory) for s in self.specs}
        self._open: dict[tuple[str, str], _Episode] = self._load()
        self._before: dict[tuple[str, str, str], tuple[float, float]] = {}    # a rate's last (value, time)

    def observe(self, results: list[CheckResult], now: datetime | None = None) -> list[tuple[str, str, str]]:
        """Look at a batch of results (any checks, any devices) at `now` (default: the clock)."""
        now = now or self.clock()
        out = []
        for res in results:
            if not res.up:
                continue                    # no answer: neither a start nor an end
            for spec in self.specs:
                if not spec.enabled or res.device not in self.devices[spec.name]:
                    continue
                judged = _judge(spec, res, self._before)
                if judged is None:
                    continue
                outcome = self._step(spec, res.device, judged[0], judged[1], now)
                if outcome:
                    out.append((spec.name, res.device, outcome))
        return out

    def _step(self, spec: PolicySpec, device: str, holds: bool, reading: Reading,
              now: datetime) -> str | None:
        key = (spec.name, device)
        ep = self._open.get(key)
        if not holds:
            if ep is None:
                return None
            ep.holding_since, ep.false_since = None, ep.false_since or now
            if now.timestamp() - ep.false_since.timestamp() < spec.clear_after:
                return None
            self._end(ep, now)
            del self._open[key]
            return "ended"
        opened = ep is None
        if opened:
            ep = self._open[key] = _Episode(self._insert(spec.name, device, now), now, None, False)
        elif ep.holding_since is None:
            ep.holding_since = now          # held again after a break: `for` counts from here
            if not ep.started:
                self._set(ep.id, since=utc(now))
        ep.false_since = None
        if not ep.started and now.timestamp() - ep.holding_since.timestamp() >= spec.for_:
            return self._start(spec, device, ep, reading, now)
        return "opened" if opened else None

    def _start(self, spec: PolicySpec, device: str, ep: _Episode, reading: Reading,
               now: datetime) -> str | None:
        why = reason(spec, device, reading, ep.holding_since, now, self.tz)
        ep.started = True
        if not self._claim(ep.id, now, why):
            return None                     # started already (another watcher, or before a restart)
        event = {"device": device, "reading": reading.key, "value": reading.value, "text": reading.text,
                 "since": ep.holding_since, "policy": spec.name, "reason": why}
        run_id = None
        try:
            run_id = self.start_run(spec, device, event)
            failure = None if run_id else "no se inició ninguna ejecución"
        except AgentError as err:
            failure = str(err)
        if failure:
            why = f"{why}; no se pudo iniciar {spec.runbook}: {failure}"
            _LOGGER.warning("policy %s on %s: runbook %s did not start: %s", spec.name, device, spec.runbook,
                            failure)
        else:
            _LOGGER.info("policy %s on %s: started %s as run %s (%s)", spec.name, device, spec.runbook,
                         run_id, why)
        self._set(ep.id, run_id=run_id, reason=why)
        return "failed" if failure else "started"

    def open_episodes(self) -> dict[tuple[str, str], bool]:
        """(policy, device) of every open episode -> whether its runbook has started."""
        return {k: ep.started for k, ep in self._open.items()}

    # ------------------------------------------------------------------ the table
    def _load(self) -> dict[tuple[str, str], _Episode]:
        """The open episodes of these policies, as a restart finds them."""
        rows = self.store.rows(select(policy_episodes)
                               .where(policy_episodes.c.ended_at.is_(None),
                                      policy_episodes.c.policy.in_(list(self.devices)))
                               .order_by(policy_episodes.c.id))
        found: dict[tuple[str, str], _Episode] = {}
        for r in rows:
            key = (r["policy"], r["device"])
            if key not in found or not found[key].started:
                found[key] = _Episode(r["id"], r["since"], None, r["started_at"] is not None)
        return found

    def _insert(self, policy: str, device: str, now: datetime) -> int:
        with self.store.transaction() as conn:
            return conn.execute(insert(policy_episodes).values(policy=policy, device=device, since=utc(now))
                                ).inserted_primary_key[0]

    def _claim(self, episode: int, now: datetime, why: str) -> bool:
        """Mark the episode started, unless it is already: whether this call did."""
        with self.store.transaction() as conn:
            unstarted = (policy_episodes.c.id == episode) & policy_episodes.c.started_at.is_(None)
            done = conn.execute(update(policy_episodes).where(unstarted)
                                .values(started_at=utc(now), reason=why))
        return done.rowcount == 1

    def _set(self, episode: int, **values: Any) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(policy_episodes).where(policy_episodes.c.id == episode).values(**values))

    def _end(self, ep: _Episode, now: datetime) -> None:
        self._set(ep.id, ended_at=utc(now))

    def prune(self, before: datetime) -> int:
        """Retention: forget episodes that ended before `before`; return how many."""
        with self.store.transaction() as conn:
            gone = conn.execute(delete(policy_episodes).where(policy_episodes.c.ended_at < utc(before)))
        return gone.rowcount


def _select(spec: PolicySpec, inventory: Inventory) -> set[str]:
    sel = spec.devices
    try:
        devices = inventory.select(names=sel.names, kinds=sel.kinds, groups=sel.groups, sites=sel.sites)
    except InventoryError as err:
        raise ConfigError(f"policy {spec.name!r}: devices: {err}") from None
    return {d.name for d in devices}


def _judge(spec: PolicySpec, result: CheckResult, before: dict) -> tuple[bool, Reading] | None:
    """Whether the policy's condition holds on a result, and on which reading (the first that holds, else
    the first judged); None when the result has no reading of it with data. `before` keeps each reading's
    last value and time, for a rate."""
    at = result.started.timestamp()
    judged = []
    for r in result.readings:
        if spec.condition.matches(r):
            key = (spec.name, result.device, r.key)
            judged.append((r, spec.condition.holds(r, before.get(key), at)))
            if r.value is not None:
                before[key] = (float(r.value), at)
    judged = [(r, v) for r, v in judged if v is not None]
    if not judged:
        return None
    reading = next((r for r, v in judged if v), judged[0][0])
    return any(v for _, v in judged), reading
