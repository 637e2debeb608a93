"""Load everything the agent needs from one config file, and cross-check it.

The config names an inventory and profile folders; the inventory names profiles and credentials;
check groups name devices. `load_all` validates each file and every cross-reference, and raises one
ConfigError listing every problem found, each with its file and line where one is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent import config as config_mod
from agent import inventory as inventory_mod
from agent.config import AgentConfig
from agent.errors import ConfigError, Problem
from agent.inventory import Inventory
from agent.backups import assets as assets_mod
from agent.backups.assets import AssetMatrix


@dataclass
class Settings:
    """A validated config with its inventory and SNMP profiles."""

    config: AgentConfig
    inventory: Inventory
    profiles: dict
    path: Path
    assets: AssetMatrix | None = None     # the backup asset matrix, when the config names one


def load_all(path: Path | str) -> Settings:
    """Load the config, its inventory and profiles; raise ConfigError with every problem found."""
    from checks.snmp.profiles import load_profiles

    path = Path(path)
    config = config_mod.load(path)   # a broken config stops here: nothing else can be located
    problems: list[Problem] = []
    inventory = profiles = None
    try:
        inventory = inventory_mod.load(config.path(config.inventory))
    except ConfigError as err:
        problems += err.problems
    try:
        profiles = load_profiles([config.path(p) for p in config.profiles_dirs])
    except ConfigError as err:
        problems += err.problems
    assets = None
    if config.backups.matrix is not None:
        try:
            assets, lines = assets_mod.load_located(config.path(config.backups.matrix))
        except ConfigError as err:
            problems += err.problems
        else:
            problems += _check_assets(config, assets, lines)
    if inventory is not None:
        problems += _cross_check(config, inventory, profiles, str(path))
    if problems:
        raise ConfigError(problems)
    return Settings(config, inventory, profiles, path, assets)


def _check_assets(config: AgentConfig, assets: AssetMatrix, lines: dict[tuple, int]) -> list[Problem]:
    file = str(config.path(config.backups.matrix))
    return [Problem(file, f"assets.{i}.backend", lines.get(("assets", i, "backend")),
                    f"asset {a.id}: backend {a.backend!r} is not in the config's backups.backends "
                    f"(known: {', '.join(config.backups.backends) or 'none'})")
            for i, a in enumerate(assets.assets) if a.backend not in config.backups.backends]


def _cross_check(config: AgentConfig, inventory: Inventory, profiles: dict | None, file: str) -> list[Problem]:
    inv = str(inventory.path)
    out = []

    def problem(device: str, var: str, key: str, message: str) -> None:
        out.append(Problem(inv, f"{device}.{var}.{key}", inventory.line_of(device, var), message))

    for d in inventory:
        if d.snmp:
            if profiles is not None and d.snmp.profile not in profiles:
                problem(d.name, "oti_snmp", "profile",
                        f"unknown profile {d.snmp.profile!r}; known: {', '.join(sorted(profiles))}")
            if d.snmp.credential not in config.credentials.snmp:
                problem(d.name, "oti_snmp", "credential",
                        f"credential {d.snmp.credential!r} is not in {file} credentials.snmp")
        if d.ssh and d.ssh.credential not in config.credentials.ssh:
            problem(d.name, "oti_ssh", "credential", f"credential {d.ssh.credential!r} is not in {file} credentials.ssh")
        if d.winrm and d.winrm.credential not in config.credentials.winrm:
            problem(d.name, "oti_winrm", "credential",
                    f"credential {d.winrm.credential!r} is not in {file} credentials.winrm")
        if d.ipmi and d.ipmi.credential not in config.credentials.ipmi:
            problem(d.name, "oti_ipmi", "credential",
                    f"credential {d.ipmi.credential!r} is not in {file} credentials.ipmi")
    for gi, group in enumerate(config.check_groups):
        missing = [n for n in group.targets.names if n not in inventory.by_name]
        if missing:
            out.append(Problem(file, f"check_groups.{gi}.targets.names", None,
                               f"not in the inventory: {', '.join(missing)}"))
    return out
