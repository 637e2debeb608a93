"""A device that stops answering is the first thing to report (DESIGN.md, Conventions).

Each (check, device) carries a reading of its own, `check_answered{check}`: CRITICAL with "sin
respuesta desde HH:MM" once the check has failed `alerts.no_answer_runs` polls in a row or for
`alerts.no_answer_after`, OK again when it answers. It is a reading like any other, so the store
records its state changes and the alerts open, escalate and end from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from agent.core.results import CheckResult, Reading, State

NAME = "check_answered"


@dataclass
class _Streak:
    runs: int
    since: datetime


class Silence:
    """The failure streak of every (check, device), and the reading it makes."""

    def __init__(self, runs: int, after_s: float, timezone: str):
        self.runs, self.after_s, self.tz = runs, after_s, ZoneInfo(timezone)
        self._streaks: dict[tuple[str, str], _Streak] = {}
        self._seen: set[tuple[str, str]] = set()

    def reading(self, key: tuple[str, str], result: CheckResult, now: datetime) -> Reading | None:
        """The `check_answered` reading this result adds: on every failure, on the first answer after one
        (and on the first answer of this process, so a streak cut by a restart also ends)."""
        labels = (("check", result.check),)
        if result.up:
            was = self._streaks.pop(key, None)
            first = key not in self._seen
            self._seen.add(key)
            if was is None and not first:
                return None
            return Reading(NAME, 1.0, State.OK, labels=labels, help=HELP, message="responde de nuevo" if was else "")
        self._seen.add(key)
        streak = self._streaks.setdefault(key, _Streak(0, now))
        streak.runs += 1
        since = streak.since.astimezone(self.tz)
        when = f"{since:%H:%M}" + (f" del {since:%d/%m}" if (now - streak.since).days else "")
        if result.error_kind == "auth":            # it answered, and refused: a person must act, at once
            return Reading(NAME, 0.0, State.CRITICAL, labels=labels, help=HELP,
                           message=f"credencial rechazada desde {when}: {result.error}")
        silent = streak.runs >= self.runs or (now - streak.since).total_seconds() >= self.after_s
        return Reading(NAME, 0.0, State.CRITICAL if silent else State.OK, labels=labels, help=HELP,
                       message=f"sin respuesta desde {when} ({streak.runs} sondeo(s)): {result.error}")


HELP = "1 when the check answered its last poll; 0 while it does not (CRITICAL once silent long enough)"
