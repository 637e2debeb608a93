"""One SNTP exchange (RFC 4330): how far this clock is from an NTP server's, for hosts without timedatectl."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from datetime import datetime

NTP_PORT = 123
_NTP_EPOCH_OFFSET = 2208988800          # seconds from 1900-01-01 (NTP's epoch) to 1970-01-01


class _Once(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


def request(t0: float) -> bytes:
    """A client request (LI 0, version 4, mode 3) whose transmit time is t0 (Unix seconds)."""
    return b"\x23" + b"\0" * 39 + _stamp(t0)


def offset_of(answer: bytes, t0: float, t3: float) -> float:
    """The clock offset from a server's answer: ((t1 - t0) + (t2 - t3)) / 2, in seconds."""
    if len(answer) < 48 or answer[0] & 0x07 not in (4, 5):
        raise OSError("not an NTP server answer")
    t1, t2 = _unstamp(answer[32:40]), _unstamp(answer[40:48])
    return ((t1 - t0) + (t2 - t3)) / 2


async def clock_offset(server: str, timeout: float, now: Callable[[], datetime],
                       port: int = NTP_PORT) -> float:
    """Ask `server` the time once; return this clock's offset from it (positive: the server is ahead)."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Once, remote_addr=(server, port))
    try:
        t0 = now().timestamp()
        transport.sendto(request(t0))
        try:
            async with asyncio.timeout(timeout):
                answer = await proto.answer
        except TimeoutError:
            raise OSError(f"no answer in {timeout:g}s") from None
        return offset_of(answer, t0, now().timestamp())
    finally:
        transport.close()


def _stamp(unix_s: float) -> bytes:
    seconds = unix_s + _NTP_EPOCH_OFFSET
    return struct.pack("!II", int(seconds), int((seconds % 1) * 2**32))


def _unstamp(raw: bytes) -> float:
    seconds, fraction = struct.unpack("!II", raw)
    return seconds - _NTP_EPOCH_OFFSET + fraction / 2**32
