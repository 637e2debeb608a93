"""A hostile SNMP agent: a UDP server on 127.0.0.1 that answers each request in a chosen bad way.

The community of a request picks the way, as snmpsim picks a recording by community: `garbage`,
`truncated`, `wrong-request-id`, `v3-header`, `v1-trap`, an endless walk... (see `MODES`). Requests
are read, and answers built, with this file's own small BER code, not the agent's codec, so that a
codec bug cannot hide on both sides. The server counts requests per mode and keeps every request-id.

It runs in a thread of the test process (no external program). Walk modes serve one table column,
`COLUMN`, whose rows are `COLUMN.<n>`.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from dataclasses import dataclass

COLUMN = "1.3.6.1.4.1.99999.1.1"
GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5
INTEGER, OCTET_STRING, OBJECT_ID, SEQUENCE = 0x02, 0x04, 0x06, 0x30
END_OF_MIB_VIEW = 0x82


# ---------------------------------------------------------------- a small BER reader and writer of its own

def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


def integer(v: int) -> bytes:
    return tlv(INTEGER, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def subid(a: int) -> bytes:
    """One sub-identifier, base 128, high bit on every byte but the last."""
    chunk = [a & 0x7F]
    while a > 0x7F:
        a >>= 7
        chunk.append(0x80 | (a & 0x7F))
    return bytes(reversed(chunk))


def oid_body(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    return b"".join(subid(a) for a in [arcs[0] * 40 + arcs[1], *arcs[2:]])


def _read(buf: bytes, i: int) -> tuple[int, bytes, int]:
    """Return (tag, value bytes, index after the TLV) of the TLV at i."""
    tag, n, i = buf[i], buf[i + 1], i + 2
    if n & 0x80:
        k = n & 0x7F
        n, i = int.from_bytes(buf[i:i + k], "big"), i + k
    return tag, buf[i:i + n], i + n


@dataclass
class Request:
    """What a v2c request asked."""

    raw: bytes
    community: str
    pdu: int
    request_id: int
    max_repetitions: int
    oids: list[bytes]


def parse_request(data: bytes) -> Request:
    _tag, message, _ = _read(data, 0)
    _tag, _version, i = _read(message, 0)
    _tag, community, i = _read(message, i)
    pdu, body, _ = _read(message, i)
    _tag, rid, i = _read(body, 0)
    _tag, _non_repeaters, i = _read(body, i)
    _tag, reps, i = _read(body, i)
    _tag, varbinds, _ = _read(body, i)
    oids, j = [], 0
    while j < len(varbinds):
        _tag, vb, j = _read(varbinds, j)
        oids.append(_read(vb, 0)[1])
    return Request(data, community.decode(), pdu, int.from_bytes(rid, "big", signed=True),
                   int.from_bytes(reps, "big"), oids)


def response(rid: int, varbinds: list[tuple[bytes, int, bytes]], *, version: int = 1, pdu: int = RESPONSE,
             rid_field: bytes | None = None) -> bytes:
    """A Response-PDU (or another PDU tag / version) carrying (oid body, tag, value bytes) varbinds."""
    vbl = b"".join(tlv(SEQUENCE, tlv(OBJECT_ID, o) + tlv(t, v)) for o, t, v in varbinds)
    head = (rid_field if rid_field is not None else integer(rid)) + integer(0) + integer(0)
    return tlv(SEQUENCE, integer(version) + tlv(OCTET_STRING, b"public") + tlv(pdu, head + tlv(SEQUENCE, vbl)))


# ---------------------------------------------------------------- the ways of answering

def _ints(req: Request, **kw) -> bytes:
    """The right answer to a GET (INTEGER 1 everywhere) or a walk (endOfMibView: an empty table)."""
    if req.pdu == GET:
        return response(req.request_id, [(o, INTEGER, b"\x01") for o in req.oids], **kw)
    return response(req.request_id, [(o, END_OF_MIB_VIEW, b"") for o in req.oids], **kw)


def _v3_header(req: Request) -> bytes:
    """An SNMPv3 message (msgGlobalData, USM parameters, a scoped Report-PDU), as a v3-only agent sends."""
    global_data = tlv(SEQUENCE, integer(req.request_id) + integer(65507) + tlv(OCTET_STRING, b"\x00") + integer(3))
    usm = tlv(OCTET_STRING, tlv(SEQUENCE, tlv(OCTET_STRING, b"\x80\x00\x1f\x88\x04hostile") + integer(1)
                                 + integer(42) + tlv(OCTET_STRING, b"") * 3))
    scoped = tlv(SEQUENCE, tlv(OCTET_STRING, b"") + tlv(OCTET_STRING, b"")
                 + tlv(0xA8, integer(req.request_id) + integer(0) + integer(0) + tlv(SEQUENCE, b"")))
    return tlv(SEQUENCE, integer(3) + global_data + usm + scoped)


def _v1_trap(_req: Request) -> bytes:
    """An SNMPv1 Trap-PDU (coldStart) sent at the poller's port instead of an answer."""
    trap = (tlv(OBJECT_ID, oid_body("1.3.6.1.4.1.99999")) + tlv(0x40, bytes((127, 0, 0, 1))) + integer(0)
            + integer(0) + tlv(0x43, b"\x10") + tlv(SEQUENCE, b""))
    return tlv(SEQUENCE, integer(0) + tlv(OCTET_STRING, b"public") + tlv(0xA4, trap))


def _bad_oid(req: Request) -> bytes:
    return response(req.request_id, [(o[:-1] + b"\x81", INTEGER, b"\x01") for o in req.oids])


_GARBAGE = b"\x17\x03\x03\x00\x10this is not snmp at all"

MALFORMED_MODES = {
    "garbage": lambda r: [_GARBAGE],
    "empty": lambda r: [b""],
    "truncated": lambda r: [_ints(r)[: len(_ints(r)) // 2]],
    "bad-length": lambda r: [b"\x30\x85\x00\x00\x00\x00\x10" + _ints(r)[2:]],
    "wrong-request-id": lambda r: [response(r.request_id ^ 0x5A5A5, [(o, INTEGER, b"\x01") for o in r.oids])],
    "v3-header": lambda r: [_v3_header(r)],
    "v1-response": lambda r: [_ints(r, version=0)],
    "v1-trap": lambda r: [_v1_trap(r)],
    "v2-trap": lambda r: [_ints(r, pdu=0xA7)],
    "echo": lambda r: [r.raw],                               # the request itself: a GetRequest-PDU
    "bad-oid": lambda r: [_bad_oid(r)],
    "unknown-tag": lambda r: [response(r.request_id, [(o, 0x47, b"\x01") for o in r.oids])],
    "empty-request-id": lambda r: [_ints(r, rid_field=tlv(INTEGER, b""))],
}


# ---------------------------------------------------------------- walks of the column COLUMN

_COLUMN = oid_body(COLUMN)


def _index(oid: bytes) -> int | None:
    """The row number n of COLUMN.n, 0 for COLUMN itself, None outside the column."""
    if not oid.startswith(_COLUMN):
        return None
    n = 0
    for b in oid[len(_COLUMN):]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            return n
    return n


def _row(n: int) -> bytes:
    return _COLUMN + subid(n)


def _walk(req: Request, successor, value: bytes = b"\x01", tag: int = INTEGER, cap: int = 60) -> list[bytes]:
    """Answer a GETBULK on the column with rows chosen by successor(n), `max_repetitions` of them."""
    if req.pdu == GET:
        return [_ints(req)]
    out = []
    for oid in req.oids:
        n = _index(oid)
        for _ in range(min(req.max_repetitions or 1, cap)):
            if n is None:
                out.append((oid, END_OF_MIB_VIEW, b""))
                continue
            n = successor(n)
            out.append((_row(n), tag, value))
    return [response(req.request_id, out)]


WALK_MODES = {
    # rows forever, always increasing (3 apart: the rows cross from 2-byte to 3-byte sub-identifiers at 16384)
    "endless-walk": lambda r: _walk(r, lambda n: n + 3),
    "backwards-walk": lambda r: _walk(r, lambda n: n + 1 if n < 5 else 3),           # 1, 2, 3, 4, 5, 3...
    "repeating-walk": lambda r: _walk(r, lambda n: n + 1 if n < 3 else 3),           # 1, 2, 3, 3...
    "bulky-walk": lambda r: _walk(r, lambda n: n + 1, b"x" * 1400, OCTET_STRING, 40),      # 1,400-byte rows forever
}

MODES = {"valid": lambda r: [_ints(r)], "silence": lambda r: [],
         "garbage-then-valid": lambda r: [_GARBAGE, _ints(r)],
         "valid-from-another-port": lambda r: [_ints(r)],          # the right answer, from a port not asked
         **MALFORMED_MODES, **WALK_MODES}


class HostileSnmp:
    """The server: `with HostileSnmp() as peer: ... peer.port`, then `peer.requests[mode]`, `peer.request_ids`."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.requests: Counter[str] = Counter()
        self.request_ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-snmp", daemon=True)

    def __enter__(self) -> HostileSnmp:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        self.other.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                req = parse_request(data)
            except IndexError:
                continue                  # not a request this peer can read: nothing to answer
            self.requests[req.community] += 1
            self.request_ids.append(req.request_id)
            out = self.other if req.community == "valid-from-another-port" else self.sock
            for answer in MODES.get(req.community, MODES["silence"])(req):    # an unknown community: silence
                out.sendto(answer, addr)
