"""Walk the groups of an Ansible YAML inventory: check their shape, merge each host's variables.

`all: {hosts, vars, children}`, each child a group of the same shape. Every part is a mapping (or
empty); anything else is a located problem instead of a crash. A host's variable comes from the
host itself (wherever it is listed) or else from the deepest group that sets it, a child group
over its parent, as Ansible does. When Ansible would have to pick silently (a host listed twice
with different values, or two groups neither of which is inside the other setting different
values) the variable is a problem, located where the second value is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.core.yamlfile import line_of
from agent.errors import Problem

GROUP_KEYS = ("hosts", "vars", "children")


@dataclass(frozen=True)
class Source:
    """Where a host's variable is written: on the host, or in a group's vars."""

    value: Any
    group: str
    group_at: tuple            # the YAML path of the group that writes it
    at: tuple                  # the YAML path of the variable itself
    on_host: bool = False


@dataclass
class Walk:
    """What a walk found: hosts with their variables' sources, in inventory order, and problems."""

    file: str
    lines: dict[tuple, int]
    sources: dict[str, dict[str, list[Source]]] = field(default_factory=dict)   # host -> var -> sources
    host_paths: dict[str, tuple] = field(default_factory=dict)
    host_groups: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)      # hosts whose variables are not a mapping: told once

    def group(self, name: str, node: Any, at: tuple, inherited: dict[str, Source]) -> None:
        """Walk one group: its vars (over the inherited ones), its hosts, then its children."""
        node = self._mapping(node, at, f"group {name!r}")
        for key in node:
            if key not in GROUP_KEYS:
                self._problem(at + (key,), f"unknown key {key!r} in group {name!r}: a group has "
                                           f"{', '.join(GROUP_KEYS)} (Ansible would skip it)")
        group_vars = dict(inherited)
        own_vars = self._mapping(node.get("vars"), at + ("vars",), f"vars of group {name!r}")
        for var, value in own_vars.items():
            group_vars[str(var)] = Source(value, name, at, at + ("vars", var))
        hosts = self._mapping(node.get("hosts"), at + ("hosts",), f"hosts of group {name!r}")
        for host, host_vars in hosts.items():
            self._host(str(host), host_vars, name, at, group_vars)
        children = self._mapping(node.get("children"), at + ("children",), f"children of group {name!r}")
        for child, child_node in children.items():
            self.group(str(child), child_node, at + ("children", child), group_vars)

    def _host(self, host: str, host_vars: Any, group: str, group_at: tuple, group_vars: dict[str, Source]):
        at = group_at + ("hosts", host)
        own = self._mapping(host_vars, at, f"the variables of host {host!r}")
        if host_vars is not None and not isinstance(host_vars, dict):
            self.broken.add(host)
        self.host_paths.setdefault(host, at)
        groups = self.host_groups.setdefault(host, [])
        if group != "all" and group not in groups:
            groups.append(group)
        sources = self.sources.setdefault(host, {})
        for var, src in group_vars.items():
            sources.setdefault(var, []).append(src)
        for var, value in own.items():
            sources.setdefault(str(var), []).append(Source(value, group, group_at, at + (var,), on_host=True))

    def merged(self, host: str) -> dict[str, Any]:
        """The host's variables as Ansible resolves them; a conflict is noted as a problem (once)."""
        out = {}
        for var, sources in self.sources[host].items():
            winner, rival = _resolve(sources)
            out[var] = winner.value
            if rival is not None:
                self._conflict(host, var, winner, rival)
        return out

    def _conflict(self, host: str, var: str, kept: Source, other: Source) -> None:
        first, second = sorted((kept, other), key=lambda s: line_of(self.lines, s.at) or 0)
        where = f"line {line_of(self.lines, first.at)}"
        if first.on_host and second.on_host:
            self._problem(second.at, f"host {host!r} is also listed in group {first.group!r} ({where}) with "
                                     f"another {var}: Ansible keeps one of them silently; give it once")
        else:
            self._problem(second.at, f"host {host!r} gets {var} from group {first.group!r} ({where}) and, "
                                     f"with another value, from group {second.group!r}, neither inside the "
                                     "other: Ansible would pick one silently; set it on the host or in one "
                                     "group")

    def _mapping(self, value: Any, at: tuple, what: str) -> dict:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self._problem(at, f"{what} must be a mapping (name: value), not {_kind(value)}")
        return {}

    def _problem(self, at: tuple, message: str) -> None:
        self.problems.append(Problem(self.file, ".".join(map(str, at)), line_of(self.lines, at), message))


def _resolve(sources: list[Source]) -> tuple[Source, Source | None]:
    """The source that wins, and one that differs from it where Ansible's choice would be arbitrary."""
    on_host = [s for s in sources if s.on_host]
    if on_host:
        rival = next((s for s in on_host if s.value != on_host[-1].value), None)
        return on_host[-1], rival
    groups = list({s.at: s for s in sources}.values())         # a group reached twice is one source
    # a group inside another overrides it: keep the innermost of each line of descent
    inner = [s for s in groups if not any(o is not s and o.group_at[:len(s.group_at)] == s.group_at
                                          and len(o.group_at) > len(s.group_at) for o in groups)]
    winner = max(inner, key=lambda s: len(s.group_at))
    rival = next((s for s in inner if s.value != winner.value), None)
    return winner, rival


def _kind(value: Any) -> str:
    return {list: "a list", str: "a text", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__)
