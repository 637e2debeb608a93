"""IPMI chassis power through pyghmi (RMCP+), in a thread: pyghmi blocks."""

from __future__ import annotations

import asyncio

from agent.errors import ConfigError, ProbeAuthFailed, ProbeUnavailable
from agent.inventory import Device
from agent.secrets import resolve
from checks.base import ProbeContext

POWER_ACTIONS = {"on": "on", "off": "off", "soft": "shutdown", "cycle": "boot", "reset": "reset"}


def _command(device: Device, ctx: ProbeContext):
    from pyghmi.ipmi import command

    access = device.ipmi
    if access is None:
        raise ConfigError(f"device {device.name} has no oti_ipmi in the inventory")
    cred = ctx.config.credentials.ipmi.get(access.credential)
    if cred is None:
        raise ConfigError(f"device {device.name}: IPMI credential {access.credential!r} is not in credentials.ipmi")
    password = resolve(cred.password, base_dir=ctx.config.base_dir).get_secret_value()
    try:
        return command.Command(bmc=access.address, port=access.port, userid=cred.user, password=password)
    except Exception as err:  # noqa: BLE001 - pyghmi raises bare IpmiException/Exception; translated here once
        text = str(err) or "no answer from the BMC"
        kind = ProbeAuthFailed if "password" in text.lower() or "auth" in text.lower() else ProbeUnavailable
        raise kind(f"ipmi {device.name} ({access.address}:{access.port}): {text}") from None


def _power(device: Device, ctx: ProbeContext, action: str | None) -> str:
    cmd = _command(device, ctx)
    try:
        if action is None:
            return cmd.get_power()["powerstate"]
        result = cmd.set_power(POWER_ACTIONS[action], wait=False)
        return result.get("powerstate") or result.get("pendingpowerstate") or action
    except Exception as err:  # noqa: BLE001 - see above
        raise ProbeUnavailable(f"ipmi {device.name}: {err}") from None
    finally:
        try:
            cmd.ipmi_session.logout()
        except Exception:  # noqa: BLE001 - a failed logout must not hide the result
            pass


async def power_state(device: Device, ctx: ProbeContext) -> str:
    """Return 'on' or 'off' as the BMC reports it."""
    return await asyncio.to_thread(_power, device, ctx, None)


async def set_power(device: Device, ctx: ProbeContext, action: str) -> str:
    """Send one chassis power command (on, off, soft, cycle, reset); return what the BMC answered."""
    return await asyncio.to_thread(_power, device, ctx, action)
