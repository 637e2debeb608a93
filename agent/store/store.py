"""Keep the latest reading per device and metric, and the history of state changes.

Writes are synchronous SQLAlchemy Core; the daemon calls them from a worker thread. The last
known state of every reading is cached in memory (loaded once at open), so recording a poll is
one batch of upserts plus an insert for each state that changed.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agent.core.results import CheckResult, Reading, State
from agent.core.secrets import library_text, without_userinfo
from agent.errors import StoreError
from agent.store.migrations import MIGRATIONS
from agent.store.schema import (
    check_status,
    latest_readings,
    pending_updates,
    schema_version,
    state_changes,
    uptime_days,
)


@dataclass(frozen=True)
class StateChange:
    """A reading moved from one state to another."""

    device: str
    reading: str
    check: str
    from_state: State | None
    to_state: State
    value: float | None
    text: str | None
    message: str | None
    at: datetime


def _sqlite_url(url: str, base_dir: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        path = base_dir / url[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return prefix + str(path)
    return url


def _private(url: str) -> None:
    """A store file (and its WAL and shared-memory files) readable by the agent's user only, whatever
    made it: SQLite creates them with the process umask, and an older version left them 0644."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return
    path = Path(url[len("sqlite:///"):])
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            f.chmod(0o600)


def _spread(key: tuple[str, str]) -> float:
    """A stable fraction in [0, 1) for a (device, check): where in the period its refreshes fall."""
    import zlib

    return zlib.crc32("\0".join(key).encode()) / 2**32


def _upsert(engine: Engine, table, keys: list[str], increments: dict | None = None):
    """Return an INSERT .. ON CONFLICT DO UPDATE for SQLite or PostgreSQL.

    On conflict every non-key column takes the new value, except those in `increments`, which
    are added to the stored value (run and error counters)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table)
    increments = increments or {}
    set_ = {c.name: (table.c[c.name] + stmt.excluded[c.name]) if c.name in increments else stmt.excluded[c.name]
            for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=set_)


class Store:
    """The agent's store."""

    @classmethod
    def for_config(cls, config, *, reading: bool = False) -> Store:
        """The store a config names, counting days in the office's zone. A command that only reads
        (`reading`) still answers, read-only, when the store's disk is full."""
        return cls(config.store.url, config.base_dir, config.store.latest_every, config.agent.timezone,
                   read_only_when_full=reading)

    def __init__(self, url: str, base_dir: Path = Path("."), latest_every_s: float = 0.0, timezone: str = "UTC",
                 read_only_when_full: bool = False):
        self.url = _sqlite_url(url, base_dir)
        self.where = without_userinfo(self.url)   # what messages name: a server URL's password never
        # A device's latest readings are rewritten when one of them changes state, or once this many
        # seconds have passed: /metrics reads memory, so the store need not follow every poll of
        # a thousand switches (96k rows cost ~2.5 CPU-s in SQLite).
        self.latest_every_s = latest_every_s
        self._written: dict[tuple[str, str], float] = {}
        self.tz = ZoneInfo(timezone)        # the office's days: a run's daily availability is counted on them
        try:
            self.engine = create_engine(self.url, future=True)
        except (SQLAlchemyError, ImportError) as err:
            raise StoreError(f"store {self.where}: cannot open: {library_text(err)}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()
        self.read_only = False
        try:
            self.migrate()
        except StoreError as err:
            if not (read_only_when_full and no_room(self.url, err)):
                raise
            self._reopen_read_only(err)
        _private(self.url)
        # every reading's last state, by device then reading key (the keys are interned: the same strings the
        # readings carry), and the checks whose readings are all stale already (nothing more to mark)
        self._states, self._failing, self._answered = self._load_states()
        self._all_stale: set[tuple[str, str]] = set()
        self._first_answers: list[tuple[str, str]] = []    # checks that answered for the first time ever

    def _reopen_read_only(self, err: StoreError) -> None:
        """The disk is full: read the file as it stands (immutable: no lock, no WAL, nothing written). What the
        last checkpoint holds is shown; a write says why it cannot be done."""
        self.engine.dispose()
        path = self.url[len("sqlite:///"):]
        self.engine = create_engine(f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true", future=True)
        self.read_only = True
        self.read_only_reason = str(err)

    def migrate(self) -> int:
        """Apply every migration the store has not seen; return the schema version."""
        try:
            with self.engine.begin() as conn:
                schema_version.create(conn, checkfirst=True)
                seen = set(conn.scalars(select(schema_version.c.version)))
            # every step not applied yet, not only those above the highest: a step numbered between two
            # others (written at the same time on another branch) still runs on a store that has the later
            for version, step in MIGRATIONS:
                if version not in seen:
                    with self.engine.begin() as conn:
                        step(conn)
                        conn.execute(insert(schema_version).values(version=version, applied_at=datetime.now(UTC)))
                    seen.add(version)
            current = max(seen, default=0)
        except SQLAlchemyError as err:
            raise StoreError(f"store {self.where}: migration failed: {library_text(err)}") from None
        return current

    def _load_states(self):
        """What the last writes left: every reading's state, and which checks fail."""
        states: dict[str, dict[str, State]] = {}
        failing, answered = {}, set()
        with self.engine.connect() as conn:
            for r in conn.execute(select(latest_readings.c.device, latest_readings.c.reading,
                                         latest_readings.c.state)):
                states.setdefault(r.device, {})[sys.intern(r.reading)] = State(r.state)
            for r in conn.execute(select(check_status)):
                if not r.up:
                    failing[(r.device, r.check_name)] = _aware(r.failing_since or r.last_run)
                if r.runs_total > r.errors_total:
                    answered.add((r.device, r.check_name))
        return states, failing, answered

    def reload_states(self) -> None:
        """Read the readings' last states again: a standby that becomes the leader judges its first poll
        against what the old leader wrote, not against what the store held when this agent opened it."""
        try:
            loaded = self._load_states()
        except SQLAlchemyError as err:
            raise StoreError(f"store {self.where}: reading the last states failed: {library_text(err)}") from None
        with self._lock:
            self._states, self._failing, self._answered = loaded
            self._all_stale.clear()
            self._written.clear()

    def take_first_answers(self, wanted: set[tuple[str, str]]) -> list[tuple[str, str]]:
        """Of the `wanted` (device, check) pairs, those that answered for the first time ever since the last call
        (monitoring newly installed: activity 6 of the monitoring procedure tells the jefa)."""
        with self._lock:
            out = [k for k in self._first_answers if k in wanted]
            self._first_answers = [k for k in self._first_answers if k not in wanted]
        return out

    def record(self, results: list[CheckResult], now: datetime | None = None) -> list[StateChange]:
        """Store a batch of results; return the state changes they caused.

        A check that did not answer leaves its device's last readings UNKNOWN (stale), never OK."""
        now = now or datetime.now(UTC)
        stamp = now.timestamp()
        latest, changes, statuses = [], [], []
        with self._lock:
            for res in results:
                key = (res.device, res.check)
                since = None if res.up else self._failing.setdefault(key, now)
                if res.up:
                    self._failing.pop(key, None)
                    if key not in self._answered:
                        self._answered.add(key)
                        self._first_answers.append(key)
                statuses.append(dict(device=res.device, check_name=res.check, up=res.up, error=res.error,
                                     error_kind=res.error_kind, duration_s=res.duration_s, last_run=now,
                                     failing_since=since))
                states = self._states.get(res.device, {})
                if res.up:
                    self._all_stale.discard(key)
                readings = res.readings if res.up else [*res.readings, *self._stale(res, states)]
                found = [StateChange(res.device, r.key, res.check, states.get(r.key), r.state,
                                     r.value, r.text, r.message or None, now)
                         for r in readings if states.get(r.key) != r.state]
                changes += found
                due = stamp - self._written.get(key, float("-inf")) >= self.latest_every_s
                if due:               # every reading's value, once per latest_every
                    # the first refresh of each device is spread over the period, so a thousand of them
                    # started together do not all come due in the same cycle afterwards
                    first = key not in self._written and self.latest_every_s > 0
                    self._written[key] = stamp - (_spread(key) * self.latest_every_s if first else 0.0)
                    rows = readings
                else:                 # between refreshes only what changed state: writes follow the changes
                    changed = {c.reading for c in found}
                    rows = [r for r in readings if r.key in changed]
                if rows:
                    latest += [dict(device=res.device, reading=r.key, check_name=res.check, name=r.name,
                                    labels=json.dumps(r.labels), value=r.value, text=r.text, state=int(r.state),
                                    unit=r.unit, message=r.message or None, updated_at=now) for r in rows]
            try:
                with self.engine.begin() as conn:
                    self._write(conn, latest, changes, statuses)
            except SQLAlchemyError as err:
                raise StoreError(f"store {self.where}: write failed: {library_text(err)}") from None
            for c in changes:
                self._states.setdefault(c.device, {})[c.reading] = c.to_state
        return changes

    def _stale(self, res: CheckResult, states: dict[str, State]) -> list[Reading]:
        """The readings a silent check gave last time, now UNKNOWN: nobody may read them as still OK.

        Their shapes come from the store (a device falls silent rarely; keeping every reading of a thousand
        devices in memory for that cost more than the daemon's whole working set)."""
        key = (res.device, res.check)
        if key in self._all_stale:
            return []
        fresh = {r.key for r in res.readings}
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(latest_readings.c.reading, latest_readings.c.name, latest_readings.c.unit,
                                           latest_readings.c.labels)
                                    .where(latest_readings.c.device == res.device,
                                           latest_readings.c.check_name == res.check)).all()
        except SQLAlchemyError as err:
            raise StoreError(f"store {self.where}: reading {res.device}'s last readings failed: "
                             f"{library_text(err)}") from None
        self._all_stale.add(key)
        return [Reading(r.name, None, State.UNKNOWN, r.unit, tuple(tuple(x) for x in json.loads(r.labels)),
                        message="sin dato: el equipo no responde")
                for r in rows if r.reading not in fresh and states.get(r.reading) != State.UNKNOWN]

    def _write(self, conn, latest, changes, statuses) -> None:
        if statuses:       # each run counts toward its device's availability of the day (monthly report)
            conn.execute(_upsert(self.engine, uptime_days, ["device", "check_name", "day"],
                                 increments={"runs": True, "up_runs": True}),
                         [dict(device=s["device"], check_name=s["check_name"],
                               day=f"{s['last_run'].astimezone(self.tz):%Y-%m-%d}",
                               runs=1, up_runs=1 if s["up"] else 0) for s in statuses])
        if latest:
            conn.execute(_upsert(self.engine, latest_readings, ["device", "reading"]), latest)
        if changes:
            conn.execute(insert(state_changes), [
                dict(device=c.device, reading=c.reading, check_name=c.check,
                     from_state=None if c.from_state is None else int(c.from_state), to_state=int(c.to_state),
                     value=c.value, text=c.text, message=c.message, at=c.at) for c in changes])
        if statuses:
            stmt = _upsert(self.engine, check_status, ["device", "check_name"],
                           increments={"runs_total", "errors_total"})
            conn.execute(stmt, [{**s, "runs_total": 1, "errors_total": 0 if s["up"] else 1} for s in statuses])

    # ------------------------------------------------------------------ access for the domain modules
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One committed transaction; a database error becomes a StoreError naming the store."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as err:
            why = room_message(self.url) if self.read_only else _reason(err)
            raise StoreError(f"store {self.where}: {why}") from None

    def rows(self, query) -> list[dict]:
        """Run a SELECT; return its rows as dicts, times with their zone (SQLite keeps none)."""
        try:
            with self.engine.connect() as conn:
                return [{k: _aware(v) for k, v in r._mapping.items()} for r in conn.execute(query)]
        except SQLAlchemyError as err:
            raise StoreError(f"store {self.where}: {_reason(err)}") from None

    def scalar(self, query):
        """Run a SELECT of one value."""
        try:
            with self.engine.connect() as conn:
                return _aware(conn.scalar(query))
        except SQLAlchemyError as err:
            raise StoreError(f"store {self.where}: {_reason(err)}") from None

    def first_seen(self, host: str, items: list[str], now: datetime) -> dict[str, datetime]:
        """Remember which items (missing updates) a host has now; return since when each has been there.

        The probes' memory across runs and restarts: an item gone is forgotten, one back starts again."""
        with self.transaction() as conn:
            known = {r.item: r.first_seen for r in conn.execute(
                select(pending_updates).where(pending_updates.c.host == host))}
            for item in items:
                key = and_(pending_updates.c.host == host, pending_updates.c.item == item)
                if item in known:
                    conn.execute(update(pending_updates).where(key).values(last_seen=now))
                else:
                    conn.execute(insert(pending_updates).values(host=host, item=item, first_seen=now, last_seen=now))
            gone = [i for i in known if i not in items]
            if gone:
                conn.execute(delete(pending_updates).where(and_(pending_updates.c.host == host,
                                                                pending_updates.c.item.in_(gone))))
        return {item: _aware(known.get(item, now)) for item in items}

    def latest(self, device: str | None = None) -> list[dict]:
        """Return the latest readings, optionally for one device."""
        q = select(latest_readings).order_by(latest_readings.c.device, latest_readings.c.reading)
        if device:
            q = q.where(latest_readings.c.device == device)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def changes(self, device: str | None = None, since: datetime | None = None) -> list[dict]:
        """Return state changes, oldest first, optionally for one device and after a time."""
        q = select(state_changes).order_by(state_changes.c.id)
        if device:
            q = q.where(state_changes.c.device == device)
        if since:
            q = q.where(state_changes.c.at >= since)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def check_statuses(self) -> list[dict]:
        """Return the last run of every (device, check)."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(check_status))]

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()


def no_room(url: str, err: Exception) -> bool:
    """Whether a store error is a full disk (SQLite says "disk I/O error" when it cannot grow its WAL)."""
    if not url.startswith("sqlite:///") or "disk" not in str(err):
        return False
    folder = Path(url[len("sqlite:///"):]).parent
    return shutil.disk_usage(folder).free < 1024 * 1024 or "full" in str(err)


def room_message(url: str) -> str:
    """Where the store wants room, and how much there is."""
    folder = Path(url[len("sqlite:///"):]).parent if url.startswith("sqlite:///") else Path(".")
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    return f"no room on the disk of {folder} ({free} bytes free): the store cannot be written"


def _aware(value):
    """A time read back from the store: UTC, with its zone."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _reason(err: SQLAlchemyError) -> str:
    """The database's own words, without SQLAlchemy's statement dump (which may carry data)."""
    orig = getattr(err, "orig", None)
    return library_text(str(orig)) if orig is not None else type(err).__name__


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
