"""Conditions checked through probes: a step's `verify`, and the `wait_until` step."""

from __future__ import annotations

import asyncio
import time

from agent.core import plugins
from agent.core.inventory import Device
from agent.errors import CheckError, ProbeTimeout, ProbeUnavailable
from agent.runbook.model import Condition
from agent.transports.context import ProbeContext
from agent.transports.net import http_status, tcp_open


async def holds(cond: Condition, target: Device, probes: ProbeContext) -> bool:
    """Check a condition once on one device; a probe that fails counts as 'does not hold'."""
    try:
        if cond.probe == "tcp":
            port = cond.port or (target.ssh.port if target.ssh else 22)
            return await tcp_open(target.address, port) == (cond.state == "open")
        if cond.probe == "http":
            return await http_status(cond.url.replace("{address}", target.address)) == cond.status
        if cond.probe == "ipmi_power":
            from agent.transports.ipmi import power_state

            return await power_state(target, probes) == cond.state
        if cond.probe == "powered":
            return await powered(target, probes) == (cond.state == "on")
        if cond.probe in ("ssh", "oracle"):
            command = cond.command
            if cond.probe == "oracle":
                if target.oracle is None:
                    return False
                command = target.oracle.command("status_command")
            status, _out, _err = await probes.ssh(target, command, 10.0)
            return status == 0
        return await _snmp_equals(cond, target, probes)
    except CheckError:
        return False


async def powered(target: Device, probes: ProbeContext) -> bool:
    """Whether a device is on, read the best way it offers: the BMC says so; an SNMP agent that answers
    (a storage controller or tape library switched off stops answering); an SSH port that accepts.
    A BMC that does not answer raises CheckError: that proves nothing either way."""
    if getattr(target, "ipmi", None) is not None:
        from agent.transports.ipmi import power_state

        return await power_state(target, probes) == "on"
    if getattr(target, "snmp", None) is not None:
        check = plugins.check("snmp")()
        try:
            await check.collect(target, probes)
        except (ProbeTimeout, ProbeUnavailable):          # silent or refusing; wrong credentials prove nothing
            return False
        return True
    return await tcp_open(target.address, target.ssh.port if getattr(target, "ssh", None) else 22)


async def wait_for(cond: Condition, target: Device, probes: ProbeContext) -> bool:
    """Poll a condition every `every` seconds until it holds or `within` runs out."""
    deadline = time.monotonic() + cond.within
    while True:
        if await holds(cond, target, probes):
            return True
        if time.monotonic() + cond.every > deadline:
            return False
        await asyncio.sleep(cond.every)


def describe(cond: Condition) -> str:
    """Return the condition in Spanish, for the plan and the checklists."""
    if cond.probe == "tcp":
        port = cond.port or "SSH"
        return f"puerto {port} {'abierto' if cond.state == 'open' else 'cerrado'}"
    if cond.probe == "oracle":
        return "la base de datos responde"
    if cond.probe == "ipmi_power":
        return f"energía {'encendida' if cond.state == 'on' else 'apagada'} (IPMI)"
    if cond.probe == "ssh":
        return f"`{cond.command}` termina bien"
    if cond.probe == "http":
        return f"{cond.url} responde {cond.status}"
    if cond.probe == "powered":
        return f"equipo {'encendido' if cond.state == 'on' else 'apagado'} (IPMI, SNMP o SSH)"
    return f"{cond.reading} = {cond.equals}"


async def _snmp_equals(cond: Condition, target: Device, probes: ProbeContext) -> bool:
    # the device's own profile says what each reading is; a UPS managed by NUT gives the same reading names
    name = "snmp" if getattr(target, "snmp", None) is not None else "nut" if getattr(target, "nut", None) else None
    if name is None:
        return False                       # nothing to read it with: the step asks a person
    check = plugins.check(name)()
    readings = check.evaluate(await check.collect(target, probes), target, {})
    for r in readings:
        if r.name == cond.reading:
            return (r.text == cond.equals) if isinstance(cond.equals, str) else (r.value == cond.equals)
    return False
