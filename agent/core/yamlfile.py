"""Load YAML keeping each node's line, so a validation error can name the line it is about.

The file is parsed to a node tree first, and the tree is judged before any Python object is built:
aliases that would expand it without end (a "billion laughs"), an alias of itself, nesting deeper
than any config needs, and a key written twice in one mapping (YAML keeps the later one silently)
are refused with their line. Every loader of the agent (config, inventory, runbooks, profiles,
forms, the asset matrix) reads through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agent.errors import ConfigError, Problem

# libyaml's loader when PyYAML was built with it: a 200-step runbook parses in 30 ms, not 300.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"

MAX_ALIASED_NODES = 10_000
"""Nodes that aliases may add to a document beyond those written in it: far more than any config of
ours repeats with anchors, far fewer than a bomb (7 levels of 9 aliases are 48 million nodes)."""
MAX_DEPTH = 100
"""Levels of nesting: the deepest shipped file has under 10; near 1000, building the data (and
validating it) overflows Python's stack, a crash instead of a located error."""


def load_with_lines(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; return the data and a map from YAML path (tuple of keys) to line number.
    Raise ConfigError for a file that cannot be read or parsed, or that repeats a key."""
    data, lines, repeated_keys = load_located(path)
    if repeated_keys:
        raise ConfigError(repeated_keys)
    return data, lines


def load_located(path: Path) -> tuple[Any, dict[tuple, int], list[Problem]]:
    """Like `load_with_lines`, but a repeated key is returned as a Problem (the later value kept, as
    YAML does) so that a caller can list it together with the problems it finds itself."""
    file = str(path)
    text = _read(path)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as err:
            raise ConfigError([_yaml_problem(file, err)]) from None
        if node is None:
            return None, {}, []
        paths = _judge_expansion(node, file)        # before anything walks the aliases' expansion
        lines, repeated_keys = _index(node, file)
        return _construct(loader, node, file, paths), lines, repeated_keys
    finally:
        loader.dispose()


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError([Problem(str(path), "", None, f"cannot read file: {err.strerror}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError([Problem(str(path), "", line, f"not UTF-8 text (byte {err.start}): save the file "
                                                        "as UTF-8")]) from None


def _yaml_problem(file: str, err: yaml.YAMLError) -> Problem:
    mark = getattr(err, "problem_mark", None)
    line = mark.line + 1 if mark else None
    return Problem(file, "", line, f"not valid YAML: {getattr(err, 'problem', err)}")


def _children(node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    """A node's children with the path step to each (None for a mapping's key nodes)."""
    if isinstance(node, yaml.MappingNode):
        return [pair for k, v in node.value for pair in ((None, k), (k.value, v))]
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    return []


def _judge_expansion(root: yaml.Node, file: str) -> dict[int, tuple[yaml.Node, tuple]]:
    """Count the nodes the tree holds once every alias is expanded, without expanding any: each node's
    expanded size once, children first. Refuse an alias of itself, and a tree that aliases grow past
    MAX_ALIASED_NODES. Return each node with its first YAML path in the document, by node id."""
    size: dict[int, int] = {}
    paths: dict[int, tuple] = {}
    nodes: dict[int, yaml.Node] = {}
    uses_alias: set[int] = set()                    # nodes holding a node met before
    open_: set[int] = set()                         # the nodes on the way down to the one at hand
    stack: list[tuple[yaml.Node, tuple, int | None, bool]] = [(root, (), None, False)]
    while stack:
        node, path, parent, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size[id(c)] for _, c in _children(node))
        elif key in open_:
            raise ConfigError([Problem(file, _dotted(paths[key]), node.start_mark.line + 1,
                                       "an alias of this node is inside it (a structure that contains "
                                       "itself): write the values out")])
        elif key in paths:
            uses_alias.add(parent)
        else:
            paths[key], nodes[key] = path, node
            open_.add(key)
            stack.append((node, path, parent, True))
            stack += [(child, path if step is None else path + (step,), key, False)
                      for step, child in reversed(_children(node))]
    if size[id(root)] - len(size) > MAX_ALIASED_NODES:
        # name the smallest node that uses an alias and is already too big: where the bomb goes off
        too_big = [k for k in uses_alias if size[k] > MAX_ALIASED_NODES]
        spot = min(too_big, key=size.__getitem__, default=id(root))
        raise ConfigError([Problem(file, _dotted(paths[spot]), nodes[spot].start_mark.line + 1,
                                   f"aliases here expand to {size[spot]:,} nodes (more than the "
                                   f"{MAX_ALIASED_NODES:,} aliases may add to a file): an alias bomb? "
                                   "write the values out")])
    return {k: (nodes[k], paths[k]) for k in paths}


def _index(root: yaml.Node, file: str) -> tuple[dict[tuple, int], list[Problem]]:
    """The line of every YAML path (a mapping's value: its key's line), and the keys written twice."""
    lines: dict[tuple, int] = {}
    repeated_keys: dict[int, Problem] = {}          # by key node: an aliased mapping is met more than once
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise ConfigError([Problem(file, _dotted(path[:MAX_DEPTH]), node.start_mark.line + 1,
                                       f"nested deeper than {MAX_DEPTH} levels: no file of the agent "
                                       "needs that")])
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            stack += [(item, path + (i,)) for i, item in reversed(list(enumerate(node.value)))]
        elif isinstance(node, yaml.MappingNode):
            for key, (key_node, value_node) in reversed(_entries(node, path, file, repeated_keys).items()):
                lines[path + (key,)] = key_node.start_mark.line + 1
                stack.append((value_node, path + (key,)))
    return lines, list(repeated_keys.values())


def _entries(node: yaml.MappingNode, path: tuple, file: str, repeated_keys: dict[int, Problem]) -> dict:
    """A mapping's entries as the constructor will build them: the last of a repeated key (noted as a
    problem), then the keys merged in with `<<:` that are not written here."""
    entries: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        first = entries.get(key_node.value)
        if first is not None and first[0].tag == key_node.tag:
            repeated_keys.setdefault(id(key_node), Problem(
                file, _dotted(path + (key_node.value,)), key_node.start_mark.line + 1,
                f"duplicate key {key_node.value!r} (also at line {first[0].start_mark.line + 1}): YAML keeps "
                "only the last one, silently; remove one"))
        entries[key_node.value] = (key_node, value_node)
    for source in merged:
        for key_node, value_node in source.value if isinstance(source, yaml.MappingNode) else ():
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                entries.setdefault(key_node.value, (key_node, value_node))
    return entries


def _construct(loader, root: yaml.Node, file: str, found: dict[int, tuple[yaml.Node, tuple]]) -> Any:
    """Build the Python data; a value its tag cannot read (a 13th month, `!!int many`) is located."""
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as err:
        raise ConfigError([_yaml_problem(file, err)]) from None
    except (ValueError, TypeError, OverflowError) as err:
        constructor = yaml.constructor.SafeConstructor()
        for node, path in found.values():       # document order: the first scalar that fails is the one
            if isinstance(node, yaml.ScalarNode):
                try:
                    constructor.construct_object(node)
                except (ValueError, TypeError, OverflowError, yaml.YAMLError) as bad:
                    line, kind = node.start_mark.line + 1, node.tag.rsplit(":", 1)[-1]
                    message = f"{node.value[:40]!r} is not a valid {kind}: {bad}"
                    raise ConfigError([Problem(file, _dotted(path), line, message)]) from None
        raise ConfigError([Problem(file, "", None, f"a value cannot be read: {err}")]) from None


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    """Return the line of the deepest known prefix of a YAML path."""
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def problems_from(err: ValidationError, file: str, lines: dict[tuple, int],
                  prefix: tuple = ()) -> list[Problem]:
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
