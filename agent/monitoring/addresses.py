"""Which device a datagram comes from: the trap and syslog receivers know senders by address."""

from __future__ import annotations

import logging
import socket

_LOGGER = logging.getLogger(__name__)


def devices_by_address(devices, what: str) -> dict[str, list[str]]:
    """Device names by the IPv4 address their datagrams come from (a name in the inventory is resolved once)."""
    out: dict[str, list[str]] = {}
    for d in devices:
        try:
            infos = socket.getaddrinfo(d.address, None, socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            _LOGGER.warning("%s: %s's address %s does not resolve; what it sends will count as unknown", what,
                            d.name, d.address)
            continue
        for ip in {i[4][0] for i in infos}:
            out.setdefault(ip, []).append(d.name)
    return out
