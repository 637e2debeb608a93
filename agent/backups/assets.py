"""The asset matrix (Anexo 01 of S.04.04.01.02_P): what is backed up, when, how and for how long.

Each asset names its owner, the server and the paths or resources, a periodicity as the manual
writes it ("diario", "L M X J V", "semanal", "quincenal", "mensual"), the time, the backup type
(completo, incremental, diferencial), the criticality and the retention ("4 años"). An Anexo 02
category fills the periodicity, criticality and retention it prescribes when the asset leaves
them out. The file is validated like the rest of the config: every problem names its line.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.errors import ConfigError, Problem
from agent.yamlfile import load_with_lines, problems_from

# Anexo 02: categories of information assets, with the periodicity, criticality and retention the
# manual gives them. Blank cells of the manual's table are read as merged with the row above.
CATEGORIES: dict[str, dict[str, str]] = {
    "bases_de_datos": {"title": "Bases de datos de las aplicaciones de producción",
                       "periodicity": "diario", "criticality": "critico", "retention": "4 años"},
    "vuce_eva": {"title": "Plataforma de Ventanilla Única de Certificación Ambiental - EVA",
                 "periodicity": "quincenal", "criticality": "critico", "retention": "4 años"},
    "alfresco_eva": {"title": "Gestor Documental Alfresco - EVA",
                     "periodicity": "quincenal", "criticality": "critico", "retention": "4 años"},
    "file_server": {"title": "File server (archivos de trabajo, documentos, carpetas, vídeos, presentaciones)",
                    "periodicity": "mensual", "criticality": "no_critico", "retention": "4 años"},
    "alfresco_cero_papel": {"title": "Gestor Documental Alfresco - Cero Papel",
                            "periodicity": "mensual", "criticality": "no_critico", "retention": "4 años"},
    "microformas": {"title": "Microformas", "periodicity": "mensual", "criticality": "no_critico",
                    "retention": "4 años"},
    "servidores": {"title": "Servidores de infraestructura y de aplicaciones",
                   "periodicity": "mensual", "criticality": "no_critico", "retention": "4 años"},
}

_DAYS = {"l": 0, "lu": 0, "lunes": 0, "m": 1, "ma": 1, "martes": 1, "x": 2, "mi": 2, "miercoles": 2,
         "j": 3, "ju": 3, "jueves": 3, "v": 4, "vi": 4, "viernes": 4, "s": 5, "sa": 5, "sabado": 5,
         "d": 6, "do": 6, "domingo": 6}
DAY_NAMES = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]
LEVELS = {"completo": "Full", "incremental": "Incremental", "diferencial": "Differential"}
_RETENTION = re.compile(r"^\s*(\d+)\s*(años?|anos?|y|meses|mes|m|d[ií]as?|d)\s*$", re.IGNORECASE)


def _plain(text: str) -> str:
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
        """Read the manual's wording: 'diario', 'L M X J V', 'lunes, jueves', 'semanal', 'quincenal', 'mensual'."""
        words = [w for w in re.split(r"[\s,;/-]+", _plain(str(text))) if w]
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
            return cls(kind="dias", weekdays=tuple(sorted({_DAYS[w] for w in words})))
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


def _weekday(value: str | int) -> int:
    key = _plain(str(value)).strip()
    if key not in _DAYS:
        raise ValueError(f"{value!r} is not a day of the week (lunes … domingo)")
    return _DAYS[key]


def retention_days(text: str | int) -> int:
    """'4 años' -> 1461, '6 meses' -> 183, '30 días' -> 30; a bare number is days."""
    if isinstance(text, int):
        return text
    m = _RETENTION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a retention (examples: '4 años', '6 meses', '30 días')")
    n, unit = int(m.group(1)), _plain(m.group(2))
    if unit.startswith(("ano", "y")):
        return round(n * 365.25)
    if unit.startswith("m"):
        return round(n * 30.44)
    return n


class Asset(BaseModel):
    """One row of the asset matrix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="short name used by the CLI and metrics")
    owner: str = Field(min_length=1, description="Responsable del activo de información")
    name: str = Field(min_length=1, description="Nombre del activo de información")
    type: str = Field(min_length=1, description="Tipo: carpeta, base de datos, virtual, …")
    server: str = Field(min_length=1, description="inventory device name or IP of the server")
    resources: list[str] = Field(min_length=1, description="paths or resource names to back up")
    category: str | None = Field(None, description="Anexo 02 category; fills what the asset leaves out")
    day: str | int | None = Field(None, description="weekday for semanal, day of month for mensual")
    periodicity: Periodicity | None = Field(None, validate_default=True)   # or from the category
    time: clock_time = Field(description="Horario de respaldo, HH:MM")
    level: Literal["completo", "incremental", "diferencial"]
    criticality: Literal["critico", "no_critico"] | None = Field(None, validate_default=True)
    retention_days: int = Field(1461, gt=0, description="Periodo de retención; '4 años' by default")
    backend: str = Field(description="a backend named in the config's backups.backends")
    job: str = Field(description="the backend's own name for this backup (a Bacula job, a command label)")
    full_every: Literal["", "semanal", "mensual"] = Field(
        "", description="for incremental/differential assets: also run a full backup on the first run of the "
                        "week or month")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data):
        if not isinstance(data, dict):
            return data
        data = dict(data)
        cat = data.get("category")
        if cat is not None:
            if cat not in CATEGORIES:
                raise ValueError(f"unknown category {cat!r}; Anexo 02 has: {', '.join(CATEGORIES)}")
            for key in ("periodicity", "criticality", "retention"):
                data.setdefault(key, CATEGORIES[cat][key])
        if "retention" in data:
            data["retention_days"] = data.pop("retention")
        return data

    @field_validator("periodicity", mode="before")
    @classmethod
    def _periodicity(cls, v, info):
        return Periodicity.parse(v, info.data.get("day")) if isinstance(v, str) else v

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, v):
        return retention_days(v)

    @field_validator("periodicity", "criticality")
    @classmethod
    def _required(cls, v, info):
        if v is None:
            raise ValueError(f"{info.field_name} is required (or give a category of Anexo 02)")
        return v

    def slots(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
        """Return the scheduled times in (start, end], in the office's zone."""
        out = []
        d = start.astimezone(tz).date()
        while d <= end.astimezone(tz).date():
            if self.periodicity.runs_on(d):
                at = datetime.combine(d, self.time, tz)
                if start < at <= end:
                    out.append(at)
            d += timedelta(days=1)
        return out

    def level_for(self, slot: datetime, last_full: datetime | None) -> str:
        """Return the backend level (Full, Incremental, Differential) for a run at `slot`."""
        if self.level == "completo" or last_full is None:
            return "Full"
        if self.full_every == "semanal" and (slot - last_full) >= timedelta(days=7):
            return "Full"
        if self.full_every == "mensual" and (slot.year, slot.month) != (last_full.year, last_full.month):
            return "Full"
        return LEVELS[self.level]


class AssetMatrix(BaseModel):
    """The asset matrix file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    assets: list[Asset] = Field(min_length=1)

    @field_validator("assets")
    @classmethod
    def _unique(cls, assets: list[Asset]) -> list[Asset]:
        ids = [a.id for a in assets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"asset ids must be unique; repeated: {', '.join(dupes)}")
        return assets

    def get(self, asset_id: str) -> Asset:
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise ConfigError([Problem("", "assets", None, f"no asset {asset_id!r}; known: "
                                   + ", ".join(a.id for a in self.assets))])


def load(path: Path) -> AssetMatrix:
    """Read and validate the asset matrix; raise ConfigError naming each problem's line."""
    return load_located(path)[0]


def load_located(path: Path) -> tuple[AssetMatrix, dict[tuple, int]]:
    """Like `load`, also returning the line of every YAML path (for cross-checks)."""
    data, lines = load_with_lines(path)
    try:
        return AssetMatrix.model_validate(data if data is not None else {}), lines
    except ValidationError as err:
        raise ConfigError(problems_from(err, str(path), lines)) from None
