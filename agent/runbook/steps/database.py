"""The `oracle` step: stop and start Data Guard apply and the instances by the commands configured
for each database host (`oti_oracle` in the inventory), or query its status through python-oracledb."""

from __future__ import annotations

from typing import Literal

from agent.core.inventory import Device
from agent.errors import CheckError, ConfigError, StepFailed
from agent.runbook.kinds import StepContext, StepKind, StepOptions
from agent.transports.oracle import query_status

ACTIONS = {"stop_replication": "detiene la replicación", "start_replication": "inicia la replicación",
           "stop_instance": "baja la instancia", "start_instance": "levanta la instancia"}


class OracleOptions(StepOptions):
    """What to do to each database."""
    action: Literal["stop_replication", "start_replication", "stop_instance", "start_instance", "status"]


class Oracle(StepKind):
    """Act on Oracle databases through their configured commands, or ask their status."""

    Options = OracleOptions
    needs_targets = True
    estimate_s = 30.0

    def describe(self, options: OracleOptions) -> str:
        return "Oracle: " + ACTIONS.get(options.action, "consulta el estado (python-oracledb)")

    async def run(self, ctx: StepContext, target: Device) -> str:
        if target.oracle is None:
            raise ConfigError(f"device {target.name} has no oti_oracle in the inventory")
        if ctx.options.action == "status":
            healthy, text = await query_status(target, ctx.probes)
            if not healthy:
                raise StepFailed(text)
            return text
        command = target.oracle.command(ctx.options.action)
        status, out, err = await ctx.probes.ssh(target, command, 60.0)
        if status != 0:
            raise StepFailed(f"{target.name}: `{command}` terminó con {status}: {(err or out).strip()[-300:]}")
        return f"{ACTIONS[ctx.options.action]} {target.oracle.database} en {target.name}"

    async def check(self, ctx: StepContext, target: Device) -> bool | None:
        """An instance's state can be read back with its status command; replication's cannot."""
        action = ctx.options.action
        if action not in ("stop_instance", "start_instance") or target.oracle is None:
            return None
        try:
            status, _out, _err = await ctx.probes.ssh(target, target.oracle.command("status_command"), 30.0)
        except CheckError:
            return None
        return (status == 0) == (action == "start_instance")
