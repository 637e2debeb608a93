"""A minimal BER codec for SNMPv2c GET / GETNEXT / GETBULK: the poller's hot path.

pysnmp builds a pyasn1 object per value, which costs ~0.2 CPU-s per 1,000 varbinds; this codec
keeps OIDs as their BER body bytes (a subtree test is a byte-prefix test) and decodes only the
few value types SNMP uses. It handles requests we build and responses agents send; anything it
cannot parse raises `MalformedAnswer`, which the transport counts and drops — never a crash.
SNMPv3, SETs and anything unusual go through pysnmp (see `v3.py`, `write.py`).
"""

from __future__ import annotations

from agent.errors import MalformedAnswer

# BER / SNMP tags
INTEGER, OCTET_STRING, NULL, OBJECT_ID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IPADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5
EXCEPTIONS = (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW)
_UNSIGNED = (COUNTER32, GAUGE32, TIMETICKS, COUNTER64)

ERROR_STATUS = {0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
                6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue",
                11: "noCreation", 12: "inconsistentValue", 13: "resourceUnavailable", 14: "commitFailed",
                15: "undoFailed", 16: "authorizationError", 17: "notWritable", 18: "inconsistentName"}


# ---------------------------------------------------------------- encoding

def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(b),)) + b


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _len(len(body)) + body


def _int(v: int) -> bytes:
    return _tlv(INTEGER, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def encode_oid(dotted: str) -> bytes:
    """Return the BER body of a dotted OID ('1.3.6.1.2.1.1.3.0'); raise ValueError if malformed."""
    try:
        arcs = [int(x) for x in dotted.strip(".").split(".")]
    except ValueError:
        raise ValueError(f"malformed OID {dotted!r}: arcs must be decimal numbers") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise ValueError(f"malformed OID {dotted!r}")
    out = bytearray()
    for a in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        if a < 0x80:
            out.append(a)
            continue
        chunk = []
        while a:
            chunk.append(a & 0x7F)
            a >>= 7
        chunk.reverse()
        out += bytes([c | 0x80 for c in chunk[:-1]] + [chunk[-1]])
    return bytes(out)


def decode_arcs(body: bytes) -> list[int]:
    """Return the sub-identifiers of BER OID bytes, without the first-two-arcs packing."""
    arcs, acc = [], 0
    for b in body:
        acc = (acc << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(acc)
            acc = 0
    if body and body[-1] & 0x80:
        raise MalformedAnswer("truncated OID sub-identifier")
    return arcs


def decode_oid(body: bytes) -> str:
    """Return the dotted form of an OID's BER body."""
    arcs = decode_arcs(body)
    if not arcs:
        return ""
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(map(str, head + arcs[1:]))


def encode_request(pdu: int, request_id: int, community: bytes, oids: list[bytes],
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """Build a v2c GET / GETNEXT / GETBULK message for OIDs given as BER bodies."""
    null = b"\x05\x00"
    varbinds = b"".join(_tlv(SEQUENCE, _tlv(OBJECT_ID, o) + null) for o in oids)
    if pdu == GETBULK:
        head = _int(request_id) + _int(non_repeaters) + _int(max_repetitions)
    else:
        head = _int(request_id) + _int(0) + _int(0)
    return _tlv(SEQUENCE, _int(1) + _tlv(OCTET_STRING, community) + _tlv(pdu, head + _tlv(SEQUENCE, varbinds)))


# ---------------------------------------------------------------- decoding

def _header(buf: bytes, i: int, end: int) -> tuple[int, int, int]:
    """Return (tag, start of value, end of value) of the TLV at i, checked against end."""
    if i + 2 > end:
        raise MalformedAnswer("truncated TLV header")
    tag = buf[i]
    n = buf[i + 1]
    i += 2
    if n >= 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or i + k > end:
            raise MalformedAnswer("bad BER length")
        n = int.from_bytes(buf[i:i + k], "big")
        i += k
    if i + n > end:
        raise MalformedAnswer("BER length past the end of the packet")
    return tag, i, i + n


def _value(tag: int, raw: bytes):
    if tag == INTEGER:
        return int.from_bytes(raw, "big", signed=True)
    if tag in _UNSIGNED:
        return int.from_bytes(raw, "big")
    if tag == OCTET_STRING or tag == OPAQUE:
        return raw
    if tag == OBJECT_ID:
        return decode_oid(raw)
    if tag == IPADDRESS:
        return ".".join(str(b) for b in raw)
    if tag in EXCEPTIONS or tag == NULL:
        return None
    raise MalformedAnswer(f"unexpected value tag 0x{tag:02x}")


def decode_response(buf: bytes) -> tuple[int, int, int, list[tuple[bytes, int, object]]]:
    """Parse a v2c Response-PDU into (request_id, error_status, error_index, varbinds).

    Each varbind is (oid_body_bytes, tag, value): value is int, bytes, dotted str or None
    (for noSuchObject / noSuchInstance / endOfMibView, whose tag tells which).
    """
    try:
        return _decode(buf)
    except MalformedAnswer:
        raise
    except (IndexError, ValueError, TypeError) as err:   # defensive: any slip is a malformed packet
        raise MalformedAnswer(str(err)) from None


_VERSIONS = {0: "SNMPv1", 1: "SNMPv2c", 3: "SNMPv3"}


def _version_problem(tag: int, raw: bytes) -> str:
    """Say which version a message that is not v2c claims (an SNMPv3-only agent, a v1 trap...)."""
    if tag != INTEGER or not raw:
        return "not an SNMP message (no version field)"
    version = int.from_bytes(raw, "big", signed=True)
    return f"an {_VERSIONS.get(version, 'unknown SNMP')} message (version field {version}), expected SNMPv2c"


def _decode(buf: bytes):
    end = len(buf)
    tag, i, end = _header(buf, 0, end)
    if tag != SEQUENCE:
        raise MalformedAnswer("not an SNMP message")
    tag, s, e = _header(buf, i, end)
    if tag != INTEGER or buf[s:e] != b"\x01":
        raise MalformedAnswer(_version_problem(tag, buf[s:e]))
    tag, s, i = _header(buf, e, end)                  # community
    if tag != OCTET_STRING:
        raise MalformedAnswer("bad community")
    tag, i, pdu_end = _header(buf, i, end)
    if tag != RESPONSE:
        raise MalformedAnswer(f"not a Response-PDU (tag 0x{tag:02x})")
    fields = []
    for _ in range(3):
        tag, s, i = _header(buf, i, pdu_end)
        if tag != INTEGER or s == i:
            raise MalformedAnswer("bad PDU header")
        fields.append(int.from_bytes(buf[s:i], "big", signed=True))
    tag, i, vbl_end = _header(buf, i, pdu_end)
    if tag != SEQUENCE:
        raise MalformedAnswer("bad varbind list")
    varbinds = []
    while i < vbl_end:
        tag, s, vb_end = _header(buf, i, vbl_end)
        if tag != SEQUENCE:
            raise MalformedAnswer("bad varbind")
        tag, s, e = _header(buf, s, vb_end)
        if tag != OBJECT_ID or s == e or buf[e - 1] > 0x7F:    # an OID's last byte ends a sub-identifier
            raise MalformedAnswer("bad varbind name (not an OID)")
        name = buf[s:e]
        vtag, vs, ve = _header(buf, e, vb_end)
        varbinds.append((name, vtag, _value(vtag, buf[vs:ve])))
        i = vb_end
    return fields[0], fields[1], fields[2], varbinds
