"""The lean v2c codec: cross-checked against pysnmp on every recording, and fuzzed."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.demo import simulator
from agent.errors import MalformedAnswer
from agent.transports.snmp import codec
from agent.transports.snmp.client import Endpoint, V2cClient, V2cSession

RECORDINGS = sorted(p.stem for p in simulator.RECORDINGS.glob("*.snmprec"))


async def _walk_lean(port: int, community: str) -> list[tuple[str, int, object]]:
    client = V2cClient()
    try:
        session = V2cSession(client, Endpoint("sim", "127.0.0.1", port, 2.0, 1), community.encode())
        found = await session.walk([codec.encode_oid("1.3.6")])
        return [(codec.decode_oid(n), t, v) for n, t, v in found[codec.encode_oid("1.3.6")]]
    finally:
        client.close()


async def _walk_pysnmp(port: int, community: str) -> list[tuple[str, int, object]]:
    from pysnmp.hlapi.v3arch import asyncio as h

    from agent.transports.snmp.v3 import convert_value

    engine = h.SnmpEngine()
    target = await h.UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=1)
    out = []
    try:
        async for ind, status, _i, vbs in h.bulk_walk_cmd(engine, h.CommunityData(community), target, h.ContextData(),
                                                          0, 25, h.ObjectType(h.ObjectIdentity("1.3.6")),
                                                          lexicographicMode=False, lookupMib=False):
            assert not ind and not status, (ind, status)
            out += [(str(name), *convert_value(value)) for name, value in vbs]
    finally:
        engine.close_dispatcher()
    return out


def _static(rows):
    # values from snmpsim's variation modules (numeric) change between two walks; compare their types only
    return [(oid, tag, None if oid in _DYNAMIC else v) for oid, tag, v in rows]


_DYNAMIC = set()


@pytest.mark.parametrize("community", RECORDINGS)
def test_lean_codec_matches_pysnmp_on_every_recording(snmpsim, community):
    for line in (simulator.RECORDINGS / f"{community}.snmprec").read_text().splitlines():
        if ":numeric" in line.split("|")[1]:
            _DYNAMIC.add(line.split("|")[0])
    lean = asyncio.run(_walk_lean(snmpsim.port, community))
    reference = asyncio.run(_walk_pysnmp(snmpsim.port, community))
    assert len(lean) > 20
    assert _static(lean) == _static(reference)


def test_encode_oid_rejects_malformed():
    for bad in ("", "1", "1.3.six", "3.1.2", "1.40.1", "1..3"):
        with pytest.raises(ValueError, match="malformed OID"):
            codec.encode_oid(bad)
    assert codec.decode_oid(codec.encode_oid("1.3.6.1.4.1.318.1.1.1.2.2.3.0")) == "1.3.6.1.4.1.318.1.1.1.2.2.3.0"
    assert codec.decode_oid(codec.encode_oid("2.999.1")) == "2.999.1"


def _response(varbinds, request_id=42) -> bytes:
    """Build a Response-PDU the way an agent would (the request encoder with tag 0xA2)."""
    body = b"".join(codec._tlv(codec.SEQUENCE, codec._tlv(codec.OBJECT_ID, codec.encode_oid(o)) + codec._tlv(t, v))
                    for o, t, v in varbinds)
    pdu = codec._tlv(codec.RESPONSE, codec._int(request_id) + codec._int(0) + codec._int(0)
                     + codec._tlv(codec.SEQUENCE, body))
    return codec._tlv(codec.SEQUENCE, codec._int(1) + codec._tlv(codec.OCTET_STRING, b"public") + pdu)


VALID = _response([("1.3.6.1.2.1.1.3.0", codec.TIMETICKS, b"\x01\x00"),
                   ("1.3.6.1.2.1.1.5.0", codec.OCTET_STRING, b"ups-a"),
                   ("1.3.6.1.2.1.31.1.1.1.6.1", codec.COUNTER64, b"\x01\x00\x00\x00\x00\x00"),
                   ("1.3.6.1.2.1.33.1.2.7.0", codec.INTEGER, b"\xff"),
                   ("1.3.6.1.2.1.33.1.9.9.0", codec.NO_SUCH_OBJECT, b"")])


def test_decode_known_response():
    rid, status, _index, vbs = codec.decode_response(VALID)
    assert (rid, status) == (42, 0)
    values = [(codec.decode_oid(n), t, v) for n, t, v in vbs]
    assert values[0] == ("1.3.6.1.2.1.1.3.0", codec.TIMETICKS, 256)
    assert values[1][2] == b"ups-a"
    assert values[2][2] == 2**40
    assert values[3][2] == -1
    assert values[4] == ("1.3.6.1.2.1.33.1.9.9.0", codec.NO_SUCH_OBJECT, None)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_never_crash(data):
    try:
        codec.decode_response(data)
    except MalformedAnswer:
        pass


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_fuzz_mutated_responses_never_crash(data):
    packet = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
        pos = data.draw(st.integers(0, len(packet) - 1))
        if op == "flip":
            packet[pos] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            del packet[pos:]
            if not packet:
                break
        else:
            packet[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        rid, status, index, vbs = codec.decode_response(bytes(packet))
    except MalformedAnswer:
        return
    for name, tag, value in vbs:       # whatever parses has the documented shape
        assert isinstance(name, bytes) and isinstance(tag, int)
        assert value is None or isinstance(value, int | bytes | str)


def test_malformed_datagram_is_dropped_not_fatal(snmpsim):
    """A garbage datagram on the client's socket is counted and dropped; polling goes on."""

    async def scenario():
        client = V2cClient()
        try:
            session = V2cSession(client, Endpoint("sim", "127.0.0.1", snmpsim.port, 2.0, 0), b"ups-rfc1628")
            await session.get([codec.encode_oid("1.3.6.1.2.1.1.3.0")])
            [proto] = client._sockets.values()
            proto.datagram_received(b"\x30\x82\xff\xff garbage", ("127.0.0.1", snmpsim.port))
            vbs = await session.get([codec.encode_oid("1.3.6.1.2.1.33.1.2.3.0")])
            return client.malformed, vbs
        finally:
            client.close()

    malformed, vbs = asyncio.run(scenario())
    assert malformed == 1
    assert vbs[0][2] == 47
