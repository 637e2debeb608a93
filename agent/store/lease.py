"""A lease in the store: which one of the agents sharing it leads (issue 16, "two agents, one PostgreSQL").

One row per lease name (`leases`, migration 15). Taking it and renewing it are the same conditional UPDATE:
"the holder is me, or the deadline has passed" — one statement that SQLite and PostgreSQL both run
atomically (on PostgreSQL two standbys racing for an expired lease: the second one's UPDATE waits for the
first's row lock, then finds the deadline in the future and changes nothing). Deadlines are written and
compared in the DATABASE's clock, so two hosts whose clocks disagree still agree on who holds it.

A row lease rather than a PostgreSQL advisory lock: an advisory lock lives as long as one connection, so it
needs a connection held open for ever outside the pool and a reconnect logic of its own, and it does not
exist on SQLite (where the tests of this module run); a row says who holds it, since when, and where its
console is, which a standby names when it refuses to act.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from sqlalchemy import case, cast, func, literal, or_, select, update
from sqlalchemy.types import Float

from agent.store.schema_lease import leases
from agent.store.store import Store

LEADER = "leader"


def holder_id() -> str:
    """This process as a lease names it: host, pid, and a random token (a pid is reused, the token not)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as the row says (`expired`: nobody does any more)."""

    holder: str
    address: str | None
    term: int
    deadline: float
    expired: bool
    left: float = 0.0         # seconds until the deadline, in the database's clock (negative: past)

    def describe(self) -> str:
        host, _, rest = self.holder.partition(":")
        pid = rest.partition(":")[0]
        where = f", console at {self.address}" if self.address else ""
        return f"{host} (pid {pid}{where})" if self.holder else "nobody"


class Lease:
    """One named lease for one holder: take or renew it (one call), release it, read who holds it."""

    def __init__(self, store: Store, lease_s: float, name: str = LEADER, holder: str | None = None,
                 address: str | None = None):
        self.store, self.lease_s, self.name = store, lease_s, name
        self.holder = holder or holder_id()
        self.address = address
        self._row_made = False

    def _now(self):
        """The database's clock, seconds since the epoch (a float expression of the statement)."""
        if self.store.engine.dialect.name == "postgresql":
            return cast(func.extract("epoch", func.clock_timestamp()), Float)
        return (func.julianday("now") - 2440587.5) * 86400.0

    def _make_row(self, conn) -> None:
        """The lease's row, held by nobody, once (a second agent inserting it too changes nothing)."""
        if self._row_made:
            return
        dialect = self.store.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(leases).values(name=self.name, holder="", term=0, deadline=0.0)
                     .on_conflict_do_nothing(index_elements=["name"]))
        self._row_made = True

    def take(self) -> bool:
        """Take the lease, or renew it when it is mine: True when this holder has it for `lease_s` more
        seconds from now (the database's now). False: another holder's deadline has not passed."""
        now = self._now()
        mine = leases.c.holder == self.holder
        with self.store.transaction() as conn:
            self._make_row(conn)
            done = conn.execute(update(leases).where(leases.c.name == self.name, or_(mine, leases.c.deadline < now))
                                .values(holder=self.holder, address=self.address, renewed_at=now,
                                        deadline=now + literal(float(self.lease_s)),
                                        term=case((mine, leases.c.term), else_=leases.c.term + 1),
                                        acquired_at=case((mine, leases.c.acquired_at), else_=now)))
        return done.rowcount == 1

    def release(self) -> bool:
        """Give the lease up at once (a clean stop: the standby need not wait out the deadline)."""
        with self.store.transaction() as conn:
            done = conn.execute(update(leases).where(leases.c.name == self.name, leases.c.holder == self.holder)
                                .values(deadline=0.0))
        return done.rowcount == 1

    def current(self) -> Holder | None:
        """Who holds the lease now (None: never taken)."""
        rows = self.store.rows(select(leases.c.holder, leases.c.address, leases.c.term, leases.c.deadline,
                                      (leases.c.deadline < self._now()).label("expired"),
                                      (leases.c.deadline - self._now()).label("left"))
                               .where(leases.c.name == self.name))
        if not rows:
            return None
        r = rows[0]
        return Holder(r["holder"], r["address"], r["term"], r["deadline"], bool(r["expired"]), float(r["left"]))
