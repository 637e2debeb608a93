"""Power step kinds: `ipmi_power` (physical servers), `snmp_set` (UPS and PDU outlets)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.transports import ipmi
from agent.core.config import Duration
from agent.errors import CheckError
from agent.core.inventory import Device
from agent.runbook import conditions
from agent.runbook.kinds import StepOptions, StepContext, StepFailed, StepKind
from agent.runbook.model import Condition


class IpmiOptions(StepOptions):
    """Which chassis command."""
    action: Literal["on", "off", "soft", "status"]
    escalate_after: Duration | None = Field(
        None, description="for 'soft': if the OS has not powered off after this long, send a hard 'off'")


class IpmiPower(StepKind):
    """Chassis power on / off / soft off of a physical server through its BMC."""

    Options = IpmiOptions
    needs_targets = True
    touches_power = True
    estimate_s = 5.0

    def describe(self, options: IpmiOptions) -> str:
        extra = f", apagado forzado a los {options.escalate_after:g} s" if options.escalate_after else ""
        return f"IPMI chassis power {options.action}{extra}"

    async def run(self, ctx: StepContext, target: Device) -> str:
        action = ctx.options.action
        if action == "status":
            return f"energía: {await ipmi.power_state(target, ctx.probes)}"
        answer = await ipmi.set_power(target, ctx.probes, action)
        if action == "soft" and ctx.options.escalate_after:
            off = Condition(probe="ipmi_power", state="off", within=ctx.options.escalate_after, every=1)
            if not await conditions.wait_for(off, target, ctx.probes):
                await ipmi.set_power(target, ctx.probes, "off")
                return f"apagado ordenado sin respuesta en {ctx.options.escalate_after:g} s: apagado forzado"
        return f"chassis power {action}: {answer}"

    async def check(self, ctx: StepContext, target: Device) -> bool | None:
        if ctx.options.action == "status":
            return None
        want = "on" if ctx.options.action == "on" else "off"
        grace = min(ctx.options.escalate_after or 10.0, 10.0)   # a resumed run looks briefly, then re-sends
        cond = Condition(probe="ipmi_power", state=want, within=grace, every=0.5)
        try:
            return await conditions.wait_for(cond, target, ctx.probes)
        except CheckError:
            return None


class SetVar(StepOptions):
    """One SNMP SET."""
    oid: str
    type: Literal["i", "u", "s"] = "i"
    value: int | str


class SnmpSetOptions(StepOptions):
    """What to set, with which write credential."""
    credential: str = Field(description="a write credential of the config's credentials.snmp")
    sets: list[SetVar] = Field(min_length=1)


class SnmpSet(StepKind):
    """SNMP SETs on each target (UPS shutdown after a delay, PDU outlet off), then read them back."""

    Options = SnmpSetOptions
    needs_targets = True
    touches_power = True
    estimate_s = 2.0

    def describe(self, options: SnmpSetOptions) -> str:
        return "SNMP SET " + ", ".join(f"{s.oid}={s.value}" for s in options.sets)

    async def run(self, ctx: StepContext, target: Device) -> str:
        from agent.transports.snmp.write import snmp_set

        await snmp_set(target, ctx.probes, ctx.options.credential, [(s.oid, s.type, s.value) for s in ctx.options.sets])
        if not await self.check(ctx, target):
            raise StepFailed(f"{target.name}: el equipo aceptó el SET pero no devuelve los valores escritos")
        return "SNMP SET " + ", ".join(f"{s.oid}={s.value}" for s in ctx.options.sets)

    async def check(self, ctx: StepContext, target: Device) -> bool | None:
        from agent.transports.snmp.write import snmp_get_values

        try:
            got = await snmp_get_values(target, ctx.probes, ctx.options.credential, [s.oid for s in ctx.options.sets])
        except CheckError:
            return None
        return all(str(got.get(s.oid)) == str(s.value) for s in ctx.options.sets)
