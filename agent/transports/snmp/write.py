"""SNMP SET and read-back through pysnmp (writes are rare and destructive: no lean path here)."""

from __future__ import annotations

from agent.core.secrets import resolve
from agent.transports.snmp import SnmpV2c
from agent.transports.snmp.v3 import AUTH_PROTOCOLS, PRIV_PROTOCOLS, raise_for


def _auth(ctx, name: str):
    from pysnmp.hlapi.v3arch import asyncio as h

    cred = ctx.config.credential("snmp", name)
    base = ctx.config.base_dir
    if isinstance(cred, SnmpV2c):
        return h.CommunityData(resolve(cred.community, base_dir=base).get_secret_value()), h.ContextData()
    priv = resolve(cred.priv_key, base_dir=base).get_secret_value() if cred.priv_key else None
    return (h.UsmUserData(cred.user, resolve(cred.auth_key, base_dir=base).get_secret_value(), priv,
                          authProtocol=getattr(h, AUTH_PROTOCOLS[cred.auth_protocol]),
                          privProtocol=getattr(h, PRIV_PROTOCOLS[cred.priv_protocol]) if priv else h.usmNoPrivProtocol),
            h.ContextData(contextName=cred.context))


async def _call(device, ctx, cred: str, make):
    from pysnmp.hlapi.v3arch import asyncio as h

    auth, context = _auth(ctx, cred)
    engine = h.SnmpEngine()
    try:
        target = await h.UdpTransportTarget.create((device.address, device.snmp.port if device.snmp else 161),
                                                   timeout=3, retries=1)
        indication, status, index, var_binds = await make(h, engine, auth, target, context)
    finally:
        engine.close_dispatcher()
    raise_for(f"snmp {device.name} ({device.address})", indication, status, index,
              "no answer (down, or wrong write community)")
    return var_binds


async def snmp_set(device, ctx, cred: str, sets: list[tuple[str, str, int | str]]) -> None:
    """SET (oid, type i/u/s/t, value) varbinds in one request."""
    def make(h, engine, auth, target, context):
        from pysnmp.proto.rfc1902 import Integer32, OctetString, TimeTicks, Unsigned32

        types = {"i": Integer32, "u": Unsigned32, "s": OctetString, "t": TimeTicks}
        objs = [h.ObjectType(h.ObjectIdentity(oid), types[t](v)) for oid, t, v in sets]
        return h.set_cmd(engine, auth, target, context, *objs, lookupMib=False)

    await _call(device, ctx, cred, make)


async def snmp_get_values(device, ctx, cred: str, oids: list[str]) -> dict[str, object]:
    """GET OIDs; return {oid: value as int or str}."""
    def make(h, engine, auth, target, context):
        return h.get_cmd(engine, auth, target, context, *[h.ObjectType(h.ObjectIdentity(o)) for o in oids],
                         lookupMib=False)

    var_binds = await _call(device, ctx, cred, make)
    out = {}
    for name, value in var_binds:
        try:
            out[str(name)] = int(value)
        except (TypeError, ValueError):
            out[str(name)] = value.prettyPrint()
    return out
