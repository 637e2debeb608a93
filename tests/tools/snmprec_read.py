"""Read an snmpsim recording offline through the real snmp check: the profiles detected, every reading.

For profile authors: `python -m tests.tools.snmprec_read FILE.snmprec [--profile NAME ...]`. The same
code the daemon runs (detection, fallbacks, sanity ranges, judgement) over the recording's OIDs,
without starting snmpsim; the tests serve the recordings through snmpsim itself.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
from pathlib import Path

from agent.core.inventory import device_model
from agent.transports.snmp import codec
from agent.transports.snmp.client import BulkWalker, Endpoint
from checks.snmp.check import DeviceMemory, SnmpCheck, SnmpRaw
from checks.snmp.detect import detect
from checks.snmp.profiles import load_profiles

_TAGS = {"2": codec.INTEGER, "4": codec.OCTET_STRING, "5": codec.NULL, "6": codec.OBJECT_ID,
         "64": codec.IPADDRESS, "65": codec.COUNTER32, "66": codec.GAUGE32, "67": codec.TIMETICKS,
         "68": codec.OPAQUE, "70": codec.COUNTER64}


def parse(path: Path) -> list[tuple[bytes, int, object]]:
    """The recording's varbinds in OID order, values as the lean codec decodes them."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.count("|") < 2:
            continue
        oid, kind, value = line.split("|", 2)
        hexed = kind.endswith("x")
        tag = _TAGS.get(kind.rstrip("xe"))
        if tag is None:
            continue
        if tag in (codec.OCTET_STRING, codec.OPAQUE):
            v: object = _hex(value) if hexed else value.encode()
        elif tag == codec.OBJECT_ID:                 # as both sessions give them: dotted text
            v = value.strip(".")
        elif tag == codec.IPADDRESS:
            v = ".".join(str(b) for b in _hex(value)) if hexed else value
        elif tag == codec.NULL:
            v = None
        else:
            v = int(value)
        out.append((codec.encode_oid(oid.strip(".")), tag, v))
    out.sort(key=lambda vb: codec.decode_arcs(vb[0]))
    return out


def _hex(text: str) -> bytes:
    """snmprec hex values; an odd-length one (some walks have them) loses its last nibble, as snmpsim's does."""
    text = text.strip()
    return bytes.fromhex(text[: len(text) // 2 * 2])


class RecordingSession(BulkWalker):
    """GET and GETBULK answered from a parsed recording."""

    def __init__(self, varbinds):
        self.ep = Endpoint("recording", "file")
        self.varbinds = varbinds
        self.keys = [codec.decode_arcs(vb[0]) for vb in varbinds]
        self.by_oid = {vb[0]: vb for vb in varbinds}

    async def get(self, oids):
        return [self.by_oid.get(o, (o, codec.NO_SUCH_OBJECT, None)) for o in oids]

    async def _bulk(self, oids, max_repetitions):
        out = []
        cursors = [bisect.bisect_right(self.keys, codec.decode_arcs(o)) for o in oids]
        for _ in range(max_repetitions):
            for k, o in enumerate(oids):
                i = cursors[k]
                out.append(self.varbinds[i] if i < len(self.varbinds) else (o, codec.END_OF_MIB_VIEW, None))
                cursors[k] = i + 1
        return out, 0


async def read(path: Path, names: list[str], dirs: list[Path] = ()) -> tuple[list, SnmpRaw, list]:
    """Return (matches, raw, readings) for a recording, detecting profiles unless `names` are given."""
    profiles = load_profiles(list(dirs))
    session = RecordingSession(parse(path))
    memory = DeviceMemory()
    if names:
        chosen, matches = [profiles[n] for n in names], []
    else:
        memory.identity, matches, memory.silent = await detect(session, profiles)
        memory.matches = matches
        chosen = [m.profile for m in matches]
    oids = list(dict.fromkeys(o for p in chosen for o in p.get_oids))
    scalars = {vb[0]: vb for vb in await session.get(oids)}
    roots = list(dict.fromkeys(r for p in chosen for r in p.walk_roots))
    columns = await session.walk(roots) if roots else {}
    raw = SnmpRaw(chosen, scalars, columns, memory, 1.0, not names)
    device = device_model().model_validate({"name": path.stem, "address": "127.0.0.1", "oti_kind": "ups",
                                            "oti_snmp": {"credential": "recording"}})
    return matches, raw, SnmpCheck().evaluate(raw, device, {})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", type=Path)
    ap.add_argument("--profile", action="append", default=[])
    ap.add_argument("--profiles-dir", action="append", type=Path, default=[])
    args = ap.parse_args()
    matches, raw, readings = asyncio.run(read(args.recording, args.profile, args.profiles_dir))
    ident = raw.memory.identity
    if ident:
        print(f"sysObjectID {ident.sys_object_id}  sysDescr {ident.sys_descr[:70]!r}")
    for m in matches:
        print(f"profile {m.profile.profile}: {m.reason}")
    for p, why in raw.memory.silent:
        print(f"  (candidate {p.profile} did not answer: {why})")
    with_value = 0
    for r in readings:
        shown = r.text if r.text is not None else r.value
        print(f"{r.state.name:8} {r.key} = {shown} {r.unit} {r.message}")
        with_value += r.value is not None or (r.kind == "info" and bool(r.text))
    print(f"-- {len(readings)} readings, {with_value} with a value")


if __name__ == "__main__":
    main()
