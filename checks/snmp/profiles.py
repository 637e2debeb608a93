"""SNMP device profiles: YAML files mapping OIDs to named readings with units, states and thresholds.

A new kind of equipment is a new file in `checks/profiles/` (or a folder listed in the config's
`profiles_dirs`); no code changes. See `checks/profiles/ups-rfc1628.yaml` for a commented example.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from agent.core.results import State
from agent.core.thresholds import Thresholds
from agent.core.yamlfile import load_with_lines, repeated, validate_file
from agent.errors import ConfigError
from agent.transports.snmp import codec

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "profiles"


def _valid_oid(oid: str) -> str:
    codec.encode_oid(oid)   # raises ValueError("malformed OID ...")
    return oid.strip(".")


Oid = Annotated[str, AfterValidator(_valid_oid)]
StateName = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnlyWhen(_Model):
    """Judge a table reading only on rows where another column has one of these values."""

    column: Oid
    equals: list[int]


class MetricDef(_Model):
    """One reading: where it comes from, how to scale it, how to judge it."""

    name: MetricName
    oid: Oid | None = Field(None, description="scalar: the full instance OID (usually ending in .0)")
    column: Oid | None = Field(None, description="table metric: the column OID, walked")
    type: Literal["gauge", "counter", "info"] = "gauge"
    unit: str = ""
    scale: float = Field(1.0, description="multiply the raw value by this to get base units")
    help: str = ""
    enum: dict[int, str] = {}
    states: dict[str, StateName] = Field({}, description="enum label -> state")
    default_state: StateName = "UNKNOWN"
    thresholds: Thresholds | None = None
    invalid: list[int] = Field([], description="raw values that mean 'not available' (e.g. 4294967295)")
    only_when: OnlyWhen | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MetricDef:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total (Prometheus naming)")
        unknown = set(self.states) - set(self.enum.values())
        if unknown:
            raise ValueError(f"states name labels not in enum: {', '.join(sorted(unknown))}")
        return self

    @cached_property
    def oid_bytes(self) -> bytes:
        """Return the BER body of the scalar OID or the column OID."""
        return codec.encode_oid(self.oid or self.column)

    def state_of(self, raw: int | None, value: float | None, previous: State | None,
                 limits: Thresholds | None) -> tuple[State, str | None]:
        """Return (state, enum label) for a raw value."""
        from agent.core.thresholds import evaluate

        if self.enum:
            label = self.enum.get(raw) if raw is not None else None
            if label is None:
                return State.UNKNOWN, None if raw is None else f"unknown({raw})"
            return State[self.states.get(label, self.default_state)], label
        return evaluate(value, limits if limits is not None else self.thresholds, previous), None


class TableDef(_Model):
    """A table: columns walked together, rows told apart by index and label columns."""

    name: MetricName
    index_label: str = "index"
    labels: dict[str, Oid] = Field({}, description="label name -> column OID whose text labels each row")
    label_values: dict[str, dict[str, str]] = Field(
        {}, description="label name -> {raw text: friendly name}, e.g. a Liebert sensor OID -> 'return_air'")
    metrics: list[MetricDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _columns_only(self) -> TableDef:
        for m in self.metrics:
            if m.column is None or m.oid is not None:
                raise ValueError(f"table metric {m.name!r} needs 'column' (and no 'oid')")
        return self


class ActionSet(_Model):
    """One SET of an action: the value may be a template over the action's parameters ("{{ delay_s }}")."""

    oid: Oid
    type: Literal["i", "u", "s", "t"] = Field("i", description="Integer32, Unsigned32, OCTET STRING, TimeTicks")
    value: int | str
    verify: Literal["equals", "countdown", "none"] = Field(
        "equals", description="read back: the value written; a countdown (0 < read <= written: a delay the "
                              "device is counting down); or nothing (a trigger the device never reads back)")


class ActionDef(_Model):
    """A named thing the device can be told to do (UPS `shutdown`), as the SETs of its MIB."""

    description: str = ""
    params: dict[str, int | float | str] = Field({}, description="parameters and their defaults")
    sets: list[ActionSet] = Field(min_length=1)


class Profile(_Model):
    """A device profile: scalar metrics fetched with GET, tables walked with GETBULK, and named actions."""

    profile: str
    description: str = ""
    kinds: list[str] = []
    metrics: list[MetricDef] = []
    tables: list[TableDef] = []
    actions: dict[str, ActionDef] = {}

    @model_validator(mode="after")
    def _scalars_and_unique(self) -> Profile:
        for m in self.metrics:
            if m.oid is None or m.column is not None or m.only_when is not None:
                raise ValueError(f"scalar metric {m.name!r} needs 'oid' (and no 'column' / 'only_when')")
        names = [m.name for m in self.metrics] + [m.name for t in self.tables for m in t.metrics]
        dupes = repeated(names)
        if dupes:
            raise ValueError(f"metric names repeated: {', '.join(dupes)}")
        return self

    @cached_property
    def walk_roots(self) -> list[bytes]:
        """Return every column to walk: metric columns, label columns and only_when columns."""
        roots: list[bytes] = []
        for t in self.tables:
            cols = [m.column for m in t.metrics] + list(t.labels.values())
            cols += [m.only_when.column for m in t.metrics if m.only_when]
            for c in cols:
                b = codec.encode_oid(c)
                if b not in roots:
                    roots.append(b)
        return roots


def load_profiles(dirs: list[Path]) -> dict[str, Profile]:
    """Load every `*.yaml` profile from the built-in folder and `dirs`; later folders override."""
    profiles: dict[str, Profile] = {}
    problems = []
    for folder in [BUILTIN_DIR, *dirs]:
        if not folder.is_dir():
            raise ConfigError(f"profiles folder {folder} does not exist")
        for path in sorted(folder.glob("*.yaml")):
            try:
                data, lines = load_with_lines(path)
                profile = validate_file(Profile, path, data, lines)
            except ConfigError as err:
                problems += err.problems
                continue
            if profile.profile != path.stem:
                raise ConfigError(f"{path}: profile name {profile.profile!r} must match the file name {path.stem!r}")
            profiles[profile.profile] = profile
    if problems:
        raise ConfigError(problems)
    return profiles
