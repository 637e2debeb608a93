"""The one plugin registry: checks, step kinds, backup backends, documents and transports.

Each group is an entry-point group (`oti_agent.<group>`, built-ins registered in pyproject.toml). A
plugin is loaded only when its name is used, checked against its group's base, and named after its
entry point. An unknown name lists the known ones; a name registered twice with different targets
is an error. This module is the only door from `agent/` to `checks/`: the bases are named here as
strings and imported when a plugin of that group is first loaded, so no import circle can form.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.errors import PluginNotFound, Problem

# group -> (what a person calls it, the base every plugin of the group derives from or is an instance of)
GROUPS: dict[str, tuple[str, str]] = {
    "checks": ("check", "checks.base:Check"),
    "steps": ("step kind", "agent.runbook.kinds:StepKind"),
    "backup_backends": ("backup backend", "agent.backups.backend:BackupBackend"),
    "documents": ("document", "agent.documents.base:Document"),
    "transports": ("transport", "agent.transports.base:Transport"),
}


@cache
def _entry_points(group: str) -> dict:
    found: dict = {}
    for ep in entry_points(group=f"oti_agent.{group}"):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginNotFound(f"{GROUPS[group][0]} {ep.name!r} is registered twice: {found[ep.name].value} "
                                 f"and {ep.value}")
        found[ep.name] = ep
    return found


def names(group: str) -> list[str]:
    """Return the registered names of a group, sorted."""
    return sorted(_entry_points(group))


def _base(group: str):
    module, _, attr = GROUPS[group][1].partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def load(group: str, name: str) -> Any:
    """Return the plugin registered as `name` in `group`; raise PluginNotFound listing the known names."""
    label = GROUPS[group][0]
    ep = _entry_points(group).get(name)
    if ep is None:
        raise PluginNotFound(f"unknown {label} {name!r}; known {label}s: {', '.join(names(group)) or 'none'}"
                             " (is oti-agent installed with `pip install -e .`?)")
    plugin = ep.load()
    base = _base(group)
    if isinstance(plugin, type):
        if not issubclass(plugin, base):
            raise PluginNotFound(f"{label} {name!r} ({ep.value}) is not a {GROUPS[group][1]}")
        plugin.name = name
    elif not isinstance(plugin, base):
        raise PluginNotFound(f"{label} {name!r} ({ep.value}) is not a {GROUPS[group][1]}")
    return plugin


def load_all(group: str) -> dict[str, Any]:
    """Return every plugin of a group by name (transports and documents: all are needed at once)."""
    return {n: load(group, n) for n in names(group)}


def options_problems(group: str, entry: dict, key: str, where: tuple, file: str,
                     lines: dict[tuple, int]) -> list[Problem]:
    """An entry naming a plugin by `key` with `options`: the plugin must exist and take those options."""
    from agent.core.yamlfile import line_of, problems_from

    try:
        plugin = load(group, entry[key])
    except PluginNotFound as err:
        loc = where + (key,)
        return [Problem(file, ".".join(map(str, loc)), line_of(lines, loc), str(err))]
    options_model: type[BaseModel] = plugin.Options
    try:
        options_model.model_validate(entry.get("options") or {})
    except ValidationError as err:
        return problems_from(err, file, lines, prefix=where + ("options",))
    return []


def check(name: str):
    """The check class registered as `name`."""
    return load("checks", name)


def step_kind(name: str):
    """The step kind class registered as `name`."""
    return load("steps", name)


def backend(name: str):
    """The backup backend class registered as `name`."""
    return load("backup_backends", name)


def transports() -> dict[str, Any]:
    """Every transport (its inventory access and credential models), by name."""
    return load_all("transports")
