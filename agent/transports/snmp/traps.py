"""Receiving SNMP notifications (v2c TRAP/INFORM and v3 TRAP) through pysnmp on the daemon's loop.

The communities and v3 users are the config's SNMP credentials. A v3 trap is authenticated with the
*sender's* engine ID (the device is the authoritative engine of a trap), so a v3 credential that
receives traps says its device's `engine_id`. A notification whose community or user does not match
is dropped by pysnmp's security layer and never reaches us: it is counted among the `dropped` datagrams.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from agent.core.secrets import resolve
from agent.transports.snmp import SnmpV2c, SnmpV3

_LOGGER = logging.getLogger(__name__)
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"


@dataclass(frozen=True)
class Notification:
    """One trap as received: where from, which notification, and its variables as text."""

    address: str
    trap_oid: str
    varbinds: tuple[tuple[str, str], ...]


class TrapReceiver:
    """A UDP notification receiver for the given credentials; `on_notification` runs on the loop."""

    def __init__(self, credentials: dict[str, SnmpV2c | SnmpV3], base_dir, on_notification: Callable):
        self.credentials, self.base_dir = credentials, base_dir
        self.on_notification = on_notification
        self.datagrams = self.accepted = 0
        self.engine = None
        self.address: tuple[str, int] | None = None

    def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and start receiving (the loop must be running); return the bound address."""
        import socket

        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import ntfrcv
        from pysnmp.proto.api import v2c

        receiver = self

        class Counting(udp.UdpAsyncioTransport):
            def datagram_received(self, datagram, transport_address):
                receiver.datagrams += 1
                return super().datagram_received(datagram, transport_address)

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as err:
            sock.close()
            raise OSError(f"traps: cannot listen on {host}:{port}/udp: {err.strerror} (port 162 needs root or "
                          "CAP_NET_BIND_SERVICE; traps.port sets another)") from None
        sock.setblocking(False)
        snmp = engine.SnmpEngine()
        config.add_transport(snmp, udp.DOMAIN_NAME, Counting().open_server_mode(sock=sock))
        for name, cred in self.credentials.items():
            if isinstance(cred, SnmpV2c):
                community = resolve(cred.community, base_dir=self.base_dir).get_secret_value()
                config.add_v1_system(snmp, f"trap-{name}", community)
            elif cred.engine_id:
                auth = resolve(cred.auth_key, base_dir=self.base_dir).get_secret_value()
                priv = resolve(cred.priv_key, base_dir=self.base_dir).get_secret_value() \
                    if cred.level == "authPriv" and cred.priv_key else None
                config.add_v3_user(snmp, cred.user, _AUTH[cred.auth_protocol](config), auth,
                                   _PRIV[cred.priv_protocol](config) if priv else config.USM_PRIV_NONE, priv,
                                   securityEngineId=v2c.OctetString(hexValue=cred.engine_id.removeprefix("0x")))
        ntfrcv.NotificationReceiver(snmp, self._received)
        self.engine = snmp
        self.address = sock.getsockname()[:2]
        return self.address

    @property
    def dropped(self) -> int:
        """Datagrams that gave no notification: a wrong community or user, a wrong key, not SNMP at all."""
        return self.datagrams - self.accepted

    def _received(self, snmp, state_reference, _context_engine, _context_name, varbinds, _ctx) -> None:
        try:
            _domain, address = snmp.message_dispatcher.get_transport_info(state_reference)
        except Exception:  # noqa: BLE001 - pysnmp keeps no address for this message: nothing to attribute
            return
        self.accepted += 1
        pairs = tuple((str(name), _text(value)) for name, value in varbinds)
        trap = next((v for k, v in pairs if k == SNMP_TRAP_OID), "")
        try:
            self.on_notification(Notification(str(address[0]), trap, pairs))
        except Exception:  # noqa: BLE001 - one bad handler run must not stop the receiver
            _LOGGER.exception("trap from %s not handled", address[0])

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close_dispatcher()
            self.engine = None


def _text(value) -> str:
    try:
        return value.prettyPrint()
    except Exception:  # noqa: BLE001 - a value pysnmp cannot print is shown by its type only
        return type(value).__name__


_AUTH = {"MD5": lambda c: c.USM_AUTH_HMAC96_MD5, "SHA": lambda c: c.USM_AUTH_HMAC96_SHA,
         "SHA256": lambda c: c.USM_AUTH_HMAC192_SHA256, "SHA512": lambda c: c.USM_AUTH_HMAC384_SHA512}
_PRIV = {"AES": lambda c: c.USM_PRIV_CFB128_AES, "AES256": lambda c: c.USM_PRIV_CFB256_AES,
         "DES": lambda c: c.USM_PRIV_CBC56_DES}
