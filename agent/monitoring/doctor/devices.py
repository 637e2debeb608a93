"""Whether the inventory's devices answer: an SNMP GET of sysUpTime through the SNMP transport (with the
device's own credential), and a TCP connection to the SSH port; a bounded number at once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from agent.errors import CheckError, ConfigError
from agent.monitoring.doctor import DoctorOptions, Finding, Status
from agent.monitoring.doctor.peers import connect_error

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
LISTED = 20            # failing devices named one by one; past this, a count


async def answer(settings, opts: DoctorOptions) -> list[Finding]:
    """A FAIL per device that does not answer (the first LISTED), and one summary line per protocol."""
    if not opts.devices:
        return []
    from agent.monitoring.once import probe_context

    inventory = list(settings.inventory)
    gate = asyncio.Semaphore(opts.concurrency)
    with ThreadPoolExecutor(2, thread_name_prefix="doctor") as pool:
        ctx = probe_context(settings, pool)
        try:
            snmp = await asyncio.gather(*(_snmp(d, ctx, gate) for d in inventory if d.snmp is not None))
            ssh = await asyncio.gather(*(_ssh(d, opts.timeout, gate) for d in inventory if d.ssh is not None))
        finally:
            await ctx.aclose()
    return _summary("SNMP", snmp) + _summary("SSH", ssh)


async def _snmp(device, ctx, gate: asyncio.Semaphore) -> Finding | None:
    from agent.transports.snmp import codec, open_session

    subject = f"{device.name} ({device.address}:{device.snmp.port}/udp)"
    async with gate:
        try:
            await open_session(device, ctx).get([codec.encode_oid(SYS_UPTIME)])
        except ConfigError as err:
            return Finding(Status.FAIL, "device", subject, f"{subject}: SNMP: {err}",
                           "fix the device's credential")
        except CheckError as err:
            return Finding(Status.FAIL, "device", subject, f"{subject}: SNMP GET sysUpTime: {err}",
                           "check the device's SNMP agent, its access list (this host's address) and the "
                           f"credential {device.snmp.credential!r}")
    return None


async def _ssh(device, timeout: float, gate: asyncio.Semaphore) -> Finding | None:
    subject = f"{device.name} ({device.address}:{device.ssh.port}/tcp)"
    async with gate:
        why = await connect_error(device.address, device.ssh.port, timeout)
    if why is None:
        return None
    return Finding(Status.FAIL, "device", subject, f"{subject}: SSH port: {why}",
                   "check that sshd runs on the device "
                   "and that a firewall lets this host reach it")


def _summary(proto: str, results: list[Finding | None]) -> list[Finding]:
    if not results:
        return []
    failed = [f for f in results if f is not None]
    total = len(results)
    shown = failed[:LISTED]
    if len(failed) > LISTED:
        shown.append(Finding(Status.FAIL, "device", proto,
                             f"... and {len(failed) - LISTED} more device(s) that "
                             f"do not answer {proto}"))
    status = Status.FAIL if failed else Status.OK
    counted = f"{total - len(failed)} of {total} devices answer {proto}"
    return shown + [Finding(status, "device", f"{proto} devices", counted)]
