"""The office's documents as the agent archived them (checklists, bitácoras, reports, the tape inventory):
the list, and each one to download. Only files under the config's documents_dir, after symlinks are
resolved; anything else is not found. Some carry personal data (the access log's DNI numbers), so they are
for the office's staff, not for every person of the registry."""

from __future__ import annotations

import mimetypes
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from agent.api.deps import Ctx, require_roles
from agent.core.people import OPERATORS, Identity

router = APIRouter(prefix="/api/v1", tags=["documents"])
READERS = sorted(OPERATORS | {"gg", "administrador"})
Staff = Annotated[Identity, Depends(require_roles(*READERS, scope="read"))]
_DATE = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")
MAX_LISTED = 5000


class Document(BaseModel):
    """An archived document."""

    path: str = Field(description="relative to the documents folder; GET /api/v1/documents/{path} downloads "
                      "it")
    kind: str = Field(description="its folder: checklists, bitacoras, reportes, cintas, or a run's id")
    format: str
    date: date
    size: int


def _root(ctx) -> Path:
    cfg = ctx.settings.config
    return cfg.path(cfg.documents_dir).resolve()


def _document(root: Path, path: Path, tz: ZoneInfo) -> Document:
    rel = path.relative_to(root)
    stat = path.stat()
    return Document(path=rel.as_posix(), kind=rel.parts[0] if len(rel.parts) > 1 else "documento",
                    format=path.suffix.lstrip(".").lower(), date=_date_of(path.name, stat.st_mtime, tz),
                    size=stat.st_size)


def _date_of(name: str, mtime: float, tz: ZoneInfo) -> date:
    """The date a document's name carries (YYYY-MM or YYYY-MM-DD), else the day it was written."""
    found = _DATE.search(name)
    if found:
        try:
            return date(int(found[1]), int(found[2]), int(found[3] or 1))
        except ValueError:
            pass
    return datetime.fromtimestamp(mtime, tz).date()


@router.get("/documents", response_model=list[Document])
def documents(who: Staff, ctx: Ctx) -> list[Document]:
    """Every archived document, newest first (symlinks and hidden files are not listed)."""
    root, tz = _root(ctx), ZoneInfo(ctx.settings.config.agent.timezone)
    out: list[Document] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            out.append(_document(root, path, tz))
            if len(out) >= MAX_LISTED:          # the whole walk stops, not only this folder's files
                return sorted(out, key=lambda d: (d.date, d.path), reverse=True)
    return sorted(out, key=lambda d: (d.date, d.path), reverse=True)


@router.get("/documents/{path:path}", response_class=FileResponse, responses={404: {}})
def download(path: str, who: Staff, ctx: Ctx) -> FileResponse:
    """One document, as a download."""
    root = _root(ctx)
    try:
        target = (root / path).resolve()
        inside = target.is_relative_to(root) and target.is_file()
    except (OSError, ValueError):               # a NUL byte, a loop of links
        inside = False
    if not inside or any(p.startswith(".") for p in target.relative_to(root).parts):
        raise HTTPException(404, f"no document {path!r}")
    kind, _encoding = mimetypes.guess_type(target.name)
    return FileResponse(target, media_type=kind or "application/octet-stream", filename=target.name)
