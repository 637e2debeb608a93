"""Turn check groups into jobs: which check runs on which device, with which timeout."""

from __future__ import annotations

from agent.core import plugins
from agent.core.config import CheckGroup
from agent.core.settings import Settings
from agent.errors import InventoryError
from agent.monitoring.runner import Job, build_check


def group_jobs(settings: Settings, group: CheckGroup, device: str | None = None) -> list[Job]:
    """Return the jobs of one check group, optionally only for one device."""
    t = group.targets
    devices = settings.inventory.select(kinds=t.kinds, groups=t.groups, names=t.names,
                                        criticality=t.criticality, sites=t.sites)
    if device is not None:
        devices = [d for d in devices if d.name == device]
    jobs = []
    for entry in group.checks:
        check = build_check(plugins.check(entry.check), entry.options)
        timeout = entry.timeout or group.timeout
        jobs += [Job(check, d, timeout) for d in devices if check.applies(d)]
    return jobs


def all_jobs(settings: Settings, *, group: str | None = None, device: str | None = None) -> dict[str, list[Job]]:
    """Return jobs per check group, filtered by group name and device name."""
    groups = settings.config.check_groups
    if group is not None:
        groups = [g for g in groups if g.name == group]
        if not groups:
            known = ", ".join(g.name for g in settings.config.check_groups)
            raise InventoryError(f"no check group {group!r} in {settings.path}; known: {known}")
    if device is not None and device not in settings.inventory.by_name:
        raise InventoryError(f"unknown device {device!r}; see `oti-agent inventory`")
    return {g.name: group_jobs(settings, g, device) for g in groups}
