"""Logging set-up for the CLI and the daemon (library modules only get loggers)."""

from __future__ import annotations

import json
import logging
import sys


class _Formatter(logging.Formatter):
    """Format a record as text or JSON. Secrets are kept out where they could enter (the transports pass a
    library's words through `library_text`; a URL's userinfo is stripped), not by blanking every line."""

    def __init__(self, as_json: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if self.as_json:
            entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                     "message": record.getMessage()}
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            return json.dumps(entry, ensure_ascii=False)
        return super().format(record)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when a record comes (as logging.lastResort does): a
    caller that redirects stderr for a while (a test's CLI runner, contextlib.redirect_stderr) must not
    leave the logs pointing at a stream it has closed since."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def setup(level: str = "INFO", as_json: bool = False) -> None:
    """Send logs to stderr, as text or one JSON object per line."""
    handler = _Stderr()
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "httpx", "asyncio", "pysnmp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # paramiko logs every refused or silent connection as an ERROR with a traceback, from its own thread;
    # the SSH transport turns those into the probe's error, logged once per episode by the runner
    logging.getLogger("paramiko").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.CRITICAL)


class Episodes:
    """A failure that repeats every tick (mail down, Alertmanager gone, a full disk) is one episode: logged
    when it starts, counted while it lasts, logged once more when it ends, with how long it lasted."""

    def __init__(self, logger: logging.Logger, what: str):
        self.logger, self.what = logger, what
        self._since: dict[str, tuple[float, int, str]] = {}     # key -> (monotonic start, failures, last reason)
        self.failures = 0                                       # since the process started, for the metrics

    def failed(self, key: str, message: str, *args) -> None:
        """A failure of `key`: logged if it is the first of its episode, or if its reason changed (a 401
        after a refused connection is news; the same refusal every tick is not)."""
        import time

        self.failures += 1
        text = message % args if args else message
        start, count, last = self._since.get(key, (time.monotonic(), 0, ""))
        if count == 0 or text != last:
            self.logger.warning("%s: %s", self.what, text)
        self._since[key] = (start, count + 1, text)

    def recovered(self, key: str) -> None:
        """`key` works again: the end of its episode, if it had one."""
        import time

        found = self._since.pop(key, None)
        if found is not None:
            self.logger.info("%s: %s works again after %d failure(s) in %.0fs", self.what, key, found[1],
                             time.monotonic() - found[0])
