"""Walk the journals' hash chains (`agent/store/chain.py`) and name the first broken entry of each.

Per chain, links are walked by seq: each must follow the one before (its `prev`), its hash must recompute,
the head must be the last link. Then the rows: the latest link of each row must match the row's content
now (else it was edited; rows swapped or renumbered show as edited too), a linked row that is gone must
have been pruned by retention (else it was deleted), and every row must be in a link (else it was
inserted behind the agent's back). Of all that, the entry earliest in the chain is reported, since what
follows a break cannot be trusted either.

The anchors are checked apart: those the daily checklists stored, and those given as printed (`CHAIN#SEQ:
HASH`): the link at the anchor's seq must still have the anchor's hash, which a chain rewritten to be
consistent again (every hash recomputed after an edit) no longer has. With a public key, every stored
anchor's signature must verify. Everything is read in one snapshot, so agents writing meanwhile are not
mistaken for tampering.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from agent.errors import StoreError
from agent.store import chain_sign
from agent.store.chain import CHAINS, GENESIS, link_hash, parse_anchor, row_digests
from agent.store.schema_chain import chain_anchors, chain_heads, chain_links

LAST = float("inf")
NO_HEAD = "(none)"


@dataclass(frozen=True)
class Finding:
    """One broken thing in a chain: which chain, what kind, where (link seq, row id), in plain words."""

    chain: str
    kind: str          # missing, cut, altered, head, edited, deleted, unlinked, anchor, signature
    seq: int | None
    row_id: int | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class ChainReport:
    """What the walk of one chain found: links checked, pruned, rows, the head, and its findings."""

    chain: str
    entries: int
    pruned: int
    rows: int
    head_seq: int
    head_hash: str
    findings: list[Finding] = field(default_factory=list)


def verify(store, anchors: list[str] = (), public_key: str | None = None) -> list[Finding]:
    """The first broken entry of each chain, and its first broken anchor and signature; [] when all hold."""
    return [f for report in walk(store, anchors, public_key) for f in report.findings]


def walk(store, anchors: list[str] = (), public_key: str | None = None) -> list[ChainReport]:
    """Walk every chain; `anchors` are printed ones (`CHAIN#SEQ:HASH`), `public_key` the config's."""
    printed = [parse_anchor(a) for a in anchors]
    key = chain_sign.public_key(public_key) if public_key else None
    with _snapshot(store) as conn:
        # the office may turn signing on after a while: the days before its first signed anchor (any chain)
        # stay unsigned, every anchor from that day on must be signed
        since = conn.execute(select(func.min(chain_anchors.c.day))
                             .where(chain_anchors.c.signature.is_not(None))).scalar()
        return [_walk(conn, name, [p for p in printed if p[0] == name], key, since) for name in CHAINS]


@contextmanager
def _snapshot(store) -> Iterator[Connection]:
    """One read transaction over everything (SQLite: an explicit BEGIN, since its driver begins only writes)."""
    try:
        with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")
            else:
                conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn
            conn.rollback()
    except SQLAlchemyError as err:
        raise StoreError(f"store {store.where}: reading the chains failed: {type(err).__name__}: "
                         f"{getattr(err, 'orig', err)}") from None


def _walk(conn: Connection, chain: str, printed: list[tuple], key, since: str | None) -> ChainReport:
    links = conn.execute(select(chain_links).where(chain_links.c.chain == chain)
                         .order_by(chain_links.c.seq)).mappings().all()
    head = conn.execute(select(chain_heads).where(chain_heads.c.chain == chain)).mappings().first()
    head = head or {"seq": -1, "hash": NO_HEAD}          # deleted: reported below, the walk goes on
    rows = row_digests(conn, CHAINS[chain])
    stored = conn.execute(select(chain_anchors).where(chain_anchors.c.chain == chain)
                          .order_by(chain_anchors.c.day)).mappings().all()
    report = ChainReport(chain, len(links), sum(1 for ln in links if ln["pruned"]), len(rows), head["seq"],
                         head["hash"])
    hashes, found = _links(chain, links, head)
    found += _rows(chain, links, rows)
    if found:
        report.findings.append(min(found, key=lambda p: p[0])[1])
    anchor = _anchors(chain, hashes, stored, printed)
    if anchor:
        report.findings.append(anchor)
    if key is not None:
        # (signatures stripped from every anchor look like signing never turned on: the printed checklists
        # say «firmada»)
        bad = [a for a in stored if since is not None and a["day"] >= since and not chain_sign.valid(key, a)]
        if bad:
            a = bad[0]
            report.findings.append(Finding(chain, "signature", a["seq"], None, (
                f"{chain}: the anchor of {a['day']} (link {a['seq']}) is "
                + ("not signed" if not a["signature"] else "signed by another key, or altered after signing")
                + ": it was not written by the agent holding integrity.signing_key")))
    return report


def _links(chain: str, links, head) -> tuple[dict[int, str], list[tuple]]:
    """Walk the links by seq: each hash by seq, and the first break in the links themselves (or the head)."""
    hashes, found = {0: GENESIS}, []
    prev, expected = GENESIS, 1
    for ln in links:
        seq, where = ln["seq"], f"{chain} id {ln['row_id']} (link {ln['seq']})"
        if seq != expected and not found:
            found.append(((expected, 0), Finding(chain, "missing", expected, None, (
                f"{chain}: link {expected}" + (f" to {seq - 1}" if seq - 1 > expected else "")
                + " missing: entries were deleted from the chain"))))
        elif ln["prev"] != prev and not found:
            found.append(((seq, 0), Finding(chain, "cut", seq, ln["row_id"], (
                f"{where}: does not follow link {seq - 1} (the chain was cut, reordered or rewritten here)"))))
        elif link_hash(ln["prev"], chain, seq, ln["row_id"], ln["digest"]) != ln["hash"] and not found:
            found.append(((seq, 0), Finding(chain, "altered", seq, ln["row_id"], (
                f"{where}: the link's hash does not match what it records (the link was edited)"))))
        prev, expected = ln["hash"], seq + 1
        hashes[seq] = ln["hash"]
    last = links[-1]["seq"] if links else 0
    if (head["seq"], head["hash"]) != (last, prev):
        what = (f"links {last + 1} to {head['seq']} are missing (the last entries were deleted)"
                if head["seq"] > last else "the head was edited")
        says = (f"the head (its row in chain_heads) was deleted; the last link is {last}" if head["hash"] == NO_HEAD
                else f"the head says link {head['seq']} {head['hash'][:16]}…, the last link is {last} {prev[:16]}…: "
                f"{what}")
        found.append(((LAST, 0), Finding(chain, "head", None if head["hash"] == NO_HEAD else head["seq"], None,
                                         f"{chain}: {says}")))
    return hashes, found


def _rows(chain: str, links, rows: dict[int, str]) -> list[tuple]:
    """Each row against its latest link: edited, deleted (not pruned), or never linked."""
    latest = {}
    for ln in links:
        latest[ln["row_id"]] = ln
    found = []
    for row_id, ln in latest.items():
        where = f"{chain} id {row_id} (link {ln['seq']})"
        if row_id not in rows:
            if not ln["pruned"]:
                found.append(((ln["seq"], 1), Finding(chain, "deleted", ln["seq"], row_id, (
                    f"{where}: the row is gone, and retention did not prune it (deleted)"))))
        elif rows[row_id] != ln["digest"]:
            found.append(((ln["seq"], 1), Finding(chain, "edited", ln["seq"], row_id, (
                f"{where}: the row differs from what was chained (edited, swapped or renumbered after it "
                "was written)"))))
    found += [((LAST, row_id), Finding(chain, "unlinked", None, row_id, (
        f"{chain} id {row_id}: the row is in no link (inserted behind the agent's back)")))
        for row_id in sorted(set(rows) - set(latest))]
    return found


def _anchors(chain: str, hashes: dict[int, str], stored, printed) -> Finding | None:
    """The earliest anchor (stored by a checklist, or printed) the chain no longer holds."""
    given = [(a["seq"], a["hash"], f"the anchor of {a['day']}") for a in stored]
    given += [(seq, hash_, f"the printed anchor {chain}#{seq}") for _, seq, hash_ in printed]
    last = max(hashes)
    for seq, hash_, what in sorted(given):
        if seq > last:
            return Finding(chain, "anchor", seq, None, (
                f"{chain}: {what} pins link {seq}, the chain has only {last} links now (entries deleted, or the "
                "chain rewritten)"))
        if seq not in hashes:
            return Finding(chain, "anchor", seq, None, f"{chain}: {what} pins link {seq}, which is missing now")
        if hashes[seq] != hash_:
            return Finding(chain, "anchor", seq, None, (
                f"{chain}: {what} no longer matches link {seq} ({hash_[:16]}… then, {hashes[seq][:16]}… now): "
                "the history up to it was rewritten"))
    return None
