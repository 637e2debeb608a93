"""The `snmp` check: read a device through its profile, judge every reading.

The device's inventory entry names its profile (`oti_snmp.profile`) and credential
(`oti_snmp.credential`, a key of the config's `credentials.snmp`). v2c goes through the lean
codec; v3 through pysnmp. Scalars come in one GET, tables in a multi-column GETBULK walk.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import ConfigError, ProbeUnavailable, Problem
from agent.transports.snmp import open_session
from agent.transports.snmp.client import Varbind
from checks.base import Check, ProbeContext
from checks.snmp.detect import SYS_OBJECT_ID, Identity, Match, detect, sys_object_id_of
from checks.snmp.profiles import SYSTEM_GROUP, Profile, load_profiles
from checks.snmp.readings import judge_profile, profile_findings


@dataclass
class DeviceMemory:
    """What the daemon remembers of one device between polls: the profiles detected, the ports seen up,
    the counters' last values for rates, the nominal voltage inferred."""

    identity: Identity | None = None
    matches: list[Match] = field(default_factory=list)
    silent: list = field(default_factory=list)
    detected_at: float = float("-inf")
    ports_up: set[str] = field(default_factory=set)
    # counters' values by reading key: this poll's, and the last poll's with its time (one time per poll, not
    # per counter: a thousand switches' counters are a hundred thousand values)
    counters: dict[str, int] = field(default_factory=dict)
    counters_at: float = float("-inf")
    counters_before: dict[str, int] = field(default_factory=dict)
    before_at: float = float("-inf")
    nominal: dict[str, float] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)        # readings that have had a value (their absence matters)


@dataclass
class SnmpRaw:
    """What one poll brought back: scalar varbinds by OID and walked columns, for the profiles that apply."""

    profiles: list[Profile]
    scalars: dict[bytes, Varbind]
    columns: dict[bytes, list[Varbind]]
    memory: DeviceMemory = field(default_factory=DeviceMemory)
    at: float = 0.0                      # monotonic time of the poll (rates)
    detected: bool = False               # the profiles come from detection, not from the inventory

    @property
    def profile(self) -> Profile | None:
        return self.profiles[0] if self.profiles else None


@dataclass
class Discovery:
    """What `discover` found: the identity, the profiles that answer and why, the candidates that did not,
    and the readings with a value each profile gave."""

    identity: Identity
    matches: list[Match]
    silent: list
    counts: dict[str, int]
    readings: list[Reading]


MEMORY = "snmp.memory"
REDETECT_S = 6 * 3600.0        # detection again after this long (a card replaced, a firmware that adds a MIB)
PROFILES = "snmp.profiles"


@cache
def _profiles_in(dirs: tuple) -> dict[str, Profile]:
    return load_profiles(list(dirs))


def profiles_of(ctx: ProbeContext) -> dict[str, Profile]:
    """Return the loaded device profiles (built-in plus the config's profiles_dirs)."""
    return ctx.service(PROFILES, lambda: load_profiles([ctx.config.path(p) for p in ctx.config.profiles_dirs]))


async def profiles_for(device: Device, ctx: ProbeContext) -> list[Profile]:
    """The profiles that apply to a device: those its inventory names, else those detected (remembered)."""
    known = profiles_of(ctx)
    if device.snmp.profiles:
        return [known[n] for n in device.snmp.profiles if n in known]
    memory = ctx.service(MEMORY, dict).setdefault(device.name, DeviceMemory())
    if not memory.matches:
        memory.identity, memory.matches, memory.silent = await detect(open_session(device, ctx), known)
        memory.detected_at = time.monotonic()
    return [m.profile for m in memory.matches]


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
                        f"unknown profile {name!r}; known: {', '.join(sorted(profiles))}")
                for d in inventory if d.snmp for name in d.snmp.profiles if name not in profiles]

    @classmethod
    async def discover(cls, device: Device, ctx: ProbeContext) -> Discovery:
        """Detect the device's profiles afresh, then poll it once with them (`oti-agent discover`)."""
        identity, matches, silent = await detect(open_session(device, ctx), profiles_of(ctx))
        memory = ctx.service(MEMORY, dict).setdefault(device.name, DeviceMemory())
        memory.identity, memory.matches, memory.silent = identity, matches, silent
        memory.detected_at = time.monotonic()
        check = cls()
        readings = check.evaluate(await check.collect(device, ctx), device, {})
        counts = {dict(r.labels)["profile"]: int(r.value or 0) for r in readings if r.name == "snmp_profile_values"}
        return Discovery(identity, matches, silent, counts, readings)

    @staticmethod
    async def profiles_for(device: Device, ctx: ProbeContext) -> list[Profile]:
        """The profiles that apply to a device (named in the inventory, or detected and remembered)."""
        return await profiles_for(device, ctx)

    def applies(self, device: Device) -> bool:
        return device.snmp is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> SnmpRaw:
        known = profiles_of(ctx)
        unknown = [n for n in device.snmp.profiles if n not in known]
        if unknown:
            raise ProbeUnavailable(f"device {device.name}: unknown SNMP profile {unknown[0]!r}; "
                                   f"known: {', '.join(sorted(known))}")
        session = open_session(device, ctx)
        memory = ctx.service(MEMORY, dict).setdefault(device.name, DeviceMemory())
        detected = not device.snmp.profiles
        if detected:
            now = time.monotonic()
            if memory.identity is None or not memory.matches or now - memory.detected_at > REDETECT_S:
                memory.identity, memory.matches, memory.silent = await detect(session, known)
                memory.detected_at = now
            profiles = [m.profile for m in memory.matches]
        else:
            profiles = [known[n] for n in device.snmp.profiles]
        oids = list(dict.fromkeys(o for p in profiles for o in p.get_oids))
        if detected:
            oids.append(SYS_OBJECT_ID)              # a different device at the address: detect again
        scalars = {vb[0]: vb for vb in await session.get(oids)} if oids else {}
        if detected and _sys_object_id(scalars) not in (None, memory.identity.sys_object_id):
            memory.identity = None
        roots = list(dict.fromkeys(r for p in profiles for r in p.walk_roots))
        columns = await session.walk(roots) if roots else {}
        return SnmpRaw(profiles, scalars, columns, memory, time.monotonic(), detected)

    def evaluate(self, raw: SnmpRaw, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        # two profiles naming one reading (a vendor MIB and UPS-MIB): the first with a value gives it
        chosen: dict[str, tuple[Reading, str]] = {}
        memory = raw.memory
        if raw.at > memory.counters_at:           # a new poll: its counters are compared with the last one's
            memory.counters_before, memory.before_at = memory.counters, memory.counters_at
            memory.counters, memory.counters_at = {}, raw.at
        for profile in raw.profiles:
            for r in judge_profile(profile, raw, device, previous):
                had = chosen.get(r.key)
                if had is None or (not _has_value(had[0]) and _has_value(r)):
                    chosen[r.key] = (r, profile.profile)
        counted = []
        for profile in raw.profiles:
            system = {m.name for m in profile.metrics if m.oid_bytes.startswith(SYSTEM_GROUP)}
            counted.append((profile, sum(1 for r, by in chosen.values()
                                         if by == profile.profile and r.name not in system and _has_value(r))))
        return [r for r, _ in chosen.values()] + profile_findings(counted, raw, device)


def _has_value(r: Reading) -> bool:
    return r.value is not None or (r.kind == "info" and bool(r.text))


def _sys_object_id(scalars) -> str | None:
    return sys_object_id_of(scalars.get(SYS_OBJECT_ID))
