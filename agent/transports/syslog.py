"""Syslog receiving: RFC 5424 and RFC 3164 (BSD) messages over UDP and TCP.

Network equipment sends what it pleases: a Cisco switch puts a sequence number and its own time after
the priority, a firewall sends key=value pairs, some senders omit the header altogether. `parse` never
raises: what it cannot read as a header stays in the message text. Over TCP both framings of RFC 6587
are read: octet counting ("123 <34>1 …") and one message per line. Messages are bounded in size
(`MAX_MESSAGE`) and TCP connections in number, so a sender cannot make the receiver hold unbounded data.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

_LOGGER = logging.getLogger(__name__)

MAX_MESSAGE = 8192              # bytes; longer messages are cut (RFC 5424 asks receivers for 2048 at least)
MAX_CONNECTIONS = 64
IDLE_S = 300.0                  # a TCP sender silent this long is disconnected

_PRI = re.compile(rb"^<(\d{1,3})>")
_RFC5424 = re.compile(r"^1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(.*)$", re.S)
_RFC3164 = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^:\[\s]+)(?:\[\d+\])?: ?(.*)$", re.S)


@dataclass(frozen=True)
class SyslogMessage:
    """One message as received: who sent it, its priority, its own time when it gives a full one, its text."""

    address: str
    facility: int
    severity: int
    text: str
    at: datetime | None = None        # the sender's timestamp when it carries a date with a year (RFC 5424)
    host: str = ""
    app: str = ""


def parse(data: bytes, address: str) -> SyslogMessage:
    """Read one message; whatever is not a recognised header stays in the text."""
    data = data[:MAX_MESSAGE].rstrip(b"\r\n\x00")
    facility, severity = 1, 5                         # RFC 3164 §4.3.3: no PRI means user.notice
    m = _PRI.match(data)
    if m and int(m.group(1)) <= 191:
        pri = int(m.group(1))
        facility, severity = pri >> 3, pri & 7
        data = data[m.end():]
    text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    got = _RFC5424.match(text)
    if got:
        stamp, host, app, _proc, _msgid, _sd, msg = got.groups()
        return SyslogMessage(address, facility, severity, msg.removeprefix("\ufeff"), _timestamp(stamp),
                             "" if host == "-" else host, "" if app == "-" else app)
    got = _RFC3164.match(text)
    if got:
        _stamp, host, app, msg = got.groups()
        return SyslogMessage(address, facility, severity, msg, None, host, app)
    return SyslogMessage(address, facility, severity, text)


def _timestamp(text: str) -> datetime | None:
    if text == "-":
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[[SyslogMessage], None]):
        self.deliver = deliver

    def datagram_received(self, data: bytes, addr) -> None:
        self.deliver(parse(data, addr[0]))


class SyslogServer:
    """UDP and (optionally) TCP listeners handing every parsed message to `deliver` (on the event loop)."""

    def __init__(self, deliver: Callable[[SyslogMessage], None]):
        self.deliver = deliver
        self._udp = None
        self._tcp: asyncio.AbstractServer | None = None
        self._connections = 0
        self.refused = 0                  # TCP connections refused for being over MAX_CONNECTIONS

    async def start(self, host: str, port: int, tcp: bool) -> tuple[str, int]:
        """Bind UDP (and TCP on the same port); return the UDP address (port 0 chooses one)."""
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self.deliver), local_addr=(host, port))
        address = self._udp.get_extra_info("sockname")[:2]
        if tcp:
            self._tcp = await asyncio.start_server(self._serve, host, address[1], limit=MAX_MESSAGE + 16)
        return address

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        if self._connections >= MAX_CONNECTIONS:
            self.refused += 1
            writer.close()
            return
        self._connections += 1
        try:
            while True:
                frame = await asyncio.wait_for(_frame(reader), IDLE_S)
                if frame is None:
                    return
                self.deliver(parse(frame, peer))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as err:
            _LOGGER.debug("syslog: TCP sender %s dropped: %s", peer, err)
        finally:
            self._connections -= 1
            writer.close()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()


async def _frame(reader: asyncio.StreamReader) -> bytes | None:
    """One message of a TCP stream: octet-counted ("LEN SP MSG") or ended by a line feed (RFC 6587)."""
    first = await reader.read(1)
    if not first:
        return None
    if first.isdigit():
        head = first + await reader.readuntil(b" ")
        size = int(head[:-1])
        if size > MAX_MESSAGE:
            raise ValueError(f"a frame of {size} bytes (at most {MAX_MESSAGE})")
        return await reader.readexactly(size)
    return first + (await reader.readuntil(b"\n"))
