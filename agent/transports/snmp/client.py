"""The SNMP transport seam: one interface, two implementations.

`V2cClient` is the lean hot path (one UDP socket per event loop, request-id → future map,
the codec in `codec.py`). `v3.py` implements the same two calls with pysnmp for
SNMPv3. Callers only see `get()` and `walk()`, which return `Varbind` tuples
(oid_body_bytes, tag, value) and raise `ProbeTimeout` / `ProbeUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from dataclasses import dataclass
from typing import Protocol

from agent.errors import MalformedAnswer, ProbeTimeout, ProbeUnavailable
from agent.transports.snmp import codec

_LOGGER = logging.getLogger(__name__)

Varbind = tuple[bytes, int, object]
MAX_VARBINDS_PER_REQUEST = 60    # under snmpsim's default cap of 64 and well inside one UDP datagram


@dataclass(frozen=True)
class Endpoint:
    """Where one SNMP agent listens, and how patient to be with it."""

    device: str
    host: str
    port: int = 161
    timeout: float = 2.0
    retries: int = 1

    def __str__(self) -> str:
        return f"{self.device} ({self.host}:{self.port})"


class SnmpSession(Protocol):
    """What the SNMP check needs from a transport."""

    async def get(self, oids: list[bytes]) -> list[Varbind]: ...

    async def walk(self, roots: list[bytes]) -> dict[bytes, list[Varbind]]: ...


class _Protocol(asyncio.DatagramProtocol):
    """Match response datagrams to waiting requests by request-id; drop anything else."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[tuple, asyncio.Future]] = {}
        self.malformed = 0
        self.varbinds = 0          # varbinds received in matched responses (for the bench and debugging)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            request_id, status, index, varbinds = codec.decode_response(data)
        except MalformedAnswer as err:
            self.malformed += 1
            _LOGGER.debug("dropped malformed SNMP datagram from %s: %s", addr, err)
            return
        entry = self.pending.get(request_id)
        if entry is None or entry[0][:2] != addr[:2] or entry[1].done():
            return          # late, duplicate or spoofed answer
        self.varbinds += len(varbinds)
        entry[1].set_result((status, index, varbinds))

    def error_received(self, exc) -> None:   # ICMP port unreachable etc.: the request will time out
        _LOGGER.debug("SNMP socket error: %s", exc)


class V2cClient:
    """A shared SNMPv2c client: one socket, many requests in flight."""

    def __init__(self) -> None:
        self._proto: _Protocol | None = None
        self._next_id = random.randrange(1, 1 << 30)
        self._addr_cache: dict[tuple[str, int], tuple] = {}

    async def _protocol(self) -> _Protocol:
        if self._proto is None or self._proto.transport is None or self._proto.transport.is_closing():
            loop = asyncio.get_running_loop()
            _, self._proto = await loop.create_datagram_endpoint(_Protocol, family=socket.AF_INET)
        return self._proto

    @property
    def malformed(self) -> int:
        """Return how many malformed datagrams were dropped."""
        return self._proto.malformed if self._proto else 0

    def close(self) -> None:
        """Close the socket."""
        if self._proto and self._proto.transport:
            self._proto.transport.close()
        self._proto = None

    async def _address(self, ep: Endpoint) -> tuple:
        key = (ep.host, ep.port)
        if key not in self._addr_cache:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(ep.host, ep.port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
            except socket.gaierror as err:
                raise ProbeUnavailable(f"snmp {ep}: cannot resolve {ep.host}: {err.strerror}") from None
            self._addr_cache[key] = infos[0][4]
        return self._addr_cache[key]

    async def request(self, ep: Endpoint, community: bytes, pdu: int, oids: list[bytes],
                      max_repetitions: int = 0) -> tuple[int, int, list[Varbind]]:
        """Send one request, retrying on silence; return (error_status, error_index, varbinds)."""
        proto = await self._protocol()
        addr = await self._address(ep)
        loop = asyncio.get_running_loop()
        for _attempt in range(ep.retries + 1):
            self._next_id = (self._next_id % 0x7FFFFFFF) + 1
            rid = self._next_id
            fut = loop.create_future()
            proto.pending[rid] = (addr, fut)
            try:
                proto.transport.sendto(codec.encode_request(pdu, rid, community, oids, 0, max_repetitions), addr)
                return await asyncio.wait_for(fut, ep.timeout)
            except TimeoutError:
                continue
            finally:
                proto.pending.pop(rid, None)
        raise ProbeTimeout(f"snmp {ep}: no answer within {ep.timeout:g}s x{ep.retries + 1}; "
                           "the device is down, unreachable, or the community is wrong")


class BulkWalker:
    """The multi-column GETBULK walk, shared by the v2c and v3 sessions.

    Subclasses provide `_bulk(oids, max_repetitions) -> varbinds` (raising on error status)."""

    ep: Endpoint
    max_repetitions: int = 25

    async def _bulk(self, oids: list[bytes], max_repetitions: int) -> list[Varbind]:
        raise NotImplementedError

    async def walk(self, roots: list[bytes]) -> dict[bytes, list[Varbind]]:
        """Walk several subtrees at once, advancing every unfinished column in each request."""
        found: dict[bytes, list[Varbind]] = {r: [] for r in roots}
        cursor = {r: r for r in roots}
        active = list(roots)
        for _round in range(10_000):
            if not active:
                return found
            reps = max(1, min(self.max_repetitions, MAX_VARBINDS_PER_REQUEST // len(active)))
            varbinds = await self._bulk([cursor[r] for r in active], reps)
            if not varbinds:
                raise ProbeUnavailable(f"snmp {self.ep}: empty GETBULK response")
            active = _advance(active, varbinds, found, cursor)
        raise ProbeUnavailable(f"snmp {self.ep}: walk did not end after 10000 requests")


def _advance(active, varbinds, found, cursor) -> list[bytes]:
    """Distribute a GETBULK answer over the columns; return the columns still unfinished."""
    n = len(active)
    done: set[bytes] = set()
    for k, vb in enumerate(varbinds):
        root = active[k % n]
        if root in done:
            continue
        name = vb[0]
        # leaving the subtree, the end of the MIB, or an agent repeating itself ends the column
        if vb[1] == codec.END_OF_MIB_VIEW or not name.startswith(root) or name == cursor[root]:
            done.add(root)
            continue
        found[root].append(vb)
        cursor[root] = name
    return [r for r in active if r not in done]


class V2cSession(BulkWalker):
    """GET and table walks against one v2c agent, through a shared V2cClient."""

    def __init__(self, client: V2cClient, endpoint: Endpoint, community: bytes, max_repetitions: int = 25):
        self.client, self.ep, self.community = client, endpoint, community
        self.max_repetitions = max_repetitions

    async def get(self, oids: list[bytes]) -> list[Varbind]:
        """GET the given OIDs, in chunks that fit one response."""
        out: list[Varbind] = []
        for i in range(0, len(oids), MAX_VARBINDS_PER_REQUEST):
            chunk = oids[i:i + MAX_VARBINDS_PER_REQUEST]
            status, index, varbinds = await self.client.request(self.ep, self.community, codec.GET, chunk)
            if status:
                raise ProbeUnavailable(f"snmp {self.ep}: GET answered {codec.ERROR_STATUS.get(status, status)}"
                                       f" at varbind {index}")
            out += varbinds
        return out

    async def _bulk(self, oids: list[bytes], max_repetitions: int) -> list[Varbind]:
        status, _, varbinds = await self.client.request(self.ep, self.community, codec.GETBULK, oids,
                                                        max_repetitions)
        if status:
            raise ProbeUnavailable(f"snmp {self.ep}: GETBULK answered {codec.ERROR_STATUS.get(status, status)}")
        return varbinds
