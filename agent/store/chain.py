"""Hash chains over the four journals an auditor asks for: runs, alerts, custody and the datacenter's door.

Every write to `run_events`, `alert_events`, `custody_movements` or `access_log` calls `link` in the same
transaction, right after its insert or update: the row is read back (so the digest is over what the
database returns, whatever it did to the values), its digest appended to the chain as a link whose hash
covers the previous link's hash, and the chain's head moved. The write itself made the transaction a
writer first, so two agents never read the same head: SQLite holds its write lock from the insert on, and
on PostgreSQL the head row is locked (`SELECT ... FOR UPDATE`). An access-log entry is updated after it
is written (the jefa's decision, the time out): each update appends a new link for the row, and only the
row's latest link must match what the row holds now.

`agent/store/chain_verify.py` walks the chains; `anchor` writes the heads of a day (the daily checklist
prints them, so a printed or mailed checklist pins the history up to that day).

Retention deletes old run and alert events legitimately: `prune` marks their links `pruned` in the same
transaction. Pruning is not tampering, and the chain stays whole (the links stay). Someone with SQL
access can mark links pruned and delete rows just the same — the chain alone cannot tell; the anchors on
paper (and their signatures) are what pin the history against whoever can write the database.

The digest leaves out NULL values, so a nullable column added by a later migration does not change the
digest of the rows written before it; a migration that rewrites the journals' rows must link them again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, inspect, select, update
from sqlalchemy import insert as sql_insert

from agent.core.times import aware
from agent.errors import StoreError
from agent.store import schema as t
from agent.store.schema_chain import chain_anchors, chain_heads, chain_links

GENESIS = "0" * 64
CHAINS: dict[str, Table] = {
    "run_events": t.run_events,
    "alert_events": t.alert_events,
    "custody_movements": t.custody_movements,
    "access_log": t.access_log,
}
NAMES_ES = {      # how the office calls each record (the daily checklist's words)
    "run_events": "Bitácora de ejecuciones",
    "alert_events": "Eventos de alertas",
    "custody_movements": "Movimientos de custodia",
    "access_log": "Registro de acceso al centro de datos",
}
_ANCHOR = re.compile(r"^([a-z_]+)#(\d+):([0-9a-f]{64})$")


# ---------------------------------------------------------------------- the digest and the hash
def _plain(value: Any) -> Any:
    """A value as JSON can hold it, the same whichever database returned it: times in UTC with microseconds
    (SQLite returns them naive, stored in UTC; PostgreSQL aware)."""
    if isinstance(value, datetime):
        return aware(value).astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical(row) -> str:
    """A row's content as one canonical JSON text: sorted keys, no NULLs (see the module's docstring)."""
    items = {k: _plain(v) for k, v in dict(row).items() if v is not None}
    return json.dumps(items, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def digest(row) -> str:
    """The sha256 of a row's canonical content."""
    return hashlib.sha256(canonical(row).encode("utf-8")).hexdigest()


def link_hash(prev: str, chain: str, seq: int, row_id: int, row_digest: str) -> str:
    """A link's hash: what it follows, where it is, which row, what the row held."""
    return hashlib.sha256(f"{prev}|{chain}|{seq}|{row_id}|{row_digest}".encode()).hexdigest()


def columns(conn: Connection, table: Table) -> list:
    """The table's columns the database has (a store migrated up to 18 lacks those added later)."""
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    return [c for c in table.columns if c.name in present]


def row_digests(conn: Connection, table: Table) -> dict[int, str]:
    """Every row's digest, by id."""
    return {r["id"]: digest(r) for r in conn.execute(select(*columns(conn, table))).mappings()}


# ---------------------------------------------------------------------- writing
def _table(chain: str) -> Table:
    if chain not in CHAINS:
        raise StoreError(f"no chain {chain!r} (chains: {', '.join(CHAINS)})")
    return CHAINS[chain]


def _head(conn: Connection, chain: str):
    query = select(chain_heads).where(chain_heads.c.chain == chain)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()        # the next link's seq is ours until this transaction ends
    head = conn.execute(query).mappings().first()
    if head is None:
        raise StoreError(f"chain {chain}: its head row (table chain_heads) is gone, so nothing more can be chained; "
                         "`oti-agent verify --journals` says what else was changed")
    return head


@contextmanager
def transaction(store, chain: str) -> Iterator[Connection]:
    """A store transaction that will write to `chain`, its head locked first on PostgreSQL: every writer then
    takes the head before any row it updates (a run, an alert, a box), so two writers never wait on each
    other in opposite orders. On SQLite the first write takes the database's one lock; nothing to do (a read
    first would even risk a stale snapshot)."""
    with store.transaction() as conn:
        lock(conn, chain)
        yield conn


def lock(conn: Connection, chain: str) -> None:
    """Take `chain`'s head at the start of a transaction that will write to it (see `transaction`)."""
    if conn.dialect.name == "postgresql":
        _head(conn, chain)


def link(conn: Connection, chain: str, row_id: int, now: datetime | None = None) -> str:
    """Append a link for the row `row_id` as it is now, in the caller's transaction; return the link's hash.

    Call it right after the insert or update that wrote the row (see the module's docstring)."""
    table = _table(chain)
    row = conn.execute(select(table).where(table.c.id == row_id)).mappings().first()
    if row is None:
        raise StoreError(f"{chain} {row_id}: no such row to link (was it written in this transaction?)")
    head = _head(conn, chain)
    seq, row_digest = head["seq"] + 1, digest(row)
    new = link_hash(head["hash"], chain, seq, row_id, row_digest)
    conn.execute(sql_insert(chain_links).values(chain=chain, seq=seq, row_id=row_id, digest=row_digest,
                                                prev=head["hash"], hash=new, at=now or datetime.now(UTC),
                                                pruned=False))
    conn.execute(update(chain_heads).where(chain_heads.c.chain == chain).values(seq=seq, hash=new))
    return new


def insert(conn: Connection, table: Table, **values) -> int:
    """Insert a journal row and link it, in the caller's transaction; return its id."""
    row_id = conn.execute(sql_insert(table).values(**values)).inserted_primary_key[0]
    link(conn, table.name, row_id)
    return row_id


def link_existing(conn: Connection, now: datetime) -> None:
    """Migration 18: a head per chain, and every row already there linked in id order (an upgraded store
    verifies clean from its first day on the chains)."""
    for chain, table in CHAINS.items():
        prev, seq, links = GENESIS, 0, []
        for row_id, row_digest in sorted(row_digests(conn, table).items()):
            seq += 1
            new = link_hash(prev, chain, seq, row_id, row_digest)
            links.append(dict(chain=chain, seq=seq, row_id=row_id, digest=row_digest, prev=prev, hash=new, at=now,
                              pruned=False))
            prev = new
        for start in range(0, len(links), 1000):
            conn.execute(sql_insert(chain_links), links[start:start + 1000])
        conn.execute(sql_insert(chain_heads).values(chain=chain, seq=seq, hash=prev))


def prune(conn: Connection, chain: str, ids) -> None:
    """Mark the links of rows retention is about to delete (`ids`: a list or a subquery of ids); call it in the
    same transaction, before the delete."""
    conn.execute(update(chain_links).where(chain_links.c.chain == chain, chain_links.c.row_id.in_(ids))
                 .values(pruned=True))


# ---------------------------------------------------------------------- anchors
def anchor_string(chain: str, seq: int, hash_: str) -> str:
    """The compact form printed on the checklist: `run_events#1234:<64 hex>`."""
    return f"{chain}#{seq}:{hash_}"


def parse_anchor(text: str) -> tuple[str, int, str]:
    """(chain, seq, hash) of a printed anchor; a StoreError saying what is wrong with it."""
    found = _ANCHOR.match(text.strip().lower())
    if not found:
        raise StoreError(f"anchor {text!r} is not CHAIN#SEQ:HASH (e.g. run_events#1234:<64 hex digits>), as the "
                         "daily checklist prints it")
    if found.group(1) not in CHAINS:
        raise StoreError(f"anchor {text!r}: no chain {found.group(1)!r} (chains: {', '.join(CHAINS)})")
    return found.group(1), int(found.group(2)), found.group(3)


def anchor(store, day: str, now: datetime, signer=None) -> list[dict]:
    """The heads of every chain for the office's `day` (YYYY-MM-DD), written the first time and returned as
    written after (the checklist of a day, built again, prints the same anchors); signed when a `signer`
    (`chain_sign.Signer`) is given. A store opened read-only (its disk full) answers its heads as they are, unkept."""
    if getattr(store, "read_only", False):
        return [dict(r, day=day, signature=None, at=now) for r in store.rows(select(chain_heads))]
    try:
        return _fix_anchors(store, day, now, signer)
    except StoreError:          # another writer fixed the day's anchors at the same moment: theirs stand
        have = {r["chain"]: r for r in store.rows(
            select(chain_anchors).where(chain_anchors.c.day == day))}
        if set(have) != set(CHAINS):
            raise
        return [have[c] for c in CHAINS]


def _fix_anchors(store, day: str, now: datetime, signer) -> list[dict]:
    with store.transaction() as conn:
        have = {r["chain"]: dict(r, at=aware(r["at"])) for r in conn.execute(
            select(chain_anchors).where(chain_anchors.c.day == day)).mappings()}
        missing = [c for c in CHAINS if c not in have]
        if missing:
            heads = {r["chain"]: r for r in conn.execute(
                select(chain_heads).where(chain_heads.c.chain.in_(missing))).mappings()}
            for chain in missing:
                if chain not in heads:
                    raise StoreError(f"chain {chain} has no head row: the store is not at migration 18")
                seq, hash_ = heads[chain]["seq"], heads[chain]["hash"]
                signature = signer.sign_anchor(day, chain, seq, hash_) if signer else None
                row = dict(day=day, chain=chain, seq=seq, hash=hash_, signature=signature, at=now)
                conn.execute(sql_insert(chain_anchors).values(**row))
                have[chain] = row
    return [have[c] for c in CHAINS]
