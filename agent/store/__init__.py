"""The store: SQLAlchemy Core over SQLite (WAL) by default, PostgreSQL by URL."""

from agent.store import postgres  # noqa: F401 - registers how PostgreSQL stores text, before any table
from agent.store.store import StateChange, Store

__all__ = ["StateChange", "Store"]
