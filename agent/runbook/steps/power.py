"""Power step kinds: `ipmi_power` (physical servers), `snmp_set` (UPS and PDU outlets)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.core.config import Duration
from agent.core.inventory import Device
from agent.errors import CheckError
from agent.runbook import conditions
from agent.runbook import template as templates
from agent.runbook.kinds import StepContext, StepFailed, StepKind, StepOptions
from agent.runbook.model import Condition
from agent.transports import ipmi


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


class ActionOptions(StepOptions):
    """Which of the profile's actions, with which write credential and parameters."""
    action: str = Field(description="an action the target's SNMP profile names (shutdown...)")
    credential: str = Field(description="a write credential of the config's credentials.snmp")
    params: dict[str, str | int | float] = Field({}, description="the action's parameters (templates over the "
                                                                 "run's params: \"{{ params.ups_retardo_s }}\")")


class SnmpAction(StepKind):
    """Tell each target to do a named action of its own SNMP profile (a UPS `shutdown` is different SETs on an
    APC, an Eaton and an RFC 1628 card), then read back what the device can show of it."""

    Options = ActionOptions
    needs_targets = True
    touches_power = True
    estimate_s = 2.0

    def describe(self, options: ActionOptions) -> str:
        given = ", ".join(f"{k}={v}" for k, v in options.params.items())
        return f"acción «{options.action}» del perfil SNMP de cada equipo" + (f" ({given})" if given else "")

    def target_problems(self, options: ActionOptions, targets, settings) -> list[str]:
        out = []
        known = _profiles(settings.config)
        for t in targets:
            if t.snmp is None:
                out.append(f"{t.name}: it has no oti_snmp access, so no SNMP profile action {options.action!r}")
                continue
            if not t.snmp.profiles:
                continue                 # detected when the step runs; a device without the action fails then
            named = [known[n] for n in t.snmp.profiles if n in known]
            if not any(options.action in p.actions for p in named):
                has = sorted({a for p in named for a in p.actions})
                out.append(f"{t.name}: its SNMP profile {', '.join(t.snmp.profiles)!r} has no action "
                           f"{options.action!r}; it has: {', '.join(has) or 'none'}")
        return out

    async def run(self, ctx: StepContext, target: Device) -> str:
        from agent.transports.snmp.write import snmp_set

        sets = await self._sets(ctx, target)
        await snmp_set(target, ctx.probes, ctx.options.credential, [(s.oid, s.type, v) for s, v in sets])
        if not await self.check(ctx, target):
            raise StepFailed(f"{target.name}: el equipo aceptó la acción «{ctx.options.action}» pero no muestra "
                             "los valores escritos")
        return f"{ctx.options.action}: " + ", ".join(f"{s.oid}={v}" for s, v in sets)

    async def check(self, ctx: StepContext, target: Device) -> bool | None:
        from agent.transports.snmp.write import snmp_get_values

        checked = [(s, v) for s, v in await self._sets(ctx, target) if s.verify != "none"]
        if not checked:
            return None
        try:
            got = await snmp_get_values(target, ctx.probes, ctx.options.credential, [s.oid for s, _ in checked])
        except CheckError:
            return None
        return all(_shows(s.verify, got.get(s.oid), v) for s, v in checked)

    async def _sets(self, ctx: StepContext, target: Device) -> list[tuple]:
        """The action's SETs for this target, values rendered with its parameters (typed as their defaults)."""
        from agent.core import plugins

        having = [p for p in await plugins.check("snmp").profiles_for(target, ctx.probes)
                  if ctx.options.action in p.actions]
        if not having:
            raise StepFailed(f"{target.name}: ningún perfil SNMP del equipo tiene la acción «{ctx.options.action}» "
                             "(`oti-agent discover` muestra qué perfiles responde)")
        action = having[0].actions[ctx.options.action]
        values = dict(action.params)
        for key, raw in ctx.options.params.items():
            text = ctx.render(raw, target) if isinstance(raw, str) else raw
            default = action.params.get(key)
            values[key] = type(default)(text) if isinstance(default, (int, float)) else text
        out = []
        for s in action.sets:
            value = templates.render(s.value, **values) if isinstance(s.value, str) else s.value
            out.append((s, int(float(value)) if s.type in ("i", "u", "t") else value))
        return out


def _profiles(config) -> dict:
    from agent.core import plugins

    return plugins.check("snmp").profiles(config)


def _shows(mode: str, got, written) -> bool:
    """Whether a read-back value shows the SET took effect."""
    if mode == "countdown":
        try:
            return 0 < int(got) <= int(written)
        except (TypeError, ValueError):
            return False
    return str(got) == str(written)
