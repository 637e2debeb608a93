"""The `agent_present` check: does each device have its monitoring agent (S.04.04.01.03_P, activities 2–5).

Activity 2 asks it of application servers, 3 of database servers, 4 of network equipment and the
datacenter's support systems (UPS, precision AC...). A device whose agent or SNMP sensor is missing
is a finding that points at activity 5 (install and configure it) — never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import CheckError, ConfigError
from agent.transports.snmp import codec, open_session
from checks.base import Check, ProbeContext
from checks.ssh_host import SERVICE_NAME

SYS_UPTIME = codec.encode_oid("1.3.6.1.2.1.1.3.0")
_SERVICE_SCRIPT = r"""s={name}
if command -v systemctl >/dev/null 2>&1 && systemctl cat "$s" >/dev/null 2>&1; then installed=yes
elif command -v "$s" >/dev/null 2>&1 || [ -x "/usr/sbin/$s" ] || [ -x "/usr/bin/$s" ]; then installed=yes
else installed=no; fi
if [ -d /run/systemd/system ]; then st=$(systemctl is-active "$s" 2>/dev/null)
elif pgrep -x "$s" >/dev/null 2>&1; then st=active; else st=inactive; fi
echo "installed=$installed state=$st"
"""


def activity_for(device: Device) -> int:
    """Return the manual's activity that checks this kind of device (2 apps, 3 databases, 4 the rest)."""
    if device.kind == "db":
        return 3
    if device.kind in ("server_physical", "server_virtual", "backup"):
        return 2
    return 4


@dataclass
class AgentFinding:
    """What was found about one device's monitoring agent."""

    agent: str
    present: bool | None       # None: could not tell
    detail: str


class AgentPresentCheck(Check):
    """Check that each device's monitoring agent or SNMP sensor is installed and answering."""

    description = "is the device's monitoring agent (SNMP or a named service) installed and running"

    async def collect(self, device: Device, ctx: ProbeContext) -> AgentFinding:
        mon = device.monitoring
        if mon is None and device.snmp is not None:
            return await self._snmp(device, ctx)
        if mon is None:
            return AgentFinding("-", False, "el inventario no declara agente de monitoreo (oti_monitoring)")
        if mon.type == "snmp":
            if device.snmp is None:
                return AgentFinding("snmp", False, "declara agente SNMP pero no tiene acceso oti_snmp")
            return await self._snmp(device, ctx)
        return await self._service(device, ctx, mon.service or "")

    async def _snmp(self, device: Device, ctx: ProbeContext) -> AgentFinding:
        try:
            varbinds = await open_session(device, ctx).get([SYS_UPTIME])
        except CheckError as err:
            return AgentFinding("snmp", False, f"el agente SNMP no responde: {err}")
        if not varbinds or varbinds[0][1] in codec.EXCEPTIONS:
            return AgentFinding("snmp", False, "el agente SNMP responde sin sysUpTime")
        return AgentFinding("snmp", True, "el agente SNMP responde")

    async def _service(self, device: Device, ctx: ProbeContext, name: str) -> AgentFinding:
        if not SERVICE_NAME.match(name):
            raise ConfigError(f"device {device.name}: oti_monitoring.service {name!r} is not a service name")
        if device.ssh is None:
            return AgentFinding(name, None, "no se puede verificar: el equipo no tiene acceso oti_ssh")
        try:
            _status, out, _err = await ctx.ssh(device, _SERVICE_SCRIPT.replace("{name}", name), 8.0)
        except CheckError as err:
            return AgentFinding(name, None, f"no se puede verificar por SSH: {err}")
        fields = dict(p.split("=", 1) for p in out.split() if "=" in p)
        if fields.get("installed") != "yes" and fields.get("state") != "active":
            return AgentFinding(name, False, f"el agente {name} no está instalado")
        if fields.get("state") != "active":
            return AgentFinding(name, False, f"el agente {name} está instalado pero no en ejecución")
        return AgentFinding(name, True, f"el agente {name} está instalado y en ejecución")

    def evaluate(self, raw: AgentFinding, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        activity = activity_for(device)
        labels = (("agent", raw.agent),)
        if raw.present:
            return [Reading("monitoring_agent_present", 1.0, State.OK, "", labels, raw.detail,
                            help="Whether the device's monitoring agent is installed and answering",
                            message=f"actividad {activity}: conforme")]
        state = State.UNKNOWN if raw.present is None else State.CRITICAL
        follow = "" if raw.present is None else "; corresponde la actividad 5 (instalar y configurar el agente)"
        return [Reading("monitoring_agent_present", None if raw.present is None else 0.0, state, "", labels,
                        raw.detail, help="Whether the device's monitoring agent is installed and answering",
                        message=f"actividad {activity}: {raw.detail}{follow}")]
