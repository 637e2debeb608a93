"""SNMP device profiles: YAML files mapping OIDs to named readings with units, states and thresholds.

A new kind of equipment is a new file in `checks/profiles/` (or a folder listed in the config's
`profiles_dirs`); no code changes. See `checks/profiles/ups-rfc1628.yaml` for a commented example.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from agent.core.results import State
from agent.core.thresholds import Thresholds, evaluate
from agent.core.yamlfile import load_with_lines, repeated, validate_file
from agent.errors import ConfigError, Problem
from agent.transports.snmp import codec

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "profiles"
SYSTEM_GROUP = codec.encode_oid("1.3.6.1.2.1.1")      # sysDescr, sysObjectID, sysUpTime...: every agent has them


def _valid_oid(oid: str) -> str:
    codec.encode_oid(oid)   # raises ValueError("malformed OID ...")
    return oid.strip(".")


Oid = Annotated[str, AfterValidator(_valid_oid)]
StateName = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _valid_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"not a regular expression: {pattern!r} ({err})") from None
    return pattern


Regex = Annotated[str, AfterValidator(_valid_regex)]

# What a value in each unit can physically be. A reading outside is UNKNOWN "valor imposible", never OK: a card
# sending tenths against its MIB (2360 V), a missing sensor's -273 °C. A metric may narrow or widen it (`sane`).
SANE_RANGES: dict[str, tuple[float, float]] = {
    "celsius": (-60.0, 150.0),
    "volts": (-1000.0, 1000.0),         # a -48 V DC feed and a -12 V rail are real
    "amperes": (0.0, 10_000.0),
    "hertz": (0.0, 500.0),
    "ratio": (0.0, 5.0),                # a load may exceed its rating for a while; 500 % cannot
    "watts": (0.0, 10_000_000.0),
    "voltamperes": (0.0, 10_000_000.0),
    "seconds": (0.0, 20 * 365 * 86400.0),
    "rpm": (0.0, 100_000.0),
    "dbm": (-60.0, 30.0),
    "pascals": (-100_000.0, 2_000_000.0),
}


class Detect(_Model):
    """How the agent recognises a device this profile fits, when the inventory names no profile.

    A profile is a candidate when the device's sysObjectID starts with one of `sys_object_id` or its
    sysDescr matches one of `sys_descr`; a `generic` profile (a standard MIB: UPS-MIB, IF-MIB,
    ENTITY-SENSOR-MIB, HOST-RESOURCES-MIB) is a candidate on every device. A candidate applies when the
    device answers at least one of `probe` (default: the profile's own OIDs and columns)."""

    sys_object_id: list[Oid] = Field([], description="sysObjectID prefixes of the vendor's devices")
    sys_descr: list[Regex] = Field([], description="regular expressions searched in sysDescr (case-insensitive)")
    generic: bool = Field(False, description="a standard MIB: probed on every device")
    probe: list[Oid] = Field([], description="OIDs (scalars or columns) whose presence confirms the profile")
    replaces: list[str] = Field([], description="profiles this one supersedes when both apply (its readings "
                                                "include theirs)")


class Source(_Model):
    """Another place the same reading may come from, tried in order when the first has no value
    (PowerNet's upsHighPrec* in tenths, then upsAdv* in whole units)."""

    oid: Oid | None = None
    column: Oid | None = None
    scale: float = 1.0

    @cached_property
    def oid_bytes(self) -> bytes:
        return codec.encode_oid(self.oid or self.column)


class RowsDef(_Model):
    """Which rows of a table are real: a per-phase table lists three lines on a single-phase UPS."""

    count: Oid | None = Field(None, description="scalar OID holding the number of rows in use "
                                                "(upsInputNumLines); rows beyond it are not read")
    skip_empty: bool = Field(False, description="rows after the first whose every value is 0 or absent are "
                                                "unused (a single-phase unit's phases 2 and 3)")


class RowScale(_Model):
    """A row that says its own scale: ENTITY-SENSOR-MIB's entPhySensorScale (SensorDataScale: 9 = units, 8 =
    milli, 10 = kilo...) and entPhySensorPrecision (decimal digits); CISCO-ENTITY-SENSOR-MIB's likewise."""

    scale: Oid | None = Field(None, description="column of SensorDataScale values (1 yocto ... 9 units ... 17 yotta)")
    precision: Oid | None = Field(None, description="column of the number of decimal digits in the value")


class RateDef(_Model):
    """A per-second rate from a counter's deltas (wraps and resets handled), optionally as a share of another
    reading of the same row (bytes per second over the port's speed = utilisation)."""

    name: MetricName
    unit: str = "per_second"
    help: str = ""
    of: str | None = Field(None, description="a reading of the same table row to divide by (a ratio)")
    thresholds: Thresholds | None = None


class OnlyWhen(_Model):
    """Judge a table reading only on rows where another column has one of these values; on the other rows the
    reading is kept and OK (`otherwise: ok`: an admin-down port) or not made at all (`otherwise: skip`: a sensor
    table whose rows are temperatures, voltages and powers by a type column)."""

    column: Oid
    equals: list[int]
    otherwise: Literal["ok", "skip"] = "ok"


class Ratio(_Model):
    """A value computed with other columns of the same row: divided by one column or the sum of several
    (hrStorageUsed / hrStorageSize; used / (used + free)), or multiplied by one (size × allocation units)."""

    divide_by: list[Oid] = Field([], description="columns whose sum divides the value")
    multiply_by: Oid | None = None


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
    rows_where: dict[str, Regex] = Field({}, description="label -> regular expression: only rows whose label "
                                                          "matches make this reading (Rx and Tx optics told "
                                                          "apart by their entPhysicalName)")
    skip_values: list[int] = Field([], description="raw values that mean 'no such sensor on this row': no "
                                                   "reading at all (a Juniper midplane's 0 °C)")
    combine: Ratio | None = None
    thresholds_by: dict[str, dict[str, Thresholds]] = Field(
        {}, description="label -> its value -> limits for those rows, over `thresholds` (a CRAC's return air "
                        "runs hotter than its supply air)")
    fallback: list[Source] = Field([], description="where else the value may come from, in order")
    sane: tuple[float, float] | None = Field(None, description="what the value can physically be (default: "
                                                               "the unit's range in SANE_RANGES)")
    relative_to: Literal["nominal_voltage"] | None = Field(
        None, description="thresholds are ratios of the device's nominal voltage (0.87 = 87 %), so one profile "
                          "fits 120 V and 230 V sites")
    row_scale: RowScale | None = None
    rate: RateDef | None = None
    ports: Literal["ever_up"] | None = Field(
        None, description="an interface status judged only on ports seen up since monitoring began, or marked "
                          "important: a port never connected is not an alarm")

    @model_validator(mode="after")
    def _consistent(self) -> MetricDef:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total (Prometheus naming)")
        unknown = set(self.states) - set(self.enum.values())
        if unknown:
            raise ValueError(f"states name labels not in enum: {', '.join(sorted(unknown))}")
        for src in self.fallback:
            if (src.oid is None) == (src.column is None) or (src.oid is None) != (self.oid is None):
                raise ValueError(f"metric {self.name!r}: each fallback gives an 'oid' for a scalar metric, a "
                                 "'column' for a table metric")
        if self.rate is not None and self.type != "counter":
            raise ValueError(f"metric {self.name!r}: a rate is computed from a counter (type: counter)")
        if self.sane is not None and self.sane[0] >= self.sane[1]:
            raise ValueError(f"metric {self.name!r}: sane range {list(self.sane)} is empty")
        return self

    @property
    def sane_range(self) -> tuple[float, float] | None:
        return self.sane if self.sane is not None else SANE_RANGES.get(self.unit)

    @cached_property
    def sources(self) -> list[tuple[bytes, float]]:
        """Every (OID, scale) the value may come from, first choice first."""
        return [(self.oid_bytes, self.scale)] + [(s.oid_bytes, s.scale) for s in self.fallback]

    @cached_property
    def oid_bytes(self) -> bytes:
        """Return the BER body of the scalar OID or the column OID."""
        return codec.encode_oid(self.oid or self.column)

    def state_of(self, raw: int | None, value: float | None, previous: State | None,
                 limits: Thresholds | None) -> tuple[State, str | None]:
        """Return (state, enum label) for a raw value."""
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
    rows: RowsDef = RowsDef()

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


class NominalDef(_Model):
    """Where the device says its nominal voltage is (upsConfigOutputVoltage...), first answer wins; without
    one (and none in the inventory's `oti_snmp.nominal_voltage`) the standard nominal nearest to the
    `infer_from` reading (an output voltage: the UPS regulates it) is used."""

    oid: list[Oid] = []
    scale: float = 1.0
    infer_from: str | None = None


class Profile(_Model):
    """A device profile: scalar metrics fetched with GET, tables walked with GETBULK, and named actions."""

    profile: str
    description: str = ""
    mib: str = Field("", description="the MIB (and its source) the OIDs follow")
    kinds: list[str] = []
    detect: Detect | None = None
    nominal_voltage: NominalDef | None = None
    metrics: list[MetricDef] = []
    tables: list[TableDef] = []
    actions: dict[str, ActionDef] = {}

    @model_validator(mode="after")
    def _scalars_and_unique(self) -> Profile:
        for m in self.metrics:
            if m.oid is None or m.column is not None or m.only_when is not None:
                raise ValueError(f"scalar metric {m.name!r} needs 'oid' (and no 'column' / 'only_when')")
        names = [m.name for m in self.metrics] + [m.name for t in self.tables for m in t.metrics]
        names += [m.rate.name for m in self.all_metrics if m.rate]
        dupes = repeated(names)
        if dupes:
            raise ValueError(f"metric names repeated: {', '.join(dupes)}")
        relative = [m.name for m in self.all_metrics if m.relative_to]
        if relative and self.nominal_voltage is None:
            raise ValueError(f"metrics {', '.join(relative)} are relative to the nominal voltage: declare "
                             "'nominal_voltage' (its OIDs or the reading to infer it from)")
        return self

    @property
    def all_metrics(self) -> list[MetricDef]:
        return list(self.metrics) + [m for t in self.tables for m in t.metrics]

    @cached_property
    def get_oids(self) -> list[bytes]:
        """Every scalar OID one GET fetches: metrics and their fallbacks, row counts, the nominal voltage."""
        oids: list[bytes] = []
        for m in self.metrics:
            oids += [o for o, _ in m.sources]
        oids += [codec.encode_oid(t.rows.count) for t in self.tables if t.rows.count]
        if self.nominal_voltage:
            oids += [codec.encode_oid(o) for o in self.nominal_voltage.oid]
        return list(dict.fromkeys(oids))

    @cached_property
    def probe_oids(self) -> list[bytes]:
        """What detection asks to confirm the profile: its declared probe, else its own OIDs and columns
        (not the system group every agent answers)."""
        if self.detect and self.detect.probe:
            return [codec.encode_oid(o) for o in self.detect.probe]
        own = [o for m in self.all_metrics for o, _ in m.sources]
        return [o for o in dict.fromkeys(own) if not o.startswith(SYSTEM_GROUP)]

    @cached_property
    def walk_roots(self) -> list[bytes]:
        """Return every column to walk: metric columns, label columns and only_when columns."""
        roots: list[bytes] = []
        for t in self.tables:
            cols = [codec.encode_oid(c) for c in t.labels.values()]
            cols += [codec.encode_oid(m.only_when.column) for m in t.metrics if m.only_when]
            cols += [o for m in t.metrics for o, _ in m.sources]
            cols += [codec.encode_oid(c) for m in t.metrics if m.row_scale
                     for c in (m.row_scale.scale, m.row_scale.precision) if c]
            cols += [codec.encode_oid(c) for m in t.metrics if m.combine
                     for c in (*m.combine.divide_by, *([m.combine.multiply_by] if m.combine.multiply_by else []))]
            for b in cols:
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
    for p in profiles.values():
        unknown = [r for r in (p.detect.replaces if p.detect else []) if r not in profiles]
        if unknown:
            problems.append(Problem(str(BUILTIN_DIR), f"{p.profile}.detect.replaces", None,
                                    f"names unknown profiles: {', '.join(unknown)}"))
    if problems:
        raise ConfigError(problems)
    return profiles
