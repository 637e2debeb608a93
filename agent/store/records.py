"""The archive of written documents in the store: a record per document, its files by SHA-256 (issue 17).

Owner of `document_records` and `document_files` (agent/store/schema_records.py). The documents room
calls it when a document is written (agent/documents/compose.py) and when a file or a code is checked
(agent/documents/verification.py); the codes and hashes themselves are made in agent/documents/archive.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select

from agent.store.schema_records import document_files, document_records


@dataclass(frozen=True)
class Record:
    """What the archive knows of one written document."""

    code: str
    document: str
    title: str
    form: str
    params: dict
    origin: str
    signers: dict
    written_at: datetime
    files: tuple[dict, ...] = ()          # {format, name, size, sha256}

    @property
    def shown_code(self) -> str:
        """The code as printed: 'K7Q3D-9MX2P'."""
        return f"{self.code[:5]}-{self.code[5:]}"


def keep(store, *, code: str, document: str, title: str, form: str, params: dict, origin: str,
         signers: dict, files: dict[str, Path], sha256s: dict[str, str], names: dict[str, str],
         now: datetime) -> Record:
    """Keep the record of a document whose files (format -> path, possibly still under a temporary name,
    and its SHA-256) were just written; `names` are the names they are published under."""
    rows = [{"sha256": sha256s[fmt], "code": code, "format": fmt, "name": names[fmt],
             "size": path.stat().st_size} for fmt, path in files.items()]
    values = dict(code=code, document=document, title=title, form=form,
                  params=json.dumps(params, sort_keys=True, default=str, ensure_ascii=False), origin=origin,
                  signers=json.dumps(signers, sort_keys=True, ensure_ascii=False), written_at=now)
    with store.transaction() as conn:
        conn.execute(insert(document_records).values(**values))
        conn.execute(insert(document_files), rows)
    return Record(code, document, title, form, params, origin, signers, now, tuple(rows))


def by_code(store, code: str) -> Record | None:
    """The record of a (normalised) code, with its files; None when no document has it."""
    rows = store.rows(select(document_records).where(document_records.c.code == code))
    if not rows:
        return None
    files = store.rows(select(document_files).where(document_files.c.code == code)
                       .order_by(document_files.c.format))
    r = rows[0]
    return Record(r["code"], r["document"], r["title"], r["form"], json.loads(r["params"]), r["origin"],
                  json.loads(r["signers"]), r["written_at"],
                  tuple({k: f[k] for k in ("format", "name", "size", "sha256")} for f in files))


def by_hash(store, sha256: str) -> tuple[Record, str] | None:
    """The record a file of this SHA-256 belongs to, and the file's format."""
    rows = store.rows(select(document_files.c.code, document_files.c.format)
                      .where(document_files.c.sha256 == sha256))
    return (by_code(store, rows[0]["code"]), rows[0]["format"]) if rows else None


def by_name(store, name: str) -> Record | None:
    """The latest record that published a file of this name (folder/name.ext, or just name.ext)."""
    column = document_files.c.name
    rows = store.rows(select(document_files.c.code).join(document_records)
                      .where((column == name) | column.like(f"%/{_like_escaped(name)}", escape="\\"))
                      .order_by(document_records.c.written_at.desc()).limit(1))
    return by_code(store, rows[0]["code"]) if rows else None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


