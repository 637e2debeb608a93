"""Load everything the agent needs from one config file, and cross-check it.

The config names an inventory, an asset matrix and plugins; the inventory names credentials; check
groups name devices; plugins validate what is theirs (the options they are given, the SNMP profiles
devices name). `load_all` validates each file and every cross-reference, and raises one ConfigError
listing every problem found, each with its file and line where one is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.core import assets as assets_mod
from agent.core import config as config_mod
from agent.core import inventory as inventory_mod
from agent.core import plugins
from agent.core.assets import AssetMatrix
from agent.core.config import AgentConfig
from agent.core.inventory import Inventory
from agent.core.yamlfile import load_with_lines
from agent.errors import ConfigError, Problem


@dataclass
class Settings:
    """A validated config with its inventory, asset matrix, and what plugins loaded to validate it."""

    config: AgentConfig
    inventory: Inventory
    path: Path
    assets: AssetMatrix | None = None     # the backup asset matrix, when the config names one
    data: dict[str, Any] = field(default_factory=dict)   # plugin data by name, e.g. "snmp.profiles"


def load_all(path: Path | str) -> Settings:
    """Load the config, its inventory and asset matrix; raise ConfigError with every problem found."""
    path = Path(path)
    try:
        config = config_mod.load(path)
    except ConfigError as err:       # a broken config stops here (nothing else can be located), but
        raise ConfigError(err.problems + _plugin_options(path)) from None   # all its own problems are told
    problems = _plugin_options(path)
    inventory = assets = None
    try:
        inventory = inventory_mod.load(config.path(config.inventory))
    except ConfigError as err:
        problems += err.problems
    if config.backups.matrix is not None:
        try:
            assets, lines = assets_mod.load_located(config.path(config.backups.matrix))
        except ConfigError as err:
            problems += err.problems
        else:
            problems += _check_assets(config, assets, lines)
    settings = Settings(config, inventory, path, assets)
    if inventory is not None:
        problems += _cross_check(config, inventory, str(path))
        for name in plugins.names("checks"):            # each check validates what is its own
            problems += plugins.check(name).settings_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _plugin_options(path: Path) -> list[Problem]:
    """Every check entry and backup backend names a registered plugin and gives it options it takes."""
    try:
        data, lines = load_with_lines(path)
    except ConfigError:
        return []                    # unreadable or not YAML: config.load said so already
    out: list[Problem] = []
    groups = data.get("check_groups") if isinstance(data, dict) else None
    for gi, group in enumerate(groups if isinstance(groups, list) else []):
        entries = group.get("checks") if isinstance(group, dict) else None
        for ci, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict) and isinstance(entry.get("check"), str):
                out += plugins.options_problems("checks", entry, "check", ("check_groups", gi, "checks", ci),
                                                str(path), lines)
    backups = data.get("backups") if isinstance(data, dict) else None
    backends = backups.get("backends") if isinstance(backups, dict) else None
    for name, entry in (backends.items() if isinstance(backends, dict) else []):
        if isinstance(entry, dict) and isinstance(entry.get("type"), str):
            out += plugins.options_problems("backup_backends", entry, "type", ("backups", "backends", name),
                                            str(path), lines)
    return out


def _check_assets(config: AgentConfig, assets: AssetMatrix, lines: dict[tuple, int]) -> list[Problem]:
    file = str(config.path(config.backups.matrix))
    return [Problem(file, f"assets.{i}.backend", lines.get(("assets", i, "backend")),
                    f"asset {a.id}: backend {a.backend!r} is not in the config's backups.backends "
                    f"(known: {', '.join(config.backups.backends) or 'none'})")
            for i, a in enumerate(assets.assets) if a.backend not in config.backups.backends]


def _cross_check(config: AgentConfig, inventory: Inventory, file: str) -> list[Problem]:
    """Every credential a device's access names exists; every device a check group names exists."""
    inv = str(inventory.path)
    out = []
    for d in inventory:
        for name in plugins.transports():
            access = getattr(d, name, None)
            cred = getattr(access, "credential", None)
            if cred is not None and cred not in (getattr(config.credentials, name, None) or {}):
                out.append(Problem(inv, f"{d.name}.oti_{name}.credential", inventory.line_of(d.name, f"oti_{name}"),
                                   f"credential {cred!r} is not in {file} credentials.{name}"))
    for gi, group in enumerate(config.check_groups):
        missing = [n for n in group.targets.names if n not in inventory.by_name]
        if missing:
            out.append(Problem(file, f"check_groups.{gi}.targets.names", None,
                               f"not in the inventory: {', '.join(missing)}"))
    return out
