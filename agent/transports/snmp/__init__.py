"""SNMP: the lean v2c client (codec + a UDP socket per source address), v3 through pysnmp, SETs, and the inventory and
credential models (`oti_snmp`, `credentials.snmp`).

Callers see one seam: `open_session(device, ctx)` returns an object with `get(oids)` and
`walk(roots)`, whatever the version; `write.snmp_set` / `write.snmp_get_values` for the rare SET.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from agent.core.secrets import SecretRef, resolve
from agent.errors import ConfigError
from agent.transports.base import AccessModel, CredentialModel, Transport

# How much one walk may take before it is called a looping agent (per device: oti_snmp.walk_max_*).
WALK_MAX_ROWS = 10_000           # rows per column: a big switch has a few thousand interfaces
WALK_MAX_BYTES = 8 * 2**20       # answer bytes per walk: about ten times a 2,000-port switch's IF-MIB walk


class SnmpAccess(AccessModel):
    """How to reach the device's SNMP agent (`oti_snmp`)."""

    profile: str | list[str] | None = Field(
        None, description="the device profile(s); none: detected from sysObjectID and sysDescr, then confirmed "
                          "by the device's answers (`oti-agent discover HOST`)")
    credential: str
    port: int = Field(161, ge=1, le=65535)
    timeout: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=5)
    walk_max_rows: int = Field(WALK_MAX_ROWS, ge=1, le=10_000_000, description="rows per column a walk may take")
    walk_max_bytes: int = Field(WALK_MAX_BYTES, ge=10_000, le=2**30, description="answer bytes a walk may take")
    nominal_voltage: float | None = Field(None, gt=0, le=1000, description="the site's nominal voltage (120, "
                                          "230...), over what the device declares; voltage limits are relative")
    important_ports: list[str] = Field([], description="regular expressions on a port's name or alias "
                                                       "(ifName, ifAlias): such a port down is an alarm even if "
                                                       "never seen up")

    @property
    def profiles(self) -> tuple[str, ...]:
        """The profiles the inventory names (empty: detect them)."""
        if self.profile is None:
            return ()
        return (self.profile,) if isinstance(self.profile, str) else tuple(self.profile)


class SnmpV2c(CredentialModel):
    """SNMPv2c credential."""

    version: Literal["v2c"]
    community: SecretRef


class SnmpV3(CredentialModel):
    """SNMPv3 USM credential (authPriv by default)."""

    version: Literal["v3"]
    user: str
    level: Literal["authPriv", "authNoPriv"] = "authPriv"
    auth_protocol: Literal["SHA", "SHA256", "SHA512", "MD5"] = "SHA"
    auth_key: SecretRef
    priv_protocol: Literal["AES", "AES256", "DES"] = "AES"
    priv_key: SecretRef | None = None
    context: str = ""
    engine_id: str | None = Field(None, pattern=r"^(0x)?[0-9A-Fa-f]{10,64}$",
                                  description="the device's SNMP engine ID (hex): needed only to receive its v3 "
                                              "traps, which are authenticated with the sender's engine ID")


SnmpCredential = Annotated[SnmpV2c | SnmpV3, Field(discriminator="version")]
TRANSPORT = Transport("snmp", "SNMP v2c (lean codec) and v3 (pysnmp): GET, GETBULK walks, SET", SnmpAccess,
                      SnmpCredential)


def open_session(device, ctx):
    """Return an SNMP session (`get`, `walk`) to the device with its configured credential."""
    from agent.transports.snmp.client import Endpoint, V2cClient, V2cSession

    access = device.snmp
    cred = ctx.config.credential("snmp", access.credential, device.name)
    ep = Endpoint(device.name, device.address, access.port, access.timeout, access.retries, access.walk_max_rows,
                  access.walk_max_bytes)
    base = ctx.config.base_dir
    if isinstance(cred, SnmpV2c):
        community = resolve(cred.community, base_dir=base).get_secret_value().encode()
        return V2cSession(ctx.service("snmp.v2c", V2cClient), ep, community)
    from agent.transports.snmp.v3 import V3Engine, V3Session

    priv = resolve(cred.priv_key, base_dir=base).get_secret_value() if cred.level == "authPriv" and cred.priv_key \
        else None
    if cred.level == "authPriv" and priv is None:
        raise ConfigError(f"SNMP credential {access.credential!r}: authPriv needs priv_key")
    return V3Session(ctx.service("snmp.v3", V3Engine), ep, user=cred.user, auth_protocol=cred.auth_protocol,
                     auth_key=resolve(cred.auth_key, base_dir=base).get_secret_value(),
                     priv_protocol=cred.priv_protocol, priv_key=priv, context=cred.context)
