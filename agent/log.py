"""Logging set-up for the CLI and the daemon (library modules only get loggers)."""

from __future__ import annotations

import json
import logging
import sys

from agent.core.secrets import redact


class _RedactingFormatter(logging.Formatter):
    """Format a record, then blank out any secret value that slipped into it."""

    def __init__(self, as_json: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if self.as_json:
            entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                     "message": record.getMessage()}
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            return redact(json.dumps(entry, ensure_ascii=False))
        return redact(super().format(record))


def setup(level: str = "INFO", as_json: bool = False) -> None:
    """Send logs to stderr, as text or one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "paramiko", "httpx", "asyncio", "pysnmp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
