"""What a probe produces: readings with a state, gathered into one CheckResult per (check, device)."""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field
from datetime import datetime


class State(enum.IntEnum):
    """The state of a reading; the integer is what Prometheus sees (higher is worse, UNKNOWN last)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def worst(cls, states) -> State:
        """Return the most severe state: CRITICAL > WARNING > UNKNOWN > OK."""
        order = {cls.OK: 0, cls.UNKNOWN: 1, cls.WARNING: 2, cls.CRITICAL: 3}
        return max(states, key=order.__getitem__, default=cls.OK)


@dataclass(frozen=True, slots=True)
class Reading:
    """One named value read from a device, in base units, with its state.

    `name` is the metric name without the `oti_` prefix (e.g. `ups_battery_runtime_seconds`);
    `labels` tell rows of a table apart (an interface, an input line, a mount point).
    `kind` is 'gauge', 'counter' or 'info' (text only).
    """

    name: str
    value: float | None
    state: State = State.OK
    unit: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    kind: str = "gauge"
    help: str = ""
    message: str = ""
    # a stable identity such as `if_oper_status{ifname="Gi1/0/1"}`, made once: the runner, the store and the
    # snapshot all look readings up by it (a thousand switches' readings, every poll). A probe that has it
    # already (one label text per table row) passes it; it must be reading_key(name, labels).
    key: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", reading_key(self.name, self.labels))


def reading_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """Return the identity of a reading: its name and labels, as Prometheus would print them."""
    if not labels:
        return name
    return keyed(name, label_text(labels))


def label_text(labels: tuple[tuple[str, str], ...]) -> str:
    """The inside of a reading key's braces (one per table row, shared by the row's readings)."""
    return ",".join(f'{k}="{v}"' for k, v in labels)


def keyed(name: str, inner: str) -> str:
    """A reading key from its name and label text."""
    if not inner:
        return name
    # interned: the store's states, the runner's and the device's memories keep these keys between polls;
    # one string per reading, not one per poll and holder (a thousand switches: tens of MB)
    return sys.intern(f"{name}{{{inner}}}")


@dataclass(slots=True)
class CheckResult:
    """Everything one run of one check on one device produced."""

    check: str
    device: str
    started: datetime
    duration_s: float
    readings: list[Reading] = field(default_factory=list)
    error: str | None = None        # set when the probe itself failed (timeout, auth, unreachable)
    error_kind: str | None = None   # 'timeout' | 'unavailable' | 'auth' | 'internal'

    @property
    def up(self) -> bool:
        """Return whether the device answered this check."""
        return self.error is None

    @property
    def state(self) -> State:
        """Return the worst state of the result: a failed probe is UNKNOWN, or CRITICAL for auth."""
        if self.error is not None:
            return State.CRITICAL if self.error_kind == "auth" else State.UNKNOWN
        return State.worst(r.state for r in self.readings)
