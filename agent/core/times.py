"""Times in and out of the store: written in UTC, read back with their zone (SQLite keeps none)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(when: datetime) -> datetime:
    """A time as it goes to the store: UTC."""
    return when.astimezone(UTC)


def aware(when: datetime | None) -> datetime | None:
    """A time read back from the store: UTC, with its zone."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)
