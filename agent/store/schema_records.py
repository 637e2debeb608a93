"""The archive of the documents the agent writes: one record per document written, one row per file (issue 17).

Part of the one schema (it shares `agent/store/schema.py`'s metadata). Written only by
`agent/documents/archive.py`. A record is what a verification code answers for: which document, of which
parameters, written when and by what (a schedule, a run, a person at the CLI), and who signs it. Its files
are kept by their SHA-256 over the bytes as written (HTML, XLSX and PDF each), so a copy mailed years ago
is recognised, and a copy with one byte changed is not. The documents themselves stay in the documents
folder; the archive holds no content, only what proves it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from agent.store.schema import metadata

document_records = Table(
    "document_records", metadata,
    Column("code", String(16), primary_key=True),           # the verification code, without its dash
    Column("document", String(64), nullable=False),         # the registered document's name
    Column("title", Text, nullable=False),                  # as printed in its header block
    Column("form", String(128), nullable=False),            # procedure — annex, version
    Column("params", Text, nullable=False),                 # JSON: what it was written for (day, month, run_id)
    Column("origin", Text, nullable=False),                 # programado | ejecución RUN | CLI (login)
    Column("signers", Text, nullable=False),                # JSON: signature line -> name and role
    Column("written_at", DateTime(timezone=True), nullable=False),
    Index("ix_document_records_document", "document", "written_at"),
)

document_files = Table(
    "document_files", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("code", String(16), ForeignKey("document_records.code"), nullable=False),
    Column("format", String(8), nullable=False),            # html | xlsx | pdf
    Column("name", Text, nullable=False),                   # the file's name as written (folder/name.pdf)
    Column("size", Integer, nullable=False),
    Index("ix_document_files_code", "code"),
)
