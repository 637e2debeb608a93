"""Runbooks the daemon starts by itself: `schedules:` (on a calendar) and `policies:` (when a condition on
readings holds). The models of the two config sections and the calendar schedules are written in; the
runtime is agent/runbook/schedules.py (`ScheduleKeeper`) and agent/runbook/policies.py (`PolicyWatcher`).

A schedule says when in exactly one way: `cron` (five fields "m h dom mon dow"; dow 0-6 with Sunday 0,
or names lun..dom / mon..sun), `when` in the manual's wording ("diario 02:00", "L M X J V 07:30",
"lunes, jueves 22:00", "mensual 1 08:00", "mensual último 23:00") or a one-shot `at`. Times are wall
times in agent.timezone; the runtime is given that zone. A policy's params may be templates over the
event that started it ("{{ device }}"), rendered by a sandboxed environment: data, never code.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import cache
from typing import Annotated, Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent.core.calendar import Periodicity, plain
from agent.core.emergency import Emergency, ExpiryRule  # noqa: F401 - re-exported: policies are configured here
from agent.core.inventory import Kind
from agent.core.results import Reading, State


def _seconds(value: Any) -> Any:
    from agent.core.config import parse_duration  # config imports this module: resolved at validation time

    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
Delay = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
EVENT_NAMES = ("device", "reading", "value", "text", "since", "policy", "reason")
"""What a policy's params can name: the event that started it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _who(info: ValidationInfo, what: str) -> str:
    return f"{what} {info.data.get('name', '?')!r}"


# ---------------------------------------------------------------------- the calendar of a schedule
@dataclass(frozen=True)
class Calendar:
    """The days and wall times of day a schedule runs on. When both the days of the month and the weekdays
    are restricted (cron), a day matches either, as cron does."""

    times: tuple[tuple[int, int], ...]          # (hour, minute), sorted
    months: frozenset[int] = frozenset(range(1, 13))
    days: frozenset[int] | None = None          # days of the month; None: any
    weekdays: frozenset[int] | None = None      # 0 = Monday (date.weekday()); None: any
    last_day: bool = False                      # the month's last day (written "mensual último")

    def on(self, d: date) -> bool:
        """Whether the schedule runs on this calendar day (holidays aside)."""
        if d.month not in self.months:
            return False
        by_day = None
        if self.days is not None or self.last_day:
            by_day = d.day in (self.days or ()) or (self.last_day and d.day == monthrange(d.year, d.month)[1])
        by_week = None if self.weekdays is None else d.weekday() in self.weekdays
        if by_day is None or by_week is None:
            return by_week is not False and by_day is not False
        return by_day or by_week


_CRON = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
_MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())} | {
    n: i + 1 for i, n in enumerate("ene feb mar abr may jun jul ago set oct nov dic".split())}
_WEEK = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())} | {
    n: i for i, n in enumerate("dom lun mar mie jue vie sab".split())}


def _cron_value(text: str, index: int) -> int:
    name, low, high = _CRON[index]
    names = _MONTHS if index == 3 else _WEEK if index == 4 else {}
    key = plain(text)
    if key in names:
        return names[key]
    if not text.isdigit():
        raise ValueError(f"{name} field: {text!r} is not a number" + (f" nor a name ({', '.join(names)})"
                                                                       if names else ""))
    if not low <= int(text) <= high:
        raise ValueError(f"{name} field: {text} is out of {low}-{high}")
    return int(text)


def _cron_field(text: str, index: int) -> frozenset[int]:
    """The values of one cron field: '*', '5', '1-5', 'lun-vie', '*/15', '0-30/10', '1,15'."""
    name, low, high = _CRON[index]
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"{name} field: step {step_text!r} must be a whole number above 0")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (_cron_value(v, index) for v in base.split("-", 1))
        else:
            first = _cron_value(base, index)
            last = high if slash else first
        if first > last:
            raise ValueError(f"{name} field: range {base!r} goes backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@cache
def parse_cron(text: str) -> Calendar:
    """A cron expression's calendar; ValueError naming the field that is wrong."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"cron {text!r} needs five fields, minute hour day-of-month month day-of-week "
                         f"(it has {len(fields)})")
    minutes, hours, doms, months, dows = (_cron_field(f, i) for i, f in enumerate(fields))
    days = None if fields[2].startswith("*") else doms
    weekdays = None if fields[4].startswith("*") else frozenset((d - 1) % 7 for d in dows)  # 0 and 7: Sunday
    possible = any(d <= monthrange(2028, m)[1] for d in doms for m in months)
    if weekdays is None and days is not None and not possible:
        raise ValueError(f"cron {text!r} never happens: no month of {sorted(months)} has day {sorted(days)}")
    times = tuple(sorted((h, m) for h in hours for m in minutes))
    return Calendar(times, months=months, days=days, weekdays=weekdays)


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_LAST = ("ultimo", "ultimo dia", "fin", "fin de mes")


@cache
def parse_when(text: str) -> Calendar:
    """The manual's wording: days, then one or more HH:MM ('diario 02:00', 'L M X J V 07:30',
    'lunes, jueves 22:00', 'semanal domingo 03:00', 'quincenal 06:00', 'mensual 1 08:00', 'mensual último
    23:00'); ValueError saying what is wrong."""
    words = text.replace(",", ", ").split()
    first = next((i for i, w in enumerate(words) if _TIME.match(w.rstrip(","))), None)
    if first is None or first == 0 or not all(_TIME.match(w.rstrip(",")) for w in words[first:]):
        raise ValueError(f"when {text!r}: write the days, then the time as HH:MM (examples: 'diario 02:00', "
                         "'L M X J V 07:30', 'lunes, jueves 22:00', 'mensual 1 08:00')")
    found = [_TIME.match(w.rstrip(",")) for w in words[first:]]
    times = tuple(sorted({(int(m[1]), int(m[2])) for m in found}))
    days = plain(" ".join(words[:first])).split()
    if days[0] == "mensual" and " ".join(days[1:]) in _LAST or " ".join(days) == "fin de mes":
        return Calendar(times, last_day=True)
    try:
        if days[0] in ("mensual", "semanal") and len(days) == 2:
            periodicity = Periodicity.parse(days[0], day=days[1])
        else:
            periodicity = Periodicity.parse(" ".join(words[:first]))
    except ValueError as err:
        hint = " ('mensual último' is the last day of each month)" if days[0] == "mensual" else ""
        raise ValueError(f"when {text!r}: {err}{hint}") from None
    if periodicity.kind == "diario":
        return Calendar(times)
    if periodicity.kind in ("dias", "semanal"):
        return Calendar(times, weekdays=frozenset(periodicity.weekdays))
    return Calendar(times, days=frozenset((1, 16) if periodicity.kind == "quincenal" else (periodicity.day,)))


def _local_time(value: Any) -> Any:
    """'YYYY-MM-DD HH:MM' (the office's zone), or an ISO time with its offset."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time: write 'YYYY-MM-DD HH:MM' (agent.timezone) "
                             "or an ISO time with its offset") from None
    return value


class ScheduleSpec(_Model):
    """A runbook started on a calendar: exactly one of `cron`, `when`, `at`."""

    name: str = Field(min_length=1, max_length=128)
    runbook: str = Field(min_length=1)
    params: dict[str, str | int | float | bool] = {}
    cron: str | None = Field(None, description="five fields: minute hour day-of-month month day-of-week")
    when: str | None = Field(None, description="the manual's wording: 'diario 02:00', 'L M X J V 07:30', "
                             "'lunes, jueves 22:00', 'mensual 1 08:00'")
    at: Annotated[datetime | None, BeforeValidator(_local_time)] = Field(
        None, description="once, at this time ('YYYY-MM-DD HH:MM' in agent.timezone); holidays do not apply")
    holidays: Literal["skip", "allow"] = Field("skip", description="skip: no run on a Peru public holiday")
    enabled: bool = True
    overlap: Literal["skip"] = Field("skip", description="never start while this schedule's previous run is "
                                     "still active")
    misfire: Duration = Field(3600.0, description="an occurrence missed (daemon down) still starts this "
                              "late; older ones are recorded as missed")

    @field_validator("cron", "when")
    @classmethod
    def _calendar(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                (parse_cron if info.field_name == "cron" else parse_when)(value)
            except ValueError as err:
                raise ValueError(f"{_who(info, 'schedule')}: {err}") from None
        return value

    @field_validator("params")
    @classmethod
    def _literals(cls, params: dict, info: ValidationInfo) -> dict:
        templated = [k for k, v in params.items() if isinstance(v, str) and ("{{" in v or "{%" in v)]
        if templated:
            raise ValueError(f"{_who(info, 'schedule')}: params {', '.join(templated)} are templates; a "
                             "schedule's params are literal values (templates belong to policies)")
        return params

    @model_validator(mode="after")
    def _one_way(self) -> ScheduleSpec:
        given = [k for k in ("cron", "when", "at") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"schedule {self.name!r}: give exactly one of cron, when, at "
                             f"(given: {', '.join(given) or 'none'})")
        return self

    def calendar(self) -> Calendar | None:
        """The calendar of a cron or `when` schedule (None for a one-shot `at`)."""
        if self.cron is not None:
            return parse_cron(self.cron)
        return parse_when(self.when) if self.when is not None else None

    def at_in(self, tz: tzinfo) -> datetime | None:
        """The one-shot time, aware: a time written without an offset is a wall time in `tz`."""
        if self.at is None:
            return None
        return self.at if self.at.tzinfo is not None else self.at.replace(tzinfo=tz)


# ---------------------------------------------------------------------- policies
class DeviceSelection(_Model):
    """Which inventory devices a policy watches; empty lists match everything."""

    names: list[str] = []
    kinds: list[Kind] = []
    groups: list[str] = []
    sites: list[str] = []


_COMPARISONS = ("equals", "not_equals", "below", "above", "state", "rises_faster_than")


class PolicyCondition(_Model):
    """A reading (its name, or name{labels}) and one comparison. A text reading compares with its text
    (case aside), a numeric one with its value."""

    reading: str = Field(min_length=1)
    equals: float | str | None = None
    not_equals: float | str | None = None
    below: float | None = None
    above: float | None = None
    state: Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"] | None = None
    rises_faster_than: float | None = Field(None, gt=0, description="the value rises more than this per minute "
                                            "between two polls (a room heating up after an AC failed)")

    @field_validator("state", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_comparison(self) -> PolicyCondition:
        given = [k for k in _COMPARISONS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"condition on {self.reading}: give exactly one of {', '.join(_COMPARISONS)} "
                             f"(given: {', '.join(given) or 'none'})")
        return self

    def matches(self, reading: Reading) -> bool:
        """Whether this condition is about that reading."""
        return reading.name == self.reading or reading.key == self.reading

    def holds(self, reading: Reading, before: tuple[float, float] | None = None, at: float | None = None) -> bool | None:
        """Whether the condition holds on the reading; None when the reading has no data to judge. A rate
        needs the value before and when (`before`: (value, epoch seconds); `at`: this reading's epoch)."""
        if self.rises_faster_than is not None:
            number = _number(reading.value)
            if number is None or before is None or at is None or at - before[1] <= 0:
                return None
            return (number - before[0]) / ((at - before[1]) / 60.0) > self.rises_faster_than
        if self.state is not None:
            if reading.state == State.UNKNOWN and self.state != "UNKNOWN":
                return None                 # no data: evidence neither way
            return reading.state == State[self.state]
        if self.below is not None or self.above is not None:
            number = _number(reading.value if reading.value is not None else reading.text)
            if number is None:
                return None
            return number < self.below if self.below is not None else number > self.above
        want = self.equals if self.equals is not None else self.not_equals
        same = _same(reading, want)
        return None if same is None else same == (self.equals is not None)

    def describe(self, reading: Reading) -> str:
        """The reading as the condition sees it, in Spanish: 'ups_output_source = battery'."""
        shown = reading.text if reading.text is not None else "sin dato" if reading.value is None \
            else f"{reading.value:g}"
        if self.state is not None:
            return f"{reading.key} en estado {reading.state.name}"
        extra = (f" (sube más de {self.rises_faster_than:g} por minuto)" if self.rises_faster_than is not None
                 else f" (menor que {self.below:g})" if self.below is not None
                 else f" (mayor que {self.above:g})" if self.above is not None
                 else f" (distinto de {self.not_equals})" if self.not_equals is not None else "")
        return f"{reading.key} = {shown}{extra}"


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _same(reading: Reading, want: float | str) -> bool | None:
    if isinstance(want, str) and _number(want) is None:
        return None if reading.text is None else reading.text.strip().casefold() == want.strip().casefold()
    number = _number(reading.value if reading.value is not None else reading.text)
    return None if number is None else number == float(want)


class PolicySpec(_Model):
    """A runbook started when a condition on readings holds on a device for `for`."""

    name: str = Field(min_length=1, max_length=128)
    runbook: str = Field(min_length=1)
    params: dict[str, str | int | float | bool] = Field({}, description="values may be templates over the "
                                                        "event: " + ", ".join(EVENT_NAMES))
    devices: DeviceSelection = DeviceSelection()
    condition: PolicyCondition
    for_: Delay = Field(0.0, alias="for", description="how long the condition holds before the run starts")
    clear_after: Duration = Field(300.0, description="how long it must not hold before the episode ends")
    enabled: bool = True
    emergency: Emergency = Emergency()

    @field_validator("params")
    @classmethod
    def _templates(cls, params: dict, info: ValidationInfo) -> dict:
        for key, value in params.items():
            if isinstance(value, str):
                why = template_problem(value)
                if why:
                    raise ValueError(f"{_who(info, 'policy')}: params.{key}: {why}")
        return params


_SANDBOX = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)   # parses; renders nothing


def template_problem(text: str) -> str | None:
    """Why a policy's param template is refused (does not parse, names what the event lacks), or None."""
    try:
        names = meta.find_undeclared_variables(_SANDBOX.parse(text))
    except TemplateSyntaxError as err:
        return f"template does not parse: {err.message}"
    unknown = sorted(names - set(EVENT_NAMES))
    if unknown:
        return f"template names {', '.join(unknown)}; it can use {', '.join(EVENT_NAMES)}"
    return None
