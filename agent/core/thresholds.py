"""Thresholds with hysteresis: a value hovering at a limit does not flap.

A reading enters WARNING or CRITICAL as soon as it crosses the limit, but only leaves that state
once it is back past the limit by the hysteresis margin. The decision is a pure function of
the value, the limits and the previous state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.core.results import State


class Thresholds(BaseModel):
    """Warning and critical limits on a numeric reading, in the reading's base unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Literal["above", "below"] = Field(
        "above", description="'above': high values are bad (temperature); 'below': low values are bad (run time)")
    warning: float | None = None
    critical: float | None = None
    hysteresis: float = Field(0.0, ge=0, description="margin a value must recover by before its state clears")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.warning is not None and self.critical is not None:
            bad = self.critical < self.warning if self.direction == "above" else self.critical > self.warning
            if bad:
                raise ValueError(f"critical ({self.critical}) must be beyond warning ({self.warning}) "
                                 f"for direction '{self.direction}'")
        return self


# Nominal voltages in use around the world; a UPS regulates its output to one of them.
STANDARD_VOLTAGES = (100, 110, 115, 120, 127, 200, 208, 220, 230, 240, 277, 380, 400, 415, 480)
INFER_MIN_V = 80.0                # below this an output reads off, not a nominal


def nearest_nominal(volts: float) -> float | None:
    """The standard nominal voltage nearest a measured output; None for an output that is off."""
    return float(min(STANDARD_VOLTAGES, key=lambda v: abs(v - volts))) if volts >= INFER_MIN_V else None


def times(limits: Thresholds, factor: float) -> Thresholds:
    """Limits written as ratios (0.87 of the nominal) placed at a nominal: every level and the margin scaled."""
    def scaled(x: float | None) -> float | None:
        return None if x is None else round(x * factor, 3)

    return Thresholds(direction=limits.direction, hysteresis=limits.hysteresis * factor,
                      warning=scaled(limits.warning), critical=scaled(limits.critical))


def _beyond(value: float, limit: float, direction: str, margin: float) -> bool:
    """Return whether value is past limit; `margin` moves the limit toward the good side."""
    if direction == "above":
        return value >= limit - margin
    return value <= limit + margin


def evaluate(value: float | None, limits: Thresholds | None, previous: State | None = None) -> State:
    """Return the state of `value` given the limits and the state it had last time."""
    if value is None:
        return State.UNKNOWN
    if limits is None:
        return State.OK
    d, h = limits.direction, limits.hysteresis
    # A level the reading is already in is kept until the value recovers past limit +/- hysteresis.
    if limits.critical is not None:
        margin = h if previous == State.CRITICAL else 0.0
        if _beyond(value, limits.critical, d, margin):
            return State.CRITICAL
    if limits.warning is not None:
        margin = h if previous in (State.WARNING, State.CRITICAL) else 0.0
        if _beyond(value, limits.warning, d, margin):
            return State.WARNING
    return State.OK
