"""The one Jinja2 environment runbook templates are rendered with, and the checks made on them.

Sandboxed, StrictUndefined (a typo is an error, never an empty string), no autoescape (the text
is not HTML). The filter `q` quotes a value for a POSIX shell (`shlex.quote`; a list becomes its
items, each quoted, joined by spaces): every value a runbook puts into a shell command goes through
it, `rm -rf {{ params.dir_root | q }}/contentstore`, so a space or a `;` in a value stays in it.
"""

from __future__ import annotations

import shlex
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

SCOPES = ("params", "facts")          # the run's values a template can name: `params.<name>`, `facts.<key>`


def quote(value: Any) -> str:
    """Quote a value (or each item of a list) as one shell word."""
    if isinstance(value, (list, tuple)):
        return " ".join(shlex.quote(str(v)) for v in value)
    return shlex.quote(str(value))


@cache
def environment() -> SandboxedEnvironment:
    """The environment every step renders with (built once; rendering is thread-safe)."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["q"] = quote
    return env


def render(text: str, **context: Any) -> str:
    """Render a template string with the given names."""
    return environment().from_string(text).render(**context)


def syntax_error(text: str) -> str | None:
    """Why a template does not parse, or None when it does (undefined names show only when it runs)."""
    try:
        environment().parse(text)
    except TemplateSyntaxError as err:
        return f"template does not parse: {err.message} (line {err.lineno} of the text)"
    return None


def references(text: str) -> set[tuple[str, str]] | None:
    """The (scope, name) pairs a template reads from params and facts, e.g. ('params', 'dir_root').

    None when it reads them some other way (`params[x]`, a loop over `facts`...): then nobody can
    tell from the text which values it inserts."""
    tree = environment().parse(text)
    named = [n for n in tree.find_all(nodes.Getattr) if isinstance(n.node, nodes.Name) and n.node.name in SCOPES]
    uses = [n for n in tree.find_all(nodes.Name) if n.name in SCOPES]
    if len(uses) != len(named):            # some use is not `scope.name`
        return None
    return {(n.node.name, n.attr) for n in named}
