"""Find check plugins through the `oti_agent.checks` entry points; load one only when it is used."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from agent.errors import PluginNotFound

GROUP = "oti_agent.checks"


@cache
def _entry_points() -> dict:
    found = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise RuntimeError(f"check name {ep.name!r} is registered twice: {found[ep.name].value} and {ep.value}")
        found[ep.name] = ep
    return found


def check_names() -> list[str]:
    """Return the names of every registered check, sorted."""
    return sorted(_entry_points())


@cache
def load_check(name: str):
    """Return the check class registered under `name`; raise PluginNotFound listing the known names."""
    from checks.base import Check

    ep = _entry_points().get(name)
    if ep is None:
        raise PluginNotFound(f"unknown check {name!r}; known checks: {', '.join(check_names()) or 'none'}"
                             " (is oti-agent installed with `pip install -e .`?)")
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Check)):
        raise PluginNotFound(f"entry point {name!r} ({ep.value}) is not a checks.base.Check subclass")
    cls.name = name
    return cls
