"""The `tcp` and `http` checks: is a service answering on its port or URL, and how fast."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.core.thresholds import Thresholds, evaluate
from agent.errors import CheckError
from agent.transports.net import http_get, tcp_connect
from checks.base import Check, ProbeContext


class TcpOptions(BaseModel):
    """Ports to connect to, besides the device's `oti_tcp_ports`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ports: list[int] = []
    connect_timeout: float = Field(3.0, gt=0, le=60)
    response_time: Thresholds = Thresholds(direction="above", warning=1.0, critical=3.0, hysteresis=0.1)


class TcpCheck(Check):
    """Connect to each TCP port of a service; report up/down and connect time."""

    Options = TcpOptions
    description = "TCP connect to each of the device's service ports"

    def ports(self, device: Device) -> list[int]:
        """Return the ports to try."""
        return list(dict.fromkeys([*device.tcp_ports, *self.options.ports]))

    def applies(self, device: Device) -> bool:
        return bool(self.ports(device))

    async def collect(self, device: Device, ctx: ProbeContext) -> dict[int, float | str]:
        results = await asyncio.gather(*(self._connect(device.address, p) for p in self.ports(device)))
        return dict(zip(self.ports(device), results, strict=True))

    async def _connect(self, host: str, port: int) -> float | str:
        try:
            return await tcp_connect(host, port, self.options.connect_timeout)
        except CheckError as err:
            return str(err)

    def evaluate(self, raw: dict[int, float | str], device: Device, previous: Mapping[str, State]) -> list[Reading]:
        out = []
        for port, result in raw.items():
            labels = (("port", str(port)),)
            if isinstance(result, str):
                out.append(Reading("service_tcp_up", 0.0, State.CRITICAL, "", labels, "down",
                                   help="Whether the TCP port accepts connections",
                                   message=f"puerto {port}: {result}"))
                continue
            out.append(Reading("service_tcp_up", 1.0, State.OK, "", labels, "up",
                               help="Whether the TCP port accepts connections"))
            key = f'service_tcp_connect_seconds{{port="{port}"}}'
            out.append(Reading("service_tcp_connect_seconds", round(result, 6),
                               evaluate(result, self.options.response_time, previous.get(key)), "seconds", labels,
                               help="Time to open a TCP connection"))
        return out


class HttpOptions(BaseModel):
    """URLs to fetch, besides the device's `oti_urls`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    urls: list[str] = []
    expect_status: list[int] = Field([], description="acceptable status codes; empty means 200-399")
    verify_tls: bool = True
    request_timeout: float = Field(5.0, gt=0, le=120)
    response_time: Thresholds = Thresholds(direction="above", warning=2.0, critical=5.0, hysteresis=0.2)


class HttpCheck(Check):
    """GET each URL of a service; report status and response time."""

    Options = HttpOptions
    description = "HTTP(S) GET of each of the device's service URLs"

    def urls(self, device: Device) -> list[str]:
        """Return the URLs to fetch."""
        return list(dict.fromkeys([*device.urls, *self.options.urls]))

    def applies(self, device: Device) -> bool:
        return bool(self.urls(device))

    async def collect(self, device: Device, ctx: ProbeContext) -> dict[str, tuple[int, float] | str]:
        import httpx

        out: dict[str, tuple[int, float] | str] = {}
        async with httpx.AsyncClient(verify=self.options.verify_tls, timeout=self.options.request_timeout,
                                     follow_redirects=False) as client:
            for url in self.urls(device):
                try:
                    out[url] = await http_get(client, url)
                except CheckError as err:
                    out[url] = str(err)
        return out

    def evaluate(self, raw, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        out = []
        for url, result in raw.items():
            labels = (("url", url),)
            if isinstance(result, str):
                out.append(Reading("service_http_up", 0.0, State.CRITICAL, "", labels, "down",
                                   help="Whether the URL answered with an acceptable status",
                                   message=f"{url}: {result}"))
                continue
            status, elapsed = result
            good = status in self.options.expect_status if self.options.expect_status else 200 <= status < 400
            out.append(Reading("service_http_up", 1.0 if good else 0.0, State.OK if good else State.CRITICAL, "",
                               labels, f"HTTP {status}", help="Whether the URL answered with an acceptable status",
                               message="" if good else f"{url}: respondió HTTP {status}"))
            key = f'service_http_response_seconds{{url="{url}"}}'
            out.append(Reading("service_http_response_seconds", round(elapsed, 6),
                               evaluate(elapsed, self.options.response_time, previous.get(key)), "seconds",
                               labels, help="Time to answer an HTTP GET"))
        return out
