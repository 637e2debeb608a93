"""Office hours: working days and hours in the office's zone, except public holidays (escalation steps
limited to `horario_oficina` or `fuera_de_horario`)."""

from __future__ import annotations

from datetime import datetime, time

from agent.core.calendar import Periodicity, holidays


def in_office_hours(when: datetime, hours) -> bool:
    """Whether a (zone-aware, local) time falls in the office's working hours."""
    day = when.date()
    if day in holidays(day.year) or day.isoformat() in hours.holidays:
        return False
    if day.weekday() not in Periodicity.parse(hours.days).weekdays:
        return False
    start, end = time.fromisoformat(hours.start), time.fromisoformat(hours.end)
    return start <= when.time() < end
