"""Plain TCP and HTTP: is a port open, how fast; what status a URL answers.

The `tcp` and `http` checks, the runbooks' `tcp` and `http` conditions and the Alfresco readiness
wait all go through here; failures come back as the probes' own errors with the reason in Spanish.
"""

from __future__ import annotations

import asyncio
import time

from agent.core.secrets import library_text
from agent.errors import ProbeTimeout, ProbeUnavailable


async def tcp_connect(host: str, port: int, timeout: float) -> float:
    """Open and close a TCP connection; return the seconds it took."""
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise ProbeTimeout(f"sin respuesta en {timeout:g}s") from None
    except ConnectionRefusedError:
        raise ProbeUnavailable("conexión rechazada: nada escucha en el puerto") from None
    except OSError as err:
        raise ProbeUnavailable(err.strerror or library_text(err)) from None
    elapsed = time.perf_counter() - t0
    writer.close()
    return elapsed


async def tcp_open(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        await tcp_connect(host, port, timeout)
    except (ProbeTimeout, ProbeUnavailable):
        return False
    return True


async def http_get(client, url: str) -> tuple[int, float]:
    """GET a URL with an httpx.AsyncClient; return (status, seconds)."""
    import httpx

    t0 = time.perf_counter()
    try:
        resp = await client.get(url)
    except httpx.TimeoutException:
        raise ProbeTimeout(f"sin respuesta en {client.timeout.read or 0:g}s") from None
    except httpx.HTTPError as err:
        raise ProbeUnavailable(f"{type(err).__name__}: {library_text(err)}") from None
    return resp.status_code, time.perf_counter() - t0


async def http_status(url: str, timeout: float = 5.0) -> int | None:
    """The status a URL answers, or None when it does not answer."""
    import httpx

    async with httpx.AsyncClient(timeout=timeout) as client:
        try:
            return (await http_get(client, url))[0]
        except (ProbeTimeout, ProbeUnavailable):
            return None
