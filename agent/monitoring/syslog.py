"""What the daemon does with syslog (S.04.03.02_P flow 3, activities 1 and 3): keep what matters.

Every message from a device of the inventory is matched against the patterns (configuration changes,
port changes, VPN logins, by vendor); a match is a row of `network_events`, which the monthly report's
network section reads (activity 5). Messages wait in a bounded queue: a storm of messages costs the
messages that do not fit (counted), never the daemon's memory. Senders the inventory does not know are
counted and dropped, and so are messages no pattern recognises.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from agent.core.times import utc
from agent.core.yamlfile import load_with_lines
from agent.errors import ConfigError, Problem
from agent.monitoring.addresses import devices_by_address
from agent.store.schema import network_events
from agent.transports.syslog import SyslogMessage, SyslogServer

_LOGGER = logging.getLogger(__name__)

PATTERNS = Path(__file__).with_name("syslog_patterns.yaml")
CATEGORIES = ("configuracion", "puerto", "vpn")
BATCH = 200                     # events written per transaction, at most
DETAIL_CHARS = 1000


@dataclass(frozen=True)
class Pattern:
    vendor: str
    category: str
    regex: re.Pattern


def load_patterns(files: list[Path]) -> list[Pattern]:
    """The shipped patterns, then the office's; a bad one is a ConfigError naming its file and line."""
    out, problems = [], []
    for path in [PATTERNS, *files]:
        data, lines = load_with_lines(path)
        for i, entry in enumerate((data or {}).get("patterns") or []):
            where = lines.get(("patterns", i))
            if not isinstance(entry, dict) or not {"vendor", "category", "pattern"} <= set(entry):
                problems.append(Problem(str(path), f"patterns.{i}", where, "needs vendor, category and pattern"))
                continue
            if entry["category"] not in CATEGORIES:
                problems.append(Problem(str(path), f"patterns.{i}.category", where,
                                        f"{entry['category']!r} is not one of {', '.join(CATEGORIES)}"))
                continue
            try:
                out.append(Pattern(str(entry["vendor"]), entry["category"], re.compile(str(entry["pattern"]))))
            except re.error as err:
                problems.append(Problem(str(path), f"patterns.{i}.pattern", where, f"not a regular expression: {err}"))
    if problems:
        raise ConfigError(problems)
    return out


def classify(text: str, patterns: list[Pattern]) -> tuple[Pattern, dict[str, str]] | None:
    """The first pattern the text matches, with its named groups."""
    for p in patterns:
        m = p.regex.search(text)
        if m:
            return p, {k: v.strip() for k, v in m.groupdict().items() if v}
    return None


class SyslogListener:
    """Receive syslog for the daemon: match senders to devices, recognise events, store them in batches."""

    def __init__(self, settings, store, clock=lambda: datetime.now(UTC)):
        cfg = settings.config
        self.section, self.store, self.clock = cfg.syslog, store, clock
        self.patterns = load_patterns([cfg.path(p) for p in self.section.patterns])
        self.by_address = devices_by_address(list(settings.inventory), "syslog")
        self.queue: asyncio.Queue[SyslogMessage] = asyncio.Queue(self.section.queue)
        self.counts: Counter[str] = Counter()        # received, unknown_sender, unrecognised, dropped, stored
        self.server = SyslogServer(self._arrived)
        self._writer: asyncio.Task | None = None

    async def start(self) -> tuple[str, int]:
        address = await self.server.start(self.section.listen, self.section.port, self.section.tcp)
        self._writer = asyncio.get_running_loop().create_task(self._drain(), name="syslog-writer")
        _LOGGER.info("syslog: listening on %s:%d (udp%s) for %d devices, %d patterns", address[0], address[1],
                     ", tcp" if self.section.tcp else "", len(self.by_address), len(self.patterns))
        return address

    def _arrived(self, message: SyslogMessage) -> None:
        self.counts["received"] += 1
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.counts["dropped"] += 1

    async def _drain(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < BATCH:
                batch.append(self.queue.get_nowait())
            rows = [row for row in map(self._event, batch) if row is not None]
            if rows:
                try:
                    await asyncio.to_thread(self._write, rows)
                    self.counts["stored"] += len(rows)
                except Exception as err:  # noqa: BLE001 - a store error must not stop the receiver
                    self.counts["dropped"] += len(rows)
                    _LOGGER.error("syslog: %d events not stored: %s", len(rows), err)

    def _event(self, message: SyslogMessage) -> dict | None:
        devices = self.by_address.get(message.address)
        if not devices:
            self.counts["unknown_sender"] += 1
            return None
        found = classify(message.text, self.patterns)
        if found is None:
            self.counts["unrecognised"] += 1
            return None
        pattern, groups = found
        now = self.clock()
        return dict(device=devices[0], at=utc(message.at) if message.at else utc(now), received_at=utc(now), category=pattern.category,
                    vendor=pattern.vendor, user=groups.get("user"), port=groups.get("port"),
                    detail=message.text[:DETAIL_CHARS])

    def _write(self, rows: list[dict]) -> None:
        with self.store.transaction() as conn:
            conn.execute(insert(network_events), rows)

    async def close(self) -> None:
        await self.server.close()
        if self._writer is not None:
            self._writer.cancel()

