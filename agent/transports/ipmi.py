"""IPMI chassis power through `ipmitool` (lanplus, cipher suite 3), one subprocess per command.

Why not pyghmi: in one process it shares sessions across BMCs, broke after a logout and hung when
several servers were powered off at once (seen with ipmi_sim). ipmitool is the tool the office
already knows, runs commands in parallel as separate processes, and takes the password from
the environment (`-E`), never the command line.
"""

from __future__ import annotations

import asyncio
import os
import shutil

from pydantic import Field

from agent.core.secrets import SecretRef, resolve
from agent.errors import ConfigError, ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.transports.base import AccessModel, CredentialModel, Transport


class IpmiAccess(AccessModel):
    """The host's BMC, for power control (`oti_ipmi`)."""

    address: str
    credential: str
    port: int = Field(623, ge=1, le=65535)


class IpmiCredential(CredentialModel):
    """A BMC login."""

    user: str
    password: SecretRef


TRANSPORT = Transport("ipmi", "chassis power of physical servers through their BMC (ipmitool lanplus)",
                      IpmiAccess, IpmiCredential)
POWER_ACTIONS = {"on": "on", "off": "off", "soft": "soft", "cycle": "cycle", "reset": "reset"}
IPMITOOL = "ipmitool"


async def _ipmitool(device, ctx, *args: str, timeout: float = 15.0) -> str:
    access = device.ipmi
    if access is None:
        raise ConfigError(f"device {device.name} has no oti_ipmi in the inventory")
    cred = ctx.config.credential("ipmi", access.credential, device.name)
    if shutil.which(IPMITOOL) is None:
        raise ProbeUnavailable("ipmitool is not installed (Debian package ipmitool)")
    # only what ipmitool needs: the agent's other secrets (${ENV} references) stay out of its /proc/PID/environ
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "IPMI_PASSWORD": resolve(cred.password, base_dir=ctx.config.base_dir).get_secret_value()}
    # -C 3: without it ipmitool spends 10 s probing cipher suites; -N/-R bound a dead BMC to ~3 s;
    # -v: only its verbose lines tell a refused login (RAKP 2) from a BMC that does not answer
    cmd = [IPMITOOL, "-v", "-I", "lanplus", "-C", "3", "-N", "1", "-R", "2", "-H", access.address,
           "-p", str(access.port), "-U", cred.user, "-E", *args]
    where = f"ipmi {device.name} ({access.address}:{access.port})"
    proc = await asyncio.create_subprocess_exec(*cmd, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ProbeTimeout(f"{where}: no answer within {timeout:g}s") from None
    text = err.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise _failure(where, access.credential, text, proc.returncode)
    return out.decode(errors="replace").strip()


def _failure(where: str, credential: str, text: str, code: int) -> Exception:
    """What ipmitool's verbose errors mean: a refused login (RAKP 2: wrong password or user), or silence."""
    if "RAKP 2" in text or "unauthorized name" in text or "password" in text.lower():
        return ProbeAuthFailed(f"{where}: session refused; check the user and password of credential {credential!r}")
    if "Get Auth Capabilities error" in text or "No response" in text or "Unable to establish" in text:
        return ProbeTimeout(f"{where}: the BMC does not answer (off, unplugged, or another address/port)")
    last = [ln for ln in text.splitlines() if not ln.startswith("Loading IANA")][-1:] or [f"exit {code}"]
    return ProbeUnavailable(f"{where}: {last[0]}")


async def power_state(device, ctx) -> str:
    """Return 'on' or 'off' as the BMC reports it."""
    out = await _ipmitool(device, ctx, "chassis", "power", "status")
    return "on" if out.endswith("on") else "off" if out.endswith("off") else out


async def set_power(device, ctx, action: str) -> str:
    """Send one chassis power command (on, off, soft, cycle, reset); return what the BMC answered."""
    return await _ipmitool(device, ctx, "chassis", "power", POWER_ACTIONS[action])
