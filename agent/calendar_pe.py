"""Working time in Peru: office hours and the national public holidays (Ley 27.x and amendments).

Fixed-date holidays, plus Holy Thursday and Good Friday (from Easter). An office adds its own
non-working days (decreed bridge days, the institution's anniversary) in `alerts.office_hours`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache

# (month, day): Año Nuevo, Día del Trabajo, Batalla de Arica y Día de la Bandera, San Pedro y San Pablo,
# Día de la Fuerza Aérea, Fiestas Patrias (2), Batalla de Junín, Santa Rosa de Lima, Combate de Angamos,
# Todos los Santos, Inmaculada Concepción, Batalla de Ayacucho, Navidad
FIXED = [(1, 1), (5, 1), (6, 7), (6, 29), (7, 23), (7, 28), (7, 29), (8, 6), (8, 30), (10, 8), (11, 1), (12, 8),
         (12, 9), (12, 25)]


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


@cache
def holidays(year: int) -> frozenset[date]:
    """Peru's national public holidays of a year."""
    sunday = easter(year)
    return frozenset({date(year, m, d) for m, d in FIXED} | {sunday - timedelta(days=3), sunday - timedelta(days=2)})


def in_office_hours(when: datetime, hours) -> bool:
    """Whether a (zone-aware, local) time falls in the office's working hours."""
    from agent.backups.assets import Periodicity

    day = when.date()
    if day in holidays(day.year) or day.isoformat() in hours.holidays:
        return False
    if day.weekday() not in Periodicity.parse(hours.days).weekdays:
        return False
    start, end = time.fromisoformat(hours.start), time.fromisoformat(hours.end)
    return start <= when.time() < end
