"""Cross-checks between the config and its inventory, each a located Problem.

Every credential a device names exists and its transport accepts it for that access (WinRM refuses
Basic over plain HTTP); every group a check group selects has hosts; every `oti_thresholds` override
names a reading some check of the device judges with it.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from agent.core import plugins
from agent.core.yamlfile import line_of
from agent.errors import Problem

if TYPE_CHECKING:
    from agent.core.config import AgentConfig
    from agent.core.inventory import Device, Inventory

HOST_READINGS = ("host_filesystem_used_ratio", "host_memory_available_ratio", "host_load1_per_cpu")
"""The readings the host probes (ssh_host, local_host: checks/hostmetrics.py) judge with a device's
`oti_thresholds`. agent/ cannot import checks/, so they are named here; a test keeps them equal.
Another probe declares its own in a `threshold_readings` class attribute."""
PROFILES = "snmp.profiles"           # Settings.data key where the snmp check leaves the profiles it loaded


def access_problems(config: AgentConfig, inventory: Inventory, file: str) -> list[Problem]:
    """Every credential a device's access names exists, and the access accepts it: an access model may
    refuse a credential with `credential_problems(credential) -> [(key, message)]`."""
    inv = str(inventory.path)
    out = []
    for d in inventory:
        for name in plugins.transports():
            access = getattr(d, name, None)
            cred = getattr(access, "credential", None)
            known = getattr(config.credentials, name, None) or {}
            if cred is None:
                continue
            if cred not in known:
                out.append(Problem(inv, f"{d.name}.oti_{name}.credential",
                                   inventory.line_of(d.name, f"oti_{name}"),
                                   f"credential {cred!r} is not in {file} credentials.{name}"))
                continue
            for key, message in getattr(access, "credential_problems", lambda _c: [])(known[cred]):
                path, line = inventory.where(d.name, f"oti_{name}", key)
                out.append(Problem(inv, path, line, message))
    return out


def selector_problems(config: AgentConfig, inventory: Inventory, file: str,
                      lines: dict[tuple, int]) -> list[Problem]:
    """Every device and every group a check group names is in the inventory (else it monitors nothing)."""
    groups = sorted({g for d in inventory for g in d.groups})
    out = []
    for gi, group in enumerate(config.check_groups):
        missing = [n for n in group.targets.names if n not in inventory.by_name]
        if missing:
            loc = ("check_groups", gi, "targets", "names")
            out.append(Problem(file, ".".join(map(str, loc)), line_of(lines, loc),
                               f"not in the inventory: {', '.join(missing)}"))
        unknown = [g for g in group.targets.groups if g not in groups]
        if unknown:
            loc = ("check_groups", gi, "targets", "groups")
            out.append(Problem(file, ".".join(map(str, loc)), line_of(lines, loc),
                               f"no host of the inventory is in group {', '.join(map(repr, unknown))} "
                               f"(groups with hosts: {', '.join(groups) or 'none'})"))
    return out


def threshold_problems(inventory: Inventory, data: dict) -> list[Problem]:
    """An `oti_thresholds` entry must name a reading that a check of the device judges with it: the
    device's SNMP profile readings, the host readings, or those another check declares. Any other
    name is a typo whose limit would never apply."""
    profiles = data.get(PROFILES, {})
    declared = set(HOST_READINGS)
    for name in plugins.names("checks"):
        declared |= set(getattr(plugins.check(name), "threshold_readings", ()))
    out = []
    for d in inventory:
        if not d.thresholds or (d.snmp is not None and any(n not in profiles for n in d.snmp.profiles)):
            continue                         # an unknown profile is reported by the snmp check already
        known = declared | _profile_readings(d, profiles)
        for reading in d.thresholds:
            if reading not in known:
                path, line = inventory.where(d.name, "oti_thresholds", reading)
                out.append(Problem(str(inventory.path), path, line, _unknown_reading(d, reading, known)))
    return out


def _profile_readings(device: Device, profiles: dict) -> set[str]:
    """What the device's SNMP profiles read: those it names, or any profile's when they are detected."""
    if device.snmp is None:
        return set()
    chosen = [profiles[n] for n in device.snmp.profiles] or list(profiles.values())
    return {m.name for p in chosen for m in p.all_metrics} | {m.rate.name for p in chosen for m in p.all_metrics
                                                              if m.rate}


def _unknown_reading(device: Device, reading: str, known: set[str]) -> str:
    close = difflib.get_close_matches(reading, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    source = f"its SNMP profile {', '.join(device.snmp.profiles) or '(detected)'} nor " if device.snmp else ""
    return (f"no check of {device.name} reads {reading!r}, so this limit would never apply: neither "
            f"{source}the host readings ({', '.join(HOST_READINGS)}) have it{hint}")


def people_problems(people, section, file: str, lines: dict[tuple, int], prefix: tuple) -> list[Problem]:
    """The registry holds together: logins once, roles known, unit heads and deputies are people of it."""
    from agent.core.yamlfile import repeated

    out: list[Problem] = []

    def at(*loc) -> tuple[str, int | None]:
        key = prefix + loc
        return ".".join(map(str, key)), line_of(lines, key)

    persons = people.persons()
    for login in repeated(people.logins_given):
        out.append(Problem(file, *at("persons"), f"login {login!r} is given to more than one person"))
    known = set(people.titles)
    for i, person in enumerate(persons):
        for role in person.roles:
            if role not in known:
                close = difflib.get_close_matches(role, known, 1)
                out.append(Problem(file, *at("persons", i, "roles"), f"{person.login}: unknown role {role!r}"
                                   + (f" (did you mean {close[0]!r}?)" if close else "; add it under people.roles")))
    for i, unit in enumerate(people.units.values()):
        if people.person(unit.head) is None:
            out.append(Problem(file, *at("units", i, "head"), f"unit {unit.id}: head {unit.head!r} is nobody of "
                               "the people registry"))
    for i, deputy in enumerate(people.deputies):
        if people.person(deputy.person) is None:
            out.append(Problem(file, *at("deputies", i, "person"), f"deputy {deputy.person!r} is nobody of the "
                               "people registry"))
        if deputy.role not in known:
            out.append(Problem(file, *at("deputies", i, "role"), f"unknown role {deputy.role!r}"))
        if deputy.unit is not None and deputy.unit not in people.units:
            out.append(Problem(file, *at("deputies", i, "unit"), f"unknown unit {deputy.unit!r}"))
    return out

