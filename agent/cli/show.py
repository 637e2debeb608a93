"""Printing data through Rich without letting it become markup.

Names of devices, interfaces, aliases, messages and people's comments are data: `[/x]` in an
ifAlias must print as `[/x]`, never close a style or crash the command. Every table the CLI draws is
a `DataTable` (its text cells are escaped), styled cells are `styled()` Text, and values put into a
markup string go through `esc()`.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text


def esc(value) -> str:
    """A value to put inside a markup string: its brackets are printed, not read."""
    return escape("" if value is None else str(value))


def styled(value, style: str) -> Text:
    """A cell or a line in a style, its text taken literally."""
    return Text("" if value is None else str(value), style=style)


class DataTable(Table):
    """A Rich table whose text cells are data (escaped); Text and other renderables pass as they are."""

    def add_row(self, *cells, **kwargs) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)


def reading_store(config):
    """The store for a command that mostly reads: read-only, with a warning, when its disk is full."""
    from rich.console import Console

    from agent.store import Store
    from agent.store.store import room_message

    store = Store.for_config(config, reading=True)
    if store.read_only:
        Console(stderr=True).print(f"[yellow]warning[/yellow] {esc(room_message(store.url))}; showing it read-only "
                                   "(as of its last checkpoint)", highlight=False, soft_wrap=True)
    return store
