"""Load everything the agent needs from one config file, and cross-check it.

The config names an inventory, an asset matrix and plugins; the inventory names credentials; check
groups name devices; plugins validate what is theirs (the options they are given, the SNMP profiles
devices name). `load_all` validates each file and every cross-reference (`settings_rules`), and raises
one ConfigError listing every problem found, each with its file and line where one is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.core import assets as assets_mod
from agent.core import config as config_mod
from agent.core import config_rules, plugins, yamlfile
from agent.core import inventory as inventory_mod
from agent.core import settings_rules as cross
from agent.core.assets import AssetMatrix
from agent.core.config import AgentConfig
from agent.core.inventory import Inventory
from agent.core.people import People
from agent.core.yamlfile import line_of, problems_from
from agent.errors import ConfigError, Problem


@dataclass
class Settings:
    """A validated config with its inventory, asset matrix, and what plugins loaded to validate it."""

    config: AgentConfig
    inventory: Inventory
    path: Path
    assets: AssetMatrix | None = None     # the backup asset matrix, when the config names one
    data: dict[str, Any] = field(default_factory=dict)   # plugin data by name, e.g. "snmp.profiles"
    people: People = field(default_factory=lambda: People(config_mod.PeopleSection()))


def load_all(path: Path | str, *, strict: bool = False) -> Settings:
    """Load the config, its inventory and asset matrix; raise ConfigError with every problem found.

    `strict` is what `oti-agent config check` asks besides: every secret reference resolved now (a
    variable unset or a file missing is a problem) and every check group's timeout below its interval
    (`config_rules.strict_problems`)."""
    path, file = Path(path), str(path)
    try:
        config, lines = config_mod.load_located(path)
    except ConfigError as err:       # a broken config stops the cross-checks; all its own problems are told
        raise ConfigError(err.problems + _plugin_options(path) + _inventory_anyway(path)) from None
    problems = _plugin_options(path)
    if strict:
        problems += config_rules.strict_problems(config, file, lines)
    inventory, found = _named_file(config.path(config.inventory), ("inventory",), file, lines,
                                   inventory_mod.load)
    problems += found
    assets = None
    if config.backups.matrix is not None:
        located, found = _named_file(config.path(config.backups.matrix), ("backups", "matrix"), file, lines,
                                     assets_mod.load_located)
        problems += found
        if located is not None:
            assets = located[0]
            problems += _check_assets(config, *located)
    people, found = _people(config, file, lines)
    problems += found
    settings = Settings(config, inventory, path, assets, people=people)
    if inventory is not None:
        problems += cross.access_problems(config, inventory, file)
        problems += cross.selector_problems(config, inventory, file, lines)
        for name in plugins.names("checks"):            # each check validates what is its own
            problems += plugins.check(name).settings_problems(settings)
        problems += cross.threshold_problems(inventory, settings.data)
    if problems:
        raise ConfigError(problems)
    return settings


def _people(config: AgentConfig, file: str, lines: dict[tuple, int]) -> tuple[People, list[Problem]]:
    """The people registry: the config's persons, units and deputies plus those of `people.file`."""
    section, extra, where = config.people, {}, (file, lines, ("people",))
    if section.file is not None:
        target = config.path(section.file)
        loaded, found = _named_file(target, ("people", "file"), file, lines, _people_file)
        if found:
            return People(section), found
        extra, plines = loaded
        where = (str(target), plines, ())
    try:
        people = People(section, extra)
    except ValueError as err:            # pydantic's, for an entry of the people file
        return People(section), [Problem(where[0], "people", None, str(err).splitlines()[0])]
    return people, cross.people_problems(people, section, *where)


def _people_file(target: Path):
    data, plines, _repeated = yamlfile.load_located(target)
    if not isinstance(data, dict) or not set(data) <= {"persons", "units", "deputies"}:
        raise ConfigError([Problem(str(target), "", 1, "a people file is a mapping with persons, units and "
                                   "deputies (lists)")])
    from pydantic import ValidationError

    from agent.core.people import Deputy, Person, Unit

    problems = []
    for key, model in (("persons", Person), ("units", Unit), ("deputies", Deputy)):
        for i, entry in enumerate(data.get(key) or []):
            try:
                model.model_validate(entry)
            except ValidationError as err:
                problems += problems_from(err, str(target), plines, (key, i))
    if problems:
        raise ConfigError(problems)
    return data, plines


def _named_file(target: Path, loc: tuple, file: str, lines: dict[tuple, int],
                loader) -> tuple[Any, list[Problem]]:
    """Load a file the config names; one that is not there is told at the config's key that names it."""
    if not target.is_file():
        why = "it is a folder" if target.is_dir() else "there is no such file"
        return None, [Problem(file, ".".join(loc), line_of(lines, loc), f"cannot read {target}: {why}")]
    try:
        return loader(target), []
    except ConfigError as err:
        return None, err.problems


def _inventory_anyway(path: Path) -> list[Problem]:
    """The problems of the inventory a broken config names, so that both files' are listed at once."""
    try:
        data, _lines, _repeated = yamlfile.load_located(path)
    except ConfigError:
        return []
    name = data.get("inventory") if isinstance(data, dict) else None
    target = path.resolve().parent / name if isinstance(name, str) else None
    if target is None or not target.is_file():
        return []                    # nothing to read: the config's own problems say enough
    try:
        inventory_mod.load(target)
    except ConfigError as err:
        return err.problems
    return []


def _plugin_options(path: Path) -> list[Problem]:
    """Every check entry and backup backend names a registered plugin and gives it options it takes."""
    try:
        data, lines, _repeated = yamlfile.load_located(path)
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
