"""Which profiles fit a device: its sysObjectID and sysDescr name the candidates, the device's answers confirm them.

A profile is a candidate when the device's sysObjectID starts with one of its `detect.sys_object_id`
prefixes or its sysDescr matches one of its `detect.sys_descr` patterns; a `generic` profile (a
standard MIB) is a candidate everywhere. A candidate applies when the device answers at least one
of its probe OIDs: one GETNEXT per OID, several per request. Vendor profiles come first, then the
generic ones, each group by name: when two applied profiles name the same reading, the first wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.transports.snmp import codec
from agent.transports.snmp.client import MAX_VARBINDS_PER_REQUEST
from checks.snmp.profiles import Profile

SYS_DESCR = codec.encode_oid("1.3.6.1.2.1.1.1.0")
SYS_OBJECT_ID = codec.encode_oid("1.3.6.1.2.1.1.2.0")


@dataclass(frozen=True)
class Identity:
    """What the device says it is."""

    sys_object_id: str | None
    sys_descr: str


@dataclass(frozen=True)
class Match:
    """One profile that applies, and why."""

    profile: Profile
    reason: str


async def identify(session) -> Identity:
    """GET sysObjectID and sysDescr (either may be missing on a strange agent)."""
    got = {vb[0]: vb for vb in await session.get([SYS_OBJECT_ID, SYS_DESCR])}
    oid_vb, descr_vb = got.get(SYS_OBJECT_ID), got.get(SYS_DESCR)
    oid = sys_object_id_of(oid_vb)
    descr = descr_vb[2] if descr_vb and isinstance(descr_vb[2], bytes) else b""
    return Identity(oid, descr.decode("utf-8", "replace").strip("\x00 \r\n"))


def sys_object_id_of(vb) -> str | None:
    """sysObjectID's value as dotted text (both sessions give OIDs as text), None when the agent has none."""
    if vb and vb[1] == codec.OBJECT_ID and isinstance(vb[2], str) and vb[2].strip("."):
        return vb[2].strip(".")
    return None


def candidates(identity: Identity, profiles: dict[str, Profile]) -> list[tuple[Profile, str]]:
    """The profiles worth probing on this device, vendor ones first, with why each was picked."""
    vendor, generic = [], []
    for name in sorted(profiles):
        p = profiles[name]
        d = p.detect
        if d is None:
            continue                  # only ever named in the inventory
        oid = identity.sys_object_id or ""
        prefix = next((x for x in d.sys_object_id if oid == x or oid.startswith(x + ".")), None)
        pattern = next((x for x in d.sys_descr if re.search(x, identity.sys_descr, re.IGNORECASE)), None)
        if prefix:
            vendor.append((p, f"sysObjectID {oid} is under {prefix}"))
        elif pattern:
            vendor.append((p, f"sysDescr matches /{pattern}/"))
        elif d.generic:
            generic.append((p, "a standard MIB"))
    return vendor + generic


async def answered(session, oids: list[bytes]) -> set[bytes]:
    """Which of these OIDs (scalars or columns) the device has something under: one GETNEXT each."""
    roots = {_parent_of_scalar(o): o for o in oids}        # a scalar x.0 is found by GETNEXT on x
    found: set[bytes] = set()
    keys = list(roots)
    for i in range(0, len(keys), MAX_VARBINDS_PER_REQUEST):
        chunk = keys[i:i + MAX_VARBINDS_PER_REQUEST]
        varbinds, _ = await session._bulk(chunk, 1)
        for root, vb in zip(chunk, varbinds, strict=False):
            if vb[1] not in codec.EXCEPTIONS and vb[0].startswith(root) and vb[0] != root:
                found.add(roots[root])
    return found


def _parent_of_scalar(oid: bytes) -> bytes:
    dotted = codec.decode_oid(oid).strip(".")
    return codec.encode_oid(dotted[:-2]) if dotted.endswith(".0") else oid


async def detect(session, profiles: dict[str, Profile]) -> tuple[Identity, list[Match], list[tuple[Profile, str]]]:
    """Return the device's identity, the profiles that apply, and the candidates that did not answer."""
    identity = await identify(session)
    picked = candidates(identity, profiles)
    probes = [o for p, _ in picked for o in p.probe_oids]
    found = await answered(session, list(dict.fromkeys(probes))) if probes else set()
    applied, silent = [], []
    for p, why in picked:
        hits = [o for o in p.probe_oids if o in found]
        if hits:
            applied.append(Match(p, f"{why}; answers {codec.decode_oid(hits[0]).strip('.')}"
                                    + (f" and {len(hits) - 1} more" if len(hits) > 1 else "")))
        else:
            silent.append((p, why))
    dropped = {r for m in applied for r in (m.profile.detect.replaces if m.profile.detect else [])}
    return identity, [m for m in applied if m.profile.profile not in dropped], silent
