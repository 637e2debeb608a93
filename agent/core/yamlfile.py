"""Load YAML keeping each node's line, so a validation error can name the line it is about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agent.errors import ConfigError, Problem

# libyaml's loader when PyYAML was built with it: a 200-step runbook parses in 30 ms, not 300.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_with_lines(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; return the data and a map from YAML path (tuple of keys) to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([Problem(str(path), "", None, f"cannot read file: {err.strerror}")]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()     # one parse: the node tree gives the lines, then the data
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError([Problem(str(path), "", line, f"not valid YAML: {getattr(err, 'problem', err)}")]) from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    """Return the line of the deepest known prefix of a YAML path."""
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def problems_from(err: ValidationError, file: str, lines: dict[tuple, int], prefix: tuple = ()) -> list[Problem]:
    """Turn a pydantic ValidationError into Problems with file, dotted YAML path and line."""
    out = []
    for e in err.errors(include_url=False, include_input=False):
        loc = _yaml_path(prefix + tuple(e["loc"]), lines)
        msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling, or remove it)"
        out.append(Problem(file, ".".join(str(p) for p in loc), line_of(lines, loc), msg))
    return out


def _yaml_path(loc: tuple, lines: dict[tuple, int]) -> tuple:
    """Drop the levels pydantic adds that the YAML has not (the tag of a tagged union, e.g. 'v2c')."""
    out: tuple = ()
    for i, part in enumerate(loc):
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if out + (part,) not in lines and nxt is not None and out + (nxt,) in lines:
            continue
        out += (part,)
    return out


def validate_file(model: type[BaseModel], path: Path, data: Any, lines: dict[tuple, int], **ctx: Any) -> Any:
    """Validate parsed YAML against a model; raise ConfigError listing every problem."""
    try:
        return model.model_validate(data, context=ctx or None)
    except ValidationError as err:
        raise ConfigError(problems_from(err, str(path), lines)) from None


def repeated(values) -> list[str]:
    """The values that appear more than once, sorted (ids and names that must be unique)."""
    values = list(values)
    return sorted({str(v) for v in values if values.count(v) > 1})
