"""Network UPS Tools: the upsd protocol (TCP 3493) for a UPS connected by USB or serial to a server running NUT.

One connection per poll: `USERNAME`/`PASSWORD` when a credential is given, `LIST VAR <ups>`, `LOGOUT`.
The agent is a NUT client like `upsc`; it never logs in as `upsmon` (that would count it as a power
consumer upsd waits for on shutdown). upsd answers reads to anyone who can connect and checks a password only
for privileged commands (SET, FSD), so the credential matters for those, not for polling. Errors come back as the probes' own, in Spanish, naming the UPS.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from agent.core.secrets import SecretRef, resolve
from agent.errors import ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.transports.base import AccessModel, CredentialModel, Transport

DEFAULT_PORT = 3493
MAX_LINES = 2000                    # a UPS has a few hundred variables; more is not upsd


class NutAccess(AccessModel):
    """Where a device's UPS is served by upsd (`oti_nut`): the host is the device's address unless `host` says."""

    ups: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the UPS's name in upsd (ups.conf section)")
    host: str | None = Field(None, description="the server running upsd, when it is not the device's address")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    credential: str | None = Field(None, description="a key of the config's credentials.nut (upsd.users)")
    timeout: float = Field(5.0, gt=0, le=60)
    nominal_voltage: float | None = Field(None, gt=0, le=1000, description="the site's nominal voltage, over "
                                          "what the UPS declares")


class NutCredential(CredentialModel):
    """An upsd.users account (only needed when upsd asks for one)."""

    user: str
    password: SecretRef


TRANSPORT = Transport("nut", "Network UPS Tools' upsd protocol (LIST VAR)", NutAccess, NutCredential)

_ERRORS = {"UNKNOWN-UPS": "upsd no conoce esa UPS", "DRIVER-NOT-CONNECTED": "el driver de la UPS no está conectado "
           "a upsd", "DATA-STALE": "los datos de la UPS están vencidos (el driver no la lee)",
           "ACCESS-DENIED": "upsd rechazó el acceso", "USERNAME-REQUIRED": "upsd pide usuario",
           "PASSWORD-REQUIRED": "upsd pide contraseña", "INVALID-PASSWORD": "contraseña incorrecta"}
_AUTH = {"ACCESS-DENIED", "INVALID-PASSWORD", "USERNAME-REQUIRED", "PASSWORD-REQUIRED"}


def parse_var(line: str, ups: str) -> tuple[str, str] | None:
    """`VAR ups name "value"` -> (name, value), the value's escapes undone."""
    prefix = f"VAR {ups} "
    if not line.startswith(prefix):
        return None
    rest = line[len(prefix):]
    name, _, quoted = rest.partition(" ")
    if not (quoted.startswith('"') and quoted.endswith('"') and len(quoted) >= 2):
        return None
    return name, quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")


async def list_vars(host: str, access: NutAccess, user: str | None = None, password: str | None = None) -> dict[str, str]:
    """Every variable upsd has for the UPS."""
    where = f"NUT {access.ups}@{host}:{access.port}"
    try:
        async with asyncio.timeout(access.timeout):
            reader, writer = await asyncio.open_connection(host, access.port)
            try:
                return await _session(reader, writer, access.ups, user, password, where)
            finally:
                writer.close()
    except TimeoutError:
        raise ProbeTimeout(f"{where}: sin respuesta en {access.timeout:g}s") from None
    except ConnectionRefusedError:
        raise ProbeUnavailable(f"{where}: conexión rechazada (¿upsd corre y escucha en ese puerto?)") from None
    except OSError as err:
        raise ProbeUnavailable(f"{where}: {err.strerror or type(err).__name__}") from None


async def set_forced_shutdown(host: str, access: NutAccess, user: str, password: str) -> str:
    """Raise the UPS's forced-shutdown flag (FSD) through upsd, as a primary upsmon does: every upsmon
    watching that UPS then shuts its host down and, last, the primary powers the UPS off. It needs an
    account with `upsmon primary` in upsd.users. Returns upsd's answer."""
    where = f"NUT {access.ups}@{host}:{access.port}"
    try:
        async with asyncio.timeout(access.timeout):
            reader, writer = await asyncio.open_connection(host, access.port)
            try:
                for command in (f"USERNAME {user}", f"PASSWORD {password}", f"LOGIN {access.ups}",
                                f"FSD {access.ups}"):
                    writer.write(command.encode() + b"\n")
                    await writer.drain()
                    answer = await _line(reader)
                    if not answer.startswith("OK"):
                        raise _error(answer, where)
                writer.write(b"LOGOUT\n")
                return answer
            finally:
                writer.close()
    except TimeoutError:
        raise ProbeTimeout(f"{where}: sin respuesta en {access.timeout:g}s") from None
    except OSError as err:
        raise ProbeUnavailable(f"{where}: {err.strerror or type(err).__name__}") from None


async def _session(reader, writer, ups: str, user, password, where: str) -> dict[str, str]:
    async def ask(command: str) -> str:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        return await _line(reader)

    if user is not None:
        for command in (f"USERNAME {user}", f"PASSWORD {password}"):
            answer = await ask(command)
            if answer != "OK":
                raise _error(answer, where)
    first = await ask(f"LIST VAR {ups}")
    if first != f"BEGIN LIST VAR {ups}":
        raise _error(first, where)
    out: dict[str, str] = {}
    for _ in range(MAX_LINES):
        line = await _line(reader)
        if line == f"END LIST VAR {ups}":
            writer.write(b"LOGOUT\n")
            return out
        var = parse_var(line, ups)
        if var is None:
            raise ProbeUnavailable(f"{where}: respuesta inesperada de upsd: {line[:80]!r}")
        out[var[0]] = var[1]
    raise ProbeUnavailable(f"{where}: la lista de variables pasó {MAX_LINES} líneas (no parece upsd)")


async def _line(reader) -> str:
    raw = await reader.readline()
    if not raw:
        raise ProbeUnavailable("upsd cerró la conexión")
    return raw.decode("utf-8", "replace").rstrip("\r\n")


def _error(answer: str, where: str) -> Exception:
    code = answer.removeprefix("ERR ").split(" ", 1)[0] if answer.startswith("ERR ") else ""
    text = f"{where}: {_ERRORS.get(code, answer[:80])}"
    return ProbeAuthFailed(text) if code in _AUTH else ProbeUnavailable(text)


def credentials_of(device, ctx) -> tuple[str | None, str | None]:
    access = device.nut
    if access.credential is None:
        return None, None
    cred = ctx.config.credential("nut", access.credential, device.name)
    return cred.user, resolve(cred.password, base_dir=ctx.config.base_dir).get_secret_value()
