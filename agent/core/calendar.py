"""The office's calendar: Peru's national public holidays, and days of the week as the manual writes them.

Fixed-date holidays, plus Holy Thursday and Good Friday (from Easter); an office adds its own
non-working days (decreed bridge days, the institution's anniversary) in `alerts.office_hours`.
`Periodicity` reads the manual's wording of when something happens ("diario", "L M X J V",
"lunes, jueves", "semanal", "quincenal", "mensual"): the asset matrix and the office hours use it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

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


_DAYS = {"l": 0, "lu": 0, "lunes": 0, "m": 1, "ma": 1, "martes": 1, "x": 2, "mi": 2, "miercoles": 2,
         "j": 3, "ju": 3, "jueves": 3, "v": 4, "vi": 4, "viernes": 4, "s": 5, "sa": 5, "sabado": 5,
         "d": 6, "do": 6, "domingo": 6}
DAY_NAMES = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]


def plain(text: str) -> str:
    """Lower case without accents: 'Miércoles' -> 'miercoles'."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


class Periodicity(BaseModel):
    """When an asset is backed up: every day, on some weekdays, weekly, fortnightly or monthly."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["diario", "dias", "semanal", "quincenal", "mensual"]
    weekdays: tuple[int, ...] = ()     # 0 = lunes; for dias and semanal
    day: int = 1                       # day of month, for mensual

    @classmethod
    def parse(cls, text: str, day: str | int | None = None) -> Periodicity:
        """Read the manual's wording: 'diario', 'L M M J V' (positional, as the manual heads its column), 'L M X J V',
        'lunes, jueves', 'semanal', 'quincenal', 'mensual'. A day list that can be read two ways is an error."""
        words = [w for w in re.split(r"[\s,;/-]+", plain(str(text))) if w]
        if words == ["diario"] or words == ["daily"]:
            return cls(kind="diario")
        if words == ["semanal"]:
            wd = _weekday(day if day is not None else "domingo")
            return cls(kind="semanal", weekdays=(wd,))
        if words == ["quincenal"]:
            return cls(kind="quincenal")
        if words == ["mensual"]:
            dom = int(day) if day is not None else 1
            if not 1 <= dom <= 28:
                raise ValueError(f"mensual: day {day!r} must be 1..28 (every month has it)")
            return cls(kind="mensual", day=dom)
        if words and all(w in _DAYS for w in words):
            return cls(kind="dias", weekdays=_weekdays(text, words))
        raise ValueError(f"{text!r} is not a periodicity: write diario, semanal, quincenal, mensual, or days "
                         "such as 'L M X J V' / 'lunes, jueves'")

    def runs_on(self, d: date) -> bool:
        """Return whether a backup is due on this calendar day."""
        if self.kind == "diario":
            return True
        if self.kind in ("dias", "semanal"):
            return d.weekday() in self.weekdays
        if self.kind == "quincenal":
            return d.day in (1, 16)
        return d.day == self.day

    def max_gap(self) -> timedelta:
        """The longest time between two due days: how old a good backup may be."""
        if self.kind == "diario":
            return timedelta(days=1)
        if self.kind in ("dias", "semanal"):
            days = sorted(self.weekdays)
            gaps = [(b - a) % 7 or 7 for a, b in zip(days, days[1:] + days[:1], strict=True)]
            return timedelta(days=max(gaps))
        if self.kind == "quincenal":
            return timedelta(days=16)
        return timedelta(days=31)

    def describe(self) -> str:
        """The periodicity in the manual's words."""
        if self.kind in ("diario", "quincenal"):
            return self.kind.capitalize()
        if self.kind == "mensual":
            return f"Mensual (día {self.day})"
        names = ", ".join(DAY_NAMES[d] for d in self.weekdays)
        return f"Semanal ({names})" if self.kind == "semanal" else names.capitalize()


# The manual heads the column "Periodicidad (L M M J V S D)": single letters by position, where the first M is
# martes and the second miércoles. X is miércoles too (the usual way to tell them apart).
_LETTER_DAYS = {"l": (0,), "m": (1, 2), "x": (2,), "j": (3,), "v": (4,), "s": (5,), "d": (6,)}


def _weekdays(text: str, words: list[str]) -> tuple[int, ...]:
    """The days a list of day words names. Names ('lunes', 'mi') are unambiguous in any order; a bare 'M'
    is read by its place in the manual's order L M M J V S D, and must have exactly one reading."""
    choices = [_LETTER_DAYS.get(w, (_DAYS[w],)) for w in words]
    if all(len(c) == 1 for c in choices):
        return tuple(sorted({c[0] for c in choices}))
    readings = _in_order(choices, -1)
    if len(readings) == 1:
        return readings[0]
    named = " or ".join(", ".join(DAY_NAMES[d] for d in r) for r in readings[:2])
    why = (f"can be read as {named}" if readings else
           "is not in the manual's order L M M J V S D, so its 'M' cannot be placed")
    raise ValueError(f"{text!r} {why}: write X for miércoles (L M X J V), both M in order (L M M J V), "
                     "or the days' names (lunes, miércoles)")


def _in_order(choices: list[tuple[int, ...]], after: int) -> list[tuple[int, ...]]:
    """Every strictly increasing choice of one day per word (at most a handful: seven days)."""
    if not choices:
        return [()]
    return [(d, *rest) for d in choices[0] if d > after for rest in _in_order(choices[1:], d)]


def _weekday(value: str | int) -> int:
    key = plain(str(value)).strip()
    if key not in _DAYS:
        raise ValueError(f"{value!r} is not a day of the week (lunes … domingo)")
    return _DAYS[key]
