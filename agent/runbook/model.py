"""Runbooks as data: pydantic models, loaded from YAML and validated before anything runs.

A runbook is a graph of steps. Each step cites the manual's activity, names its kind (a
registered step module), its targets (an inventory selector), what it needs, when it applies,
its timeout, retries and verification, and what to do when it fails. `load()` refuses a
runbook with an unknown kind, a cycle, a `needs` on a missing step, a bad condition or a template
that does not parse, naming the file, the step, the key and the line (so `plan` and `run` refuse
it before anything runs)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.core.config import Duration, Selector
from agent.core.yamlfile import line_of, load_with_lines, problems_from
from agent.errors import ConfigError, PluginNotFound, Problem
from agent.runbook import expr
from agent.runbook import template as templates

StepId = str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Param(_Model):
    """A runbook parameter, given with `-p name=value`; `pattern` (a regex the whole value must match)
    and `choices` refuse any other value before anything runs."""

    type: Literal["bool", "str", "int", "float"] = "str"
    default: Any = None
    required: bool = False
    description: str = ""
    pattern: str | None = Field(None, description="regular expression the whole value must match")
    choices: list[Any] | None = Field(None, min_length=1, description="the only values allowed")

    @model_validator(mode="after")
    def _default_allowed(self) -> Param:
        try:
            re.compile(self.pattern or "")
        except re.error as err:
            raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {err}") from None
        if self.default is not None and (why := self.refusal(self.default)):
            raise ValueError(f"the default {why}")
        return self

    def refusal(self, value: Any) -> str | None:
        """Why a value is not allowed (None when it is)."""
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {', '.join(map(str, self.choices))}"
        if self.pattern is not None and re.fullmatch(self.pattern, str(value)) is None:
            return f"{value!r} does not match its pattern {self.pattern}"
        return None

    def coerce(self, raw: Any) -> Any:
        """Convert a command-line string to the parameter's type."""
        if not isinstance(raw, str):
            return raw
        if self.type == "bool":
            if raw.lower() in ("true", "yes", "si", "sí", "1"):
                return True
            if raw.lower() in ("false", "no", "0"):
                return False
            raise ValueError(f"{raw!r} is not a boolean (true/false)")
        return {"str": str, "int": int, "float": float}[self.type](raw)


class Targets(Selector):
    """Which devices a step acts on; `roles` matches the inventory's `oti_role`."""

    roles: list[str] = []
    optional: bool = Field(False, description="an office without such equipment (no tape library) skips the "
                           "step instead of refusing the run")


class Condition(_Model):
    """A post-condition checked through a probe, polled until it holds or `within` runs out.

    probe: ipmi_power (state on/off) · tcp (port open/closed; the device's SSH port when `port` is
    not given) · ssh (command exits 0) · oracle (the device's oti_oracle.status_command exits 0) ·
    snmp (a reading of the device's profile equals a value) · http (GET `url` answers `status`;
    `{address}` in the url is the device's address) · powered (state on/off, through whatever the device
    has: its BMC's power state, else whether its SNMP agent answers, else its SSH port)."""

    probe: Literal["ipmi_power", "tcp", "ssh", "snmp", "oracle", "http", "powered"]
    state: Literal["on", "off", "open", "closed"] | None = None
    port: int | None = Field(None, ge=1, le=65535)
    command: str | None = None
    reading: str | None = None
    equals: str | float | None = None
    url: str | None = None
    status: int = Field(200, ge=100, le=599)
    within: Duration = 60.0
    every: Duration = 1.0

    @model_validator(mode="after")
    def _complete(self) -> Condition:
        need = {"ipmi_power": ("state",), "tcp": ("state",), "ssh": ("command",), "oracle": (),
                "snmp": ("reading", "equals"), "http": ("url",), "powered": ("state",)}[self.probe]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"probe {self.probe} needs {', '.join(missing)}")
        return self


class Step(_Model):
    """One step of a runbook."""

    id: StepId = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    activity: int | list[int]
    name: str
    kind: str
    with_: dict[str, Any] = Field({}, alias="with")
    targets: Targets | None = None
    order: Literal["startup", "shutdown"] = Field(
        "startup", description="startup: critico first, then oti_order ascending; shutdown: the reverse")
    parallel: int = Field(1, ge=1, le=1000)
    needs: list[StepId] = []
    when: str | None = None
    timeout: Duration = 300.0
    retries: int = Field(0, ge=0, le=20)
    retry_delay: Duration = 2.0
    verify: Condition | None = None
    on_failure: Literal["stop", "continue", "ask"] = "stop"
    back_to: StepId | None = Field(None, description="when it fails, send the run back to this earlier step first "
                                   "(the manual's «No: regresa a la actividad N»), at most `back_times` times; "
                                   "then on_failure applies")
    back_times: int = Field(1, ge=1, le=10)
    checklist: str | None = Field(None, description="what the checklist line says was done (default: name)")
    estimate: Duration | None = Field(None, description="expected seconds per wave of targets, for the plan")

    @property
    def activities(self) -> list[int]:
        """Return the activity numbers as a list."""
        return [self.activity] if isinstance(self.activity, int) else list(self.activity)


class Runbook(_Model):
    """A procedure of the manual, as a graph of steps."""

    id: str
    title: str
    procedure: str
    description: str = ""
    params: dict[str, Param] = {}
    start_roles: list[str] = Field([], description="who may start it (empty: any operator — the especialistas, "
                                   "the coordinador, the jefa)")
    steps: list[Step] = Field(min_length=1)
    source: str = Field("", exclude=True)
    digest: str = Field("", exclude=True)

    def step(self, step_id: str) -> Step:
        """Return a step by id."""
        return next(s for s in self.steps if s.id == step_id)

    def step_or_none(self, step_id: str) -> Step | None:
        """Return a step by id, or None."""
        return next((s for s in self.steps if s.id == step_id), None)

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Return every parameter's value: given ones coerced, the rest defaulted."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ConfigError(f"runbook {self.id}: unknown parameter(s) {', '.join(unknown)}; "
                              f"known: {', '.join(self.params) or 'none'}")
        missing = [n for n, p in self.params.items() if p.required and n not in given]
        if missing:
            raise ConfigError(f"runbook {self.id}: missing parameter(s) "
                              + ", ".join(f"{n} ({self.params[n].description or self.params[n].type})" for n in missing)
                              + "; give each with -p name=value")
        out = {}
        for name, p in self.params.items():
            try:
                out[name] = p.coerce(given[name]) if name in given else p.default
            except ValueError as err:
                raise ConfigError(f"runbook {self.id}: parameter {name}: {err}") from None
            why = p.refusal(out[name]) if name in given else None
            if why:
                raise ConfigError(f"runbook {self.id}: parameter {name}: {why}; give a value that does "
                                  f"({p.description or p.type})")
        return out


def _graph_problems(book: dict, file: str, lines: dict) -> list[Problem]:
    """Check ids, needs, cycles, conditions and kinds on the raw data; locate each problem."""
    from agent.runbook.kinds import load_kind

    steps = [s for s in book.get("steps") or [] if isinstance(s, dict)]
    ids = [s.get("id") for s in steps]
    out: list[Problem] = []

    def add(i: int, key: str, msg: str) -> None:
        loc = ("steps", i, key) if key else ("steps", i)
        out.append(Problem(file, f"steps[{ids[i]}].{key}" if key else f"steps[{ids[i]}]", line_of(lines, loc), msg))

    for i, s in enumerate(steps):
        if ids.count(s.get("id")) > 1:
            add(i, "id", f"step id {s.get('id')!r} is used twice")
        for need in s.get("needs") or []:
            if need not in ids:
                add(i, "needs", f"needs unknown step {need!r}")
        if isinstance(s.get("when"), str):
            try:
                expr.parse(s["when"])
                for ref in expr.step_refs(s["when"]):
                    if ref not in ids:
                        add(i, "when", f"condition names unknown step {ref!r}")
            except expr.ExprError as err:
                add(i, "when", str(err))
        if isinstance(s.get("kind"), str):
            try:
                kind = load_kind(s["kind"])
            except PluginNotFound as err:
                add(i, "kind", str(err))
                continue
            try:
                kind.Options.model_validate(s.get("with") or {})
            except ValidationError as err:
                out += [Problem(p.file, p.path.replace(f"steps.{i}.", f"steps[{ids[i]}]."), p.line, p.message)
                        for p in problems_from(err, file, lines, prefix=("steps", i, "with"))]
            if kind.needs_targets and not s.get("targets"):
                add(i, "targets", f"a {s['kind']} step needs targets")
    out += _template_problems(steps, ids, file, lines)
    graph = {s.get("id"): list(s.get("needs") or []) for s in steps}
    cycle = _find_cycle(graph)
    if cycle:
        out.append(Problem(file, "steps", line_of(lines, ("steps",)), f"needs form a cycle: {' -> '.join(cycle)}"))
        return out
    for i, s in enumerate(steps):
        options = s.get("with") if isinstance(s.get("with"), dict) else {}
        for key, goto in ((("with", "on_reject"), options.get("on_reject")), (("back_to",), s.get("back_to"))):
            if isinstance(goto, str) and goto not in _ancestors(graph, s.get("id")):
                out.append(Problem(file, f"steps[{ids[i]}].{'.'.join(key)}", line_of(lines, ("steps", i, *key)),
                                   f"{key[-1]} must name a step this one comes after (through needs); "
                                   f"{goto!r} is not"))
    return out


def _ancestors(graph: dict, step: str) -> set[str]:
    """The steps `step` needs, directly or through others."""
    seen: set[str] = set()
    todo = list(graph.get(step, []))
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo += graph.get(s, [])
    return seen


def _template_problems(steps: list[dict], ids: list, file: str, lines: dict) -> list[Problem]:
    """Parse every string a step renders (its `with:` and its target names) as the steps will."""
    out = []
    for i, s in enumerate(steps):
        found = list(_strings(s.get("with"), ("with",)))
        if isinstance(s.get("targets"), dict):
            found += _strings(s["targets"].get("names"), ("targets", "names"))
        for key, text in found:
            why = templates.syntax_error(text)
            if why:
                out.append(Problem(file, ".".join([f"steps[{ids[i]}]", *map(str, key)]),
                                   line_of(lines, ("steps", i, *key)), why))
    return out


def _strings(value: Any, key: tuple):
    """Every string inside a YAML value, with its key path."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*key, k))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _strings(v, (*key, n))


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def load(path: Path | str) -> Runbook:
    """Read and validate a runbook file; raise ConfigError naming file, step and key for each problem."""
    path = Path(path)
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "", 1, "a runbook must be a YAML mapping")])
    problems = _graph_problems(data, str(path), lines)
    book = None
    try:
        text = path.read_bytes()
        book = Runbook.model_validate({**data, "source": str(path), "digest": hashlib.sha256(text).hexdigest()})
    except ValidationError as err:
        ids = [s.get("id") if isinstance(s, dict) else None for s in data.get("steps") or []]
        for p in problems_from(err, str(path), lines):
            parts = p.path.split(".")
            if len(parts) > 1 and parts[0] == "steps" and parts[1].isdigit() and int(parts[1]) < len(ids):
                p = Problem(p.file, ".".join([f"steps[{ids[int(parts[1])]}]", *parts[2:]]), p.line, p.message)
            problems.append(p)
    if problems:
        raise ConfigError(problems)
    return book


def find(name: str, folder: Path, *, any_file: bool = False) -> Path:
    """Return the runbook file of a name ('datacenter-shutdown') in `folder`, never a file elsewhere: a name
    from a form or the API must not pick a YAML file of its choosing. `any_file`: a path to a runbook file
    is taken as it is (the local CLI's `plan FILE`, for a runbook being written)."""
    candidate = Path(name)
    if any_file and candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in (".yaml", ".yml") else name
    path = folder / f"{stem}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", stem) or not path.resolve().is_relative_to(folder.resolve()):
        raise ConfigError(f"{name!r} is not a runbook name (letters, digits, '.', '_' and '-')")
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise ConfigError(f"no runbook {name!r} in {folder}; known: {known}")
    return path
