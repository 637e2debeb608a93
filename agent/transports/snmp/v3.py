"""SNMPv3 (USM authPriv / authNoPriv) through pysnmp 7, behind the same seam as the v2c client.

pysnmp is imported only when a v3 credential is used: it is slow to import and ~10x costlier
per varbind than the lean codec, which is fine for the few v3 devices an office has.
"""

from __future__ import annotations

from agent.errors import ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.transports.snmp import codec
from agent.transports.snmp.client import BulkWalker, Endpoint, Varbind

AUTH_PROTOCOLS = {"SHA": "usmHMACSHAAuthProtocol", "SHA256": "usmHMAC192SHA256AuthProtocol",
         "SHA512": "usmHMAC384SHA512AuthProtocol", "MD5": "usmHMACMD5AuthProtocol"}
PRIV_PROTOCOLS = {"AES": "usmAesCfb128Protocol", "AES256": "usmAesBlumenthalCfb256Protocol", "DES": "usmDESPrivProtocol"}
_AUTH_ERRORS = {"WrongDigest", "UnknownUserName", "DecryptionError", "UnsupportedSecurityLevel",
                "UnknownSecurityName", "AuthenticationFailure", "AuthorizationError"}
_TAGS = {"Integer32": codec.INTEGER, "Integer": codec.INTEGER, "OctetString": codec.OCTET_STRING,
         "ObjectIdentifier": codec.OBJECT_ID, "ObjectName": codec.OBJECT_ID, "IpAddress": codec.IPADDRESS,
         "Counter32": codec.COUNTER32, "Gauge32": codec.GAUGE32, "Unsigned32": codec.GAUGE32,
         "TimeTicks": codec.TIMETICKS, "Opaque": codec.OPAQUE, "Counter64": codec.COUNTER64,
         "NoSuchObject": codec.NO_SUCH_OBJECT, "NoSuchInstance": codec.NO_SUCH_INSTANCE,
         "EndOfMibView": codec.END_OF_MIB_VIEW, "Null": codec.NULL}


def convert_value(value) -> tuple[int, object]:
    """Return (BER tag, Python value) of a pysnmp value, in the lean codec's representation."""
    tag = _TAGS.get(type(value).__name__, codec.OCTET_STRING)
    if tag in (codec.OCTET_STRING, codec.OPAQUE):
        return tag, bytes(value.asOctets())
    if tag == codec.OBJECT_ID:
        return tag, str(value)
    if tag == codec.IPADDRESS:
        return tag, ".".join(str(b) for b in value.asOctets())
    if tag in codec.EXCEPTIONS or tag == codec.NULL:
        return tag, None
    return tag, int(value)


def raise_for(where: str, indication, status, index, silence: str) -> None:
    """Map pysnmp's outcome of a request to the probes' errors (`silence`: what a timeout means here)."""
    if indication:
        name = type(indication).__name__
        if name == "RequestTimedOut":
            raise ProbeTimeout(f"{where}: {silence}")
        if name in _AUTH_ERRORS:
            raise ProbeAuthFailed(f"{where}: authentication rejected ({indication}); check the user, protocols "
                                  "and keys of its SNMP credential")
        raise ProbeUnavailable(f"{where}: {indication}")
    if status:
        text = status.prettyPrint()
        kind = ProbeAuthFailed if text == "authorizationError" else ProbeUnavailable
        raise kind(f"{where}: agent answered {text} at varbind {int(index)}")


def _hlapi():
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    return hlapi


class V3Engine:
    """One pysnmp SnmpEngine shared by every v3 session of the daemon."""

    def __init__(self) -> None:
        self.engine = _hlapi().SnmpEngine()

    def close(self) -> None:
        """Stop pysnmp's dispatcher."""
        self.engine.close_dispatcher()


class V3Session(BulkWalker):
    """GET and walks against one SNMPv3 agent."""

    def __init__(self, engine: V3Engine, endpoint: Endpoint, *, user: str, auth_protocol: str, auth_key: str,
                 priv_protocol: str | None, priv_key: str | None, context: str = "", max_repetitions: int = 25):
        h = _hlapi()
        self.h, self.engine, self.ep = h, engine.engine, endpoint
        self.max_repetitions = max_repetitions
        priv = getattr(h, PRIV_PROTOCOLS[priv_protocol]) if priv_key else h.usmNoPrivProtocol
        self.auth = h.UsmUserData(user, auth_key, priv_key if priv_key else None,
                                  authProtocol=getattr(h, AUTH_PROTOCOLS[auth_protocol]), privProtocol=priv)
        self.context = h.ContextData(contextName=context)
        self._target = None

    async def _target_for(self):
        if self._target is None:
            self._target = await self.h.UdpTransportTarget.create(
                (self.ep.host, self.ep.port), timeout=self.ep.timeout, retries=self.ep.retries)
        return self._target

    def _raise_for(self, indication, status, index) -> None:
        raise_for(f"snmp v3 {self.ep}", indication, status, index,
                  f"no answer within {self.ep.timeout:g}s x{self.ep.retries + 1}; the device is down or unreachable")

    def _convert(self, var_binds) -> list[Varbind]:
        return [(codec.encode_oid(str(name)), *convert_value(value)) for name, value in var_binds]

    def _objects(self, oids: list[bytes]):
        h = self.h
        return [h.ObjectType(h.ObjectIdentity(codec.decode_oid(o))) for o in oids]

    async def get(self, oids: list[bytes]) -> list[Varbind]:
        """GET the given OIDs."""
        indication, status, index, var_binds = await self.h.get_cmd(
            self.engine, self.auth, await self._target_for(), self.context, *self._objects(oids), lookupMib=False)
        self._raise_for(indication, status, index)
        return self._convert(var_binds)

    async def _bulk(self, oids: list[bytes], max_repetitions: int) -> tuple[list[Varbind], int]:
        indication, status, index, var_binds = await self.h.bulk_cmd(
            self.engine, self.auth, await self._target_for(), self.context, 0, max_repetitions,
            *self._objects(oids), lookupMib=False)
        self._raise_for(indication, status, index)
        varbinds = self._convert(var_binds)
        return varbinds, _size(varbinds)


def _size(varbinds: list[Varbind]) -> int:
    """About how many bytes the varbinds took on the wire (pysnmp does not tell), for the walk's byte cap."""
    return sum(len(name) + (len(v) if isinstance(v, bytes | str) else 8) + 6 for name, _tag, v in varbinds)
