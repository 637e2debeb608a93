"""The hash chains over the office's journals (migration 18; how they are used: `agent/store/chain.py`).

A side table of links rather than columns in the journals themselves: the access log's entries are
legitimately updated after they are written (the jefa's decision, the time out), each update appending a
new link for its row, and the four journals keep the shape every reader already knows.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text, false

from agent.store.schema import metadata

chain_links = Table(
    "chain_links", metadata,
    Column("chain", String(32), primary_key=True),         # the journal's table name: run_events, access_log...
    Column("seq", Integer, primary_key=True, autoincrement=False),   # 1, 2, 3... per chain
    Column("row_id", Integer, nullable=False),             # the journal row this link is about
    Column("digest", String(64), nullable=False),          # sha256 of the row's canonical content
    Column("prev", String(64), nullable=False),            # the previous link's hash (genesis: 64 zeros)
    Column("hash", String(64), nullable=False),            # sha256(prev|chain|seq|row_id|digest)
    Column("at", DateTime(timezone=True), nullable=False),
    Column("pruned", Boolean, nullable=False, default=False, server_default=false()),   # retention deleted the row
    Index("ix_chain_links_row", "chain", "row_id"),
)

chain_heads = Table(
    "chain_heads", metadata,
    Column("chain", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),                # the last link's seq (0: no link yet)
    Column("hash", String(64), nullable=False),            # the last link's hash
)

chain_anchors = Table(
    "chain_anchors", metadata,
    Column("day", String(10), primary_key=True),           # YYYY-MM-DD, the office's day of the checklist
    Column("chain", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", Text),                             # base64 Ed25519 over chain_sign.message(...), or NULL
    Column("at", DateTime(timezone=True), nullable=False),
)
