"""The asset matrix (Anexo 01 of S.04.04.01.02_P): what is backed up, when, how and for how long.

Each asset names its owner, the server and the paths or resources, a periodicity as the manual
writes it ("diario", "L M X J V", "semanal", "quincenal", "mensual"), the time, the backup type
(completo, incremental, diferencial), the criticality and the retention ("4 años"). An Anexo 02
category fills the periodicity, criticality and retention it prescribes when the asset leaves
them out. The file is validated like the rest of the config: every problem names its line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.core.calendar import Periodicity, plain
from agent.core.yamlfile import load_with_lines, problems_from, repeated
from agent.errors import ConfigError, Problem

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

DRILL_EVERY = {"mensual": 1, "bimestral": 2, "trimestral": 3, "semestral": 6, "anual": 12}
LEVELS = {"completo": "Full", "incremental": "Incremental", "diferencial": "Differential"}
_RETENTION = re.compile(r"^\s*(\d+)\s*(años?|anos?|y|meses|mes|m|d[ií]as?|d)\s*$", re.IGNORECASE)


def retention_days(text: str | int) -> int:
    """'4 años' -> 1461, '6 meses' -> 183, '30 días' -> 30; a bare number is days."""
    if isinstance(text, int):
        return text
    m = _RETENTION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a retention (examples: '4 años', '6 meses', '30 días')")
    n, unit = int(m.group(1)), plain(m.group(2))
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
    observation: str = Field("", description="Observación: what the office notes about this asset")
    full_every: Literal["", "semanal", "mensual"] = Field(
        "", description="for incremental/differential assets: also run a full backup on the first run of the "
                        "week or month")
    drill: Literal["", "mensual", "bimestral", "trimestral", "semestral", "anual"] | None = Field(
        None, validate_default=True, description="restore drill (simulacro de restauración) calendar; by "
        "default mensual for a critical asset and none ('') otherwise")
    rto: float | None = Field(None, gt=0, description="recovery time the office wants for this asset ('4h', "
                              "'30m'): the objective a drill's measured time is judged against")
    drill_query: str = Field("", description="for a database dump: a query that must return rows in the "
                             "restored copy (default: its tables are counted)")

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

    @field_validator("rto", mode="before")
    @classmethod
    def _rto(cls, v):
        from agent.core.config_daemon import parse_duration

        return parse_duration(v)

    @field_validator("drill")
    @classmethod
    def _drill(cls, v, info):
        if v is not None:
            return v
        return "mensual" if info.data.get("criticality") == "critico" else ""

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

    def drill_months(self) -> tuple[int, ...]:
        """The months a drill is due in (empty: the asset is not drilled)."""
        every = DRILL_EVERY.get(self.drill or "", 0)
        return tuple(range(1, 13, every)) if every else ()

    def level_for(self, slot: datetime, last_full: datetime | None) -> str:
        """Return the backend level (Full, Incremental, Differential) for a run at `slot`."""
        if self.level == "completo" or last_full is None:
            return "Full"
        if self.full_every == "semanal" and (slot - last_full) >= timedelta(days=7):
            return "Full"
        if self.full_every == "mensual" and (slot.year, slot.month) != (last_full.year, last_full.month):
            return "Full"
        return LEVELS[self.level]


def retention_text(days: int) -> str:
    """The retention as the matrix writes it: 1461 -> '4 años', 183 -> '6 meses', 30 -> '30 días'."""
    years, months = round(days / 365.25), round(days / 30.44)
    if years and round(years * 365.25) == days:
        return f"{years} año" + ("s" if years > 1 else "")
    if months and round(months * 30.44) == days:
        return f"{months} mes" + ("es" if months > 1 else "")
    return f"{days} día" + ("s" if days != 1 else "")


class AssetMatrix(BaseModel):
    """The asset matrix file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    assets: list[Asset] = Field(min_length=1)

    @field_validator("assets")
    @classmethod
    def _unique(cls, assets: list[Asset]) -> list[Asset]:
        dupes = repeated(a.id for a in assets)
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
