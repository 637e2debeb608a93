"""Giving freed memory back to the system after a polling cycle.

A cycle builds and drops the readings of every device in a burst; glibc keeps the freed heap pages for
reuse and the process's RSS stays at the burst's peak. `malloc_trim` returns them (a few ms); on a C
library without it (musl) nothing is done."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def _trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    trim = _trim()
    if trim is not None:
        trim(0)
