"""The store: SQLAlchemy Core over SQLite (WAL) by default, PostgreSQL by URL."""

from agent.store.store import StateChange, Store

__all__ = ["StateChange", "Store"]
