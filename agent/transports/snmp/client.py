"""The SNMP transport seam: one interface, two implementations.

`V2cClient` is the lean hot path (one UDP socket per local source address, request-id → future map,
the codec in `codec.py`). `v3.py` implements the same two calls with pysnmp for
SNMPv3. Callers only see `get()` and `walk()`, which return `Varbind` tuples
(oid_body_bytes, tag, value) and raise `ProbeTimeout` / `ProbeUnavailable` / `MalformedAnswer`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
from dataclasses import dataclass
from typing import Protocol

from agent.errors import CheckError, MalformedAnswer, ProbeTimeout, ProbeUnavailable
from agent.transports.snmp import WALK_MAX_BYTES, WALK_MAX_ROWS, codec

_LOGGER = logging.getLogger(__name__)

Varbind = tuple[bytes, int, object]
MAX_VARBINDS_PER_REQUEST = 60    # under snmpsim's default cap of 64 and well inside one UDP datagram
# Request-ids an off-path forger cannot guess from one it saw (a sequence would tell it the next one).
_IDS = random.SystemRandom()


@dataclass(frozen=True)
class Endpoint:
    """Where one SNMP agent listens, how patient to be with it, and how much of a walk to take."""

    device: str
    host: str
    port: int = 161
    timeout: float = 2.0
    retries: int = 1
    max_rows: int = WALK_MAX_ROWS
    max_bytes: int = WALK_MAX_BYTES

    def __str__(self) -> str:
        return f"{self.device} ({self.host}:{self.port})"


class SnmpSession(Protocol):
    """What the SNMP check needs from a transport."""

    async def get(self, oids: list[bytes]) -> list[Varbind]: ...

    async def walk(self, roots: list[bytes]) -> dict[bytes, list[Varbind]]: ...


class _Protocol(asyncio.DatagramProtocol):
    """One socket: match answers to waiting requests by (request-id, address); hand the rest to the client."""

    def __init__(self, client: V2cClient) -> None:
        self.client = client
        self.pending: dict[int, tuple[tuple, asyncio.Future]] = {}
        self.varbinds = 0          # varbinds received in matched responses (for the bench and debugging)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            request_id, status, index, varbinds = codec.decode_response(data)
        except MalformedAnswer as err:
            self.client.unusable(addr, str(err))
            return
        entry = self.pending.get(request_id)
        if entry is None or entry[0][:2] != addr[:2]:
            self.client.unusable(addr, f"an answer to request-id {request_id}, which no request in flight to "
                                       "this address has (late, or forged)")
            return
        if not entry[1].done():    # else a duplicate of an answer already taken
            self.varbinds += len(varbinds)
            entry[1].set_result((status, index, varbinds, len(data)))

    def error_received(self, exc) -> None:   # ICMP port unreachable etc.: the request will time out
        _LOGGER.debug("SNMP socket error: %s", exc)


def _source_address(addr: tuple) -> str:
    """Return the local address the kernel would send from to reach addr (the route's source address).

    A connected UDP socket sends nothing: connect() only looks up the route, and getsockname()
    then tells its source. Binding there instead of 0.0.0.0 means answers are taken only on the
    address the requests left from (127.0.0.1 for a device on loopback), never on every address of
    the host, a public one included. The client keeps one socket per source address (one or two in
    an office), not one connected socket per device: a thousand devices would be a thousand sockets."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(addr)
        return probe.getsockname()[0]


class V2cClient:
    """A shared SNMPv2c client: one socket per local source address, many requests in flight.

    Datagrams from a target that are not a usable answer (do not parse, wrong version or PDU, a
    request-id nobody asked) are counted per target (host, port) in `malformed_from`, for
    `oti_snmp_malformed_total`, and turn a silent timeout into `MalformedAnswer`."""

    def __init__(self) -> None:
        self._sockets: dict[str, _Protocol] = {}                 # source address -> socket bound to it
        self._targets: dict[tuple[str, int], tuple] = {}         # (host, port) -> (address, source address)
        self._names: dict[tuple, tuple[str, int]] = {}           # address -> (host, port), to blame a datagram
        self._open_lock = asyncio.Lock()
        self._counts_lock = threading.Lock()                     # /metrics reads the counts from another thread
        self.malformed_from: dict[tuple[str, int], int] = {}
        self._why: dict[tuple[str, int], str] = {}
        self.stray = 0                                           # unusable datagrams from addresses never asked

    def malformed_counts(self) -> dict[tuple[str, int], int]:
        """The unusable datagrams per target (host, port), for /metrics (read from the scrape's thread)."""
        with self._counts_lock:
            return dict(self.malformed_from)

    @property
    def malformed(self) -> int:
        """Return how many unusable datagrams were dropped, from targets or from anywhere else."""
        with self._counts_lock:
            return sum(self.malformed_from.values()) + self.stray

    @property
    def varbinds(self) -> int:
        """Return how many varbinds the open sockets received in matched answers."""
        return sum(p.varbinds for p in self._sockets.values())

    def local_addresses(self) -> list[tuple]:
        """Return where the open sockets are bound (address, port)."""
        return [p.transport.get_extra_info("sockname") for p in self._sockets.values() if p.transport]

    def close(self) -> None:
        """Close the sockets (the counts stay)."""
        for proto in self._sockets.values():
            if proto.transport:
                proto.transport.close()
        self._sockets.clear()

    def unusable(self, addr, why: str) -> None:
        """Count a datagram that is no usable answer against the target it came from, and say why."""
        key = self._names.get(addr[:2])
        if key is None:
            self.stray += 1
            _LOGGER.debug("dropped an SNMP datagram from %s, which was never asked: %s", addr, why)
            return
        with self._counts_lock:
            self.malformed_from[key] += 1
        self._why[key] = why
        _LOGGER.debug("dropped an SNMP datagram from %s:%s: %s", *key, why)

    async def _route(self, ep: Endpoint) -> tuple[tuple, _Protocol]:
        """Return the target's address and the socket bound to its route's source address."""
        key = (ep.host, ep.port)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = await self._resolve(ep)
            self._names[found[0][:2]] = key
            with self._counts_lock:
                self.malformed_from.setdefault(key, 0)
        proto = self._sockets.get(found[1])
        if proto is None or proto.transport.is_closing():
            async with self._open_lock:          # the first requests of a run all arrive at once: one socket
                proto = self._sockets.get(found[1])
                if proto is None or proto.transport.is_closing():
                    proto = self._sockets[found[1]] = await self._open(ep, found[1])
        return found[0], proto

    async def _open(self, ep: Endpoint, source: str) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_datagram_endpoint(lambda: _Protocol(self), family=socket.AF_INET,
                                                           local_addr=(source, 0))
        except OSError as err:                   # the address left the interface since the route was looked up
            self._targets.pop((ep.host, ep.port), None)
            raise ProbeUnavailable(f"snmp {ep}: cannot open a socket on {source}: {err.strerror}") from None
        return proto

    async def _resolve(self, ep: Endpoint) -> tuple[tuple, str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(ep.host, ep.port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        except socket.gaierror as err:
            raise ProbeUnavailable(f"snmp {ep}: cannot resolve {ep.host}: {err.strerror}") from None
        addr = infos[0][4]
        try:
            return addr, _source_address(addr)
        except OSError as err:
            raise ProbeUnavailable(f"snmp {ep}: no route to {addr[0]}: {err.strerror}") from None

    async def request(self, ep: Endpoint, community: bytes, pdu: int, oids: list[bytes],
                      max_repetitions: int = 0) -> tuple[int, int, list[Varbind], int]:
        """Send one request, retrying on silence; return (error_status, error_index, varbinds, answer bytes)."""
        addr, proto = await self._route(ep)
        key = (ep.host, ep.port)
        seen = self.malformed_from[key]
        rid = _IDS.randrange(1, 0x7FFFFFFF)
        while rid in proto.pending:              # 2^31 ids for a few thousand in flight: hardly ever twice
            rid = _IDS.randrange(1, 0x7FFFFFFF)
        packet = codec.encode_request(pdu, rid, community, oids, 0, max_repetitions)
        loop = asyncio.get_running_loop()
        try:
            # a retry resends the same request-id (as net-snmp does): a late answer to the first try still counts
            for _attempt in range(ep.retries + 1):
                fut = loop.create_future()
                proto.pending[rid] = (addr, fut)
                proto.transport.sendto(packet, addr)
                try:
                    return await asyncio.wait_for(fut, ep.timeout)
                except TimeoutError:
                    continue
        finally:
            proto.pending.pop(rid, None)
        raise self._no_answer(ep, key, self.malformed_from[key] - seen)

    def _no_answer(self, ep: Endpoint, key: tuple[str, int], unusable: int) -> CheckError:
        """The error for a request that got no usable answer: malformed ones, or none at all."""
        tries = f"{ep.timeout:g}s x{ep.retries + 1}"
        if unusable:
            return MalformedAnswer(f"snmp: malformed answer from {ep}: {self._why[key]} ({unusable} unusable "
                                   f"datagram(s), no valid answer within {tries}); the device is up but does not "
                                   "answer SNMPv2c properly: check its SNMP version, port and firmware")
        self._targets.pop(key, None)             # look the route up again next time: it may have changed
        return ProbeTimeout(f"snmp {ep}: no answer within {tries}; "
                            "the device is down, unreachable, or the community is wrong")


class BulkWalker:
    """The multi-column GETBULK walk, shared by the v2c and v3 sessions.

    Subclasses provide `_bulk(oids, max_repetitions) -> (varbinds, answer bytes)` (raising on error
    status). A walk is bounded by rows per column and bytes per walk (the endpoint's `max_rows`,
    `max_bytes`), and a column whose OIDs stop increasing ends the walk at once: an agent that loops
    would otherwise cost thousands of requests and hundreds of MB."""

    ep: Endpoint
    max_repetitions: int = 25

    async def _bulk(self, oids: list[bytes], max_repetitions: int) -> tuple[list[Varbind], int]:
        raise NotImplementedError

    async def walk(self, roots: list[bytes]) -> dict[bytes, list[Varbind]]:
        """Walk several subtrees at once, advancing every unfinished column in each request."""
        found: dict[bytes, list[Varbind]] = {r: [] for r in roots}
        cursor = {r: r for r in roots}
        active = list(roots)
        size = 0
        # every round adds a row to a column or ends one, so the caps below end a walk before this does
        for _round in range(len(roots) * (self.ep.max_rows + 1) + 1):
            if not active:
                return found
            # the first round asks two rows of each column: a one-row table (a UPS's input line, most of a
            # UPS's tables) ends there, without fetching a full repetition count past its end
            reps = max(1, min(2 if _round == 0 else self.max_repetitions, MAX_VARBINDS_PER_REQUEST // len(active)))
            varbinds, nbytes = await self._bulk([cursor[r] for r in active], reps)
            if not varbinds:
                raise ProbeUnavailable(f"snmp {self.ep}: empty GETBULK response")
            active = _advance(self.ep, active, varbinds, found, cursor)
            size += nbytes
            self._check_caps(active, found, size)
        raise ProbeUnavailable(f"snmp {self.ep}: walk did not end")

    def _check_caps(self, active: list[bytes], found: dict[bytes, list[Varbind]], size: int) -> None:
        ep = self.ep
        for root in active:
            if len(found[root]) > ep.max_rows:
                raise ProbeUnavailable(f"snmp {ep}: the walk of {codec.decode_oid(root)} passed {ep.max_rows} rows "
                                       "and goes on; a looping agent, or a table larger than oti_snmp.walk_max_rows")
        if size > ep.max_bytes:
            raise ProbeUnavailable(f"snmp {ep}: the walk passed {ep.max_bytes} bytes and goes on; a looping agent, "
                                   "or tables larger than oti_snmp.walk_max_bytes")


def _advance(ep: Endpoint, active, varbinds, found, cursor) -> list[bytes]:
    """Distribute a GETBULK answer over the columns; return the columns still unfinished."""
    n = len(active)
    done: set[bytes] = set()
    for k, vb in enumerate(varbinds):
        root = active[k % n]
        if root in done:
            continue
        name = vb[0]
        # leaving the subtree or the end of the MIB ends the column
        if vb[1] == codec.END_OF_MIB_VIEW or not name.startswith(root):
            done.add(root)
            continue
        # BER byte order is OID order except where multi-byte sub-identifiers of different lengths
        # meet (16383 -> 16384): a "not after" by bytes gets the exact look, which is rare. An agent
        # that jumps back across such a boundary looks forward by bytes; the row cap stops it.
        if name <= cursor[root] and not codec.decode_arcs(name) > codec.decode_arcs(cursor[root]):
            raise ProbeUnavailable(f"snmp {ep}: the agent answered {codec.decode_oid(name)} after "
                                   f"{codec.decode_oid(cursor[root])} in the walk of {codec.decode_oid(root)}: "
                                   "OIDs not increasing (a broken or looping agent); the walk was stopped")
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
            status, index, varbinds, _ = await self.client.request(self.ep, self.community, codec.GET, chunk)
            if status:
                raise ProbeUnavailable(f"snmp {self.ep}: GET answered {codec.ERROR_STATUS.get(status, status)}"
                                       f" at varbind {index}")
            out += varbinds
        return out

    async def _bulk(self, oids: list[bytes], max_repetitions: int) -> tuple[list[Varbind], int]:
        status, _, varbinds, size = await self.client.request(self.ep, self.community, codec.GETBULK, oids,
                                                              max_repetitions)
        if status:
            raise ProbeUnavailable(f"snmp {self.ep}: GETBULK answered {codec.ERROR_STATUS.get(status, status)}")
        return varbinds, size
