"""The `snmp` check: read a device through its profile, judge every reading.

The device's inventory entry names its profile (`oti_snmp.profile`) and credential
(`oti_snmp.credential`, a key of the config's `credentials.snmp`). v2c goes through the lean
codec; v3 through pysnmp. Scalars come in one GET, tables in a multi-column GETBULK walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache

from agent.core.inventory import Device
from agent.core.results import Reading, State, reading_key
from agent.errors import ConfigError, ProbeUnavailable, Problem
from agent.transports.snmp import codec, open_session
from agent.transports.snmp.client import Varbind
from checks.base import Check, ProbeContext
from checks.snmp.profiles import MetricDef, Profile, TableDef, load_profiles


@dataclass
class SnmpRaw:
    """What one poll brought back: scalar varbinds by OID and walked columns."""

    profile: Profile
    scalars: dict[bytes, Varbind]
    columns: dict[bytes, list[Varbind]]


PROFILES = "snmp.profiles"


@cache
def _profiles_in(dirs: tuple) -> dict[str, Profile]:
    return load_profiles(list(dirs))


def profiles_of(ctx: ProbeContext) -> dict[str, Profile]:
    """Return the loaded device profiles (built-in plus the config's profiles_dirs)."""
    return ctx.service(PROFILES, lambda: load_profiles([ctx.config.path(p) for p in ctx.config.profiles_dirs]))


class SnmpCheck(Check):
    """Poll a device over SNMP (v2c or v3) and judge it through its profile."""

    description = "SNMP readings from the device's profile (UPS, precision AC, switch...)"

    @staticmethod
    def profiles(config) -> dict[str, Profile]:
        """The device profiles a config sees: the built-in ones and its profiles_dirs' (read once per process)."""
        return _profiles_in(tuple(config.path(p) for p in config.profiles_dirs))

    @classmethod
    def settings_problems(cls, settings) -> list[Problem]:
        """The profiles load (each problem with its file and line) and every device names a known one."""
        config, inventory = settings.config, settings.inventory
        try:
            profiles = cls.profiles(config)
        except ConfigError as err:
            return err.problems
        settings.data[PROFILES] = profiles
        return [Problem(str(inventory.path), f"{d.name}.oti_snmp.profile", inventory.line_of(d.name, "oti_snmp"),
                        f"unknown profile {d.snmp.profile!r}; known: {', '.join(sorted(profiles))}")
                for d in inventory if d.snmp and d.snmp.profile not in profiles]

    def applies(self, device: Device) -> bool:
        return device.snmp is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> SnmpRaw:
        profile = profiles_of(ctx).get(device.snmp.profile)
        if profile is None:
            raise ProbeUnavailable(f"device {device.name}: unknown SNMP profile {device.snmp.profile!r}; "
                                   f"known: {', '.join(sorted(profiles_of(ctx)))}")
        session = open_session(device, ctx)
        scalars = {}
        if profile.metrics:
            scalars = {vb[0]: vb for vb in await session.get([m.oid_bytes for m in profile.metrics])}
        columns = await session.walk(profile.walk_roots) if profile.walk_roots else {}
        return SnmpRaw(profile, scalars, columns)

    def evaluate(self, raw: SnmpRaw, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        readings = []
        for m in raw.profile.metrics:
            vb = raw.scalars.get(m.oid_bytes)
            readings.append(_reading(m, vb[1] if vb else None, vb[2] if vb else None, (), device, previous))
        for table in raw.profile.tables:
            readings += _table_readings(table, raw.columns, device, previous)
        return readings


def _table_readings(table: TableDef, columns, device: Device, previous) -> list[Reading]:
    """Turn walked columns into readings labelled by index and label columns."""
    labels: dict[bytes, list[tuple[str, str]]] = {}
    for label, oid in table.labels.items():
        col = codec.encode_oid(oid)
        names = table.label_values.get(label, {})
        for name, _tag, value in columns.get(col, ()):
            text = _text(value)
            labels.setdefault(name[len(col):], []).append((label, names.get(text, text)))
    gates = {}
    out = []
    for m in table.metrics:
        col = m.oid_bytes
        gate = None
        if m.only_when:
            gcol = codec.encode_oid(m.only_when.column)
            gate = gates.setdefault(gcol, {n[len(gcol):]: v for n, _t, v in columns.get(gcol, ())})
        for name, tag, value in columns.get(col, ()):
            index = name[len(col):]
            row_labels = ((table.index_label, ".".join(map(str, codec.decode_arcs(index)))),
                          *labels.get(index, ()))
            reading = _reading(m, tag, value, row_labels, device, previous)
            if gate is not None and gate.get(index) not in m.only_when.equals:
                reading = replace(reading, state=State.OK)   # e.g. an admin-down port: intentional
            out.append(reading)
    return out


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return "" if value is None else str(value)


_NOT_A_NUMBER = {codec.OCTET_STRING: "texto", codec.OPAQUE: "datos opacos", codec.OBJECT_ID: "un OID",
                 codec.IPADDRESS: "una dirección IP"}


def _reading(m: MetricDef, tag: int | None, value, labels, device: Device, previous) -> Reading:
    """Scale and judge one raw value."""
    key_labels = tuple(labels)
    if tag is None or tag in codec.EXCEPTIONS or value is None:
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help,
                       "sin dato: el equipo no publica este OID")
    if m.type == "info":
        return Reading(m.name, None, State.OK, m.unit, key_labels, _text(value), "info", m.help)
    if not isinstance(value, int):     # text, an OID or an address where the profile expects a number
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help,
                       f"tipo inesperado: el equipo envía {_NOT_A_NUMBER.get(tag, 'otro tipo')} donde se espera "
                       "un número")
    if value in m.invalid:
        return Reading(m.name, None, State.UNKNOWN, m.unit, key_labels, None, m.type, m.help,
                       f"sin dato: el equipo informa {value} (no disponible)")
    scaled = round(value * m.scale, 6) if m.scale != 1.0 else float(value)
    state, label = m.state_of(value, scaled, previous.get(reading_key(m.name, key_labels)), device.thresholds.get(m.name))
    return Reading(m.name, scaled, state, m.unit, key_labels, label, m.type, m.help)
