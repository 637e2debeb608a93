"""The inventory: an Ansible YAML inventory whose `oti_` host variables describe each device.

The same file drives ansible-runner, so it keeps Ansible's shape
(`all: children: <group>: hosts: <name>: {vars}`); group `vars:` are inherited by their hosts
(`agent/core/ansible_groups.py` walks them). Only `oti_` variables are ours and validated (unknown
`oti_` keys are errors); the rest is Ansible's.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from agent.core.ansible_groups import Walk
from agent.core.thresholds import Thresholds
from agent.core.yamlfile import line_of, load_located, problems_from
from agent.errors import InventoryError, Problem

# electrical_panel and generator: the tableros eléctricos and the grupo electrógeno the team watches (disaster
# procedure, activity 3), read by a profile where they speak SNMP or by a person's confirmation
KINDS = ("ups", "ac", "switch", "server_physical", "server_virtual", "db", "storage", "backup",
         "tape_library", "pbx", "fire", "antiflood", "firewall", "router", "electrical_panel", "generator")
Kind = Literal["ups", "ac", "switch", "server_physical", "server_virtual", "db", "storage", "backup",
               "tape_library", "pbx", "fire", "antiflood", "firewall", "router", "electrical_panel", "generator"]
Criticality = Literal["critico", "no_critico"]


class _Vars(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VendorContact(_Vars):
    """Who to escalate to about this equipment (manual S.04.04.01.03_P, activity 9)."""

    name: str
    email: str | None = None
    phone: str | None = None
    contract: str | None = None


class MonitoringAgent(_Vars):
    """The monitoring agent a host must have (activities 2–4): its SNMP service or a named service."""

    type: Literal["snmp", "service"]
    service: str | None = Field(None, description="for type 'service': the systemd unit or process name")


class Device(_Vars):
    """One piece of equipment, as the inventory describes it; the transports add their `oti_<name>`
    access (`device.snmp`, `device.ssh`, `device.ipmi`...; None when the device has none)."""

    name: str
    address: str
    groups: tuple[str, ...] = ()
    kind: Kind = Field(alias="oti_kind")
    criticality: Criticality = Field("no_critico", alias="oti_criticality")
    order: int = Field(100, alias="oti_order", description="shutdown/startup order within its kind")
    site: str = Field("sede-central", alias="oti_site")
    location: str | None = Field(None, alias="oti_location")
    description: str | None = Field(None, alias="oti_description")
    role: str | None = Field(None, alias="oti_role")
    vendor: VendorContact | None = Field(None, alias="oti_vendor")
    services: tuple[str, ...] = Field((), alias="oti_services")
    monitoring: MonitoringAgent | None = Field(None, alias="oti_monitoring")
    tcp_ports: tuple[int, ...] = Field((), alias="oti_tcp_ports")
    urls: tuple[str, ...] = Field((), alias="oti_urls")
    power: tuple[str, ...] = Field((), alias="oti_power",
                                   description="the UPS devices that feed it: a UPS's power events concern it")
    hypervisor: str | None = Field(None, alias="oti_hypervisor",
                                   description="for a virtual server: the inventory name of its host")
    thresholds: dict[str, Thresholds] = Field({}, alias="oti_thresholds",
                                              description="reading name -> limits overriding the profile's")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("urls")
    @classmethod
    def _no_userinfo(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        if any("@" in urlsplit(u).netloc for u in urls):
            raise ValueError("a user or password in a URL would be shown in readings, logs and /metrics: "
                             "remove 'user:password@' (the http check sends no credentials)")
        return urls


@cache
def device_model() -> type[Device]:
    """The model devices are validated with: `Device` plus one `oti_<name>` field per registered transport
    (built on first use: transports are plugins, and a new one needs no edit here)."""
    from agent.core.plugins import transports

    fields = {name: (t.access | None, Field(None, alias=t.inventory_key))
              for name, t in transports().items() if t.access is not None}
    return create_model("Device", __base__=Device, **fields)


class Inventory:
    """The devices of an inventory file, in a stable order."""

    def __init__(self, devices: Iterable[Device], path: Path | None = None,
                 lines: dict[tuple, int] | None = None, host_paths: dict[str, tuple] | None = None):
        self.devices = sorted(devices, key=lambda d: (KINDS.index(d.kind), d.order, d.name))
        self.by_name = {d.name: d for d in self.devices}
        self.path = path
        self._lines, self._host_paths = lines or {}, host_paths or {}

    def line_of(self, device: str, *keys: str) -> int | None:
        """Return the inventory line of a device's variable, for error messages."""
        return line_of(self._lines, self._host_paths.get(device, ()) + keys)

    def where(self, device: str, *keys: str) -> tuple[str, int | None]:
        """The dotted YAML path and the line of a device's variable (`all.children.g.hosts.d.oti_snmp`)."""
        at = self._host_paths.get(device, (device,)) + keys
        return ".".join(map(str, at)), line_of(self._lines, at)

    def __iter__(self):
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def select(self, *, kinds=(), groups=(), names=(), criticality=(), sites=()) -> list[Device]:
        """Return the devices matching every non-empty criterion, in inventory order."""
        unknown = [n for n in names if n not in self.by_name]
        if unknown:
            raise InventoryError(f"unknown device(s) {', '.join(unknown)} in {self.path}; "
                                 f"see `oti-agent inventory` for the names")
        return [d for d in self.devices
                if (not kinds or d.kind in kinds) and (not names or d.name in names)
                and (not groups or set(groups) & set(d.groups))
                and (not criticality or d.criticality in criticality) and (not sites or d.site in sites)]


def load(path: Path | str) -> Inventory:
    """Read an Ansible YAML inventory; raise InventoryError listing every problem with its line."""
    path = Path(path)
    data, lines, problems = load_located(path)
    if not isinstance(data, dict) or not isinstance(data.get("all"), dict):
        raise InventoryError(problems + [Problem(str(path), "all", 1, "an inventory must start with 'all:' "
                                                 "(Ansible YAML inventory format)")])
    walk = Walk(str(path), lines)
    walk.group("all", data["all"], ("all",), {})
    devices = []
    for name in walk.sources:
        if name in walk.broken:
            continue
        merged = walk.merged(name)
        ours = {k: v for k, v in merged.items() if k.startswith("oti_")}
        address = merged.get("ansible_host", name)
        try:
            devices.append(device_model().model_validate(
                {**ours, "name": name, "address": str(address), "groups": tuple(walk.host_groups[name])}))
        except ValidationError as err:
            problems += problems_from(err, str(path), lines, prefix=walk.host_paths[name])
    problems += walk.problems
    if problems:
        raise InventoryError(problems)
    if not devices:
        raise InventoryError([Problem(str(path), "all", line_of(lines, ("all",)), "the inventory has no hosts")])
    return Inventory(devices, path, lines, walk.host_paths)
