"""Backups (the latest runs, as the bitácora diaria lists them) and the tape inventory (Anexo 04)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from agent.api.deps import Ctx, Reader
from agent.store import queries

router = APIRouter(prefix="/api/v1", tags=["backups"])


class BackupRun(BaseModel):
    """One run of a backup job."""

    id: int
    asset: str
    backend: str
    job_name: str
    job_id: str | None
    level: str
    trigger: str
    attempt: int
    status: str = Field(description="running, ok, warning, failed, canceled or error")
    started_at: datetime
    ended_at: datetime | None
    bytes: int
    files: int
    volumes: list[str]
    errors: list[str]
    message: str | None


class Tape(BaseModel):
    """A tape of the inventory and where it is."""

    label: str
    backend: str
    pool: str | None
    status: str
    bytes: int
    last_written: datetime | None
    retention_until: datetime | None
    location: str = Field(description="biblioteca, oficina or custodia")
    box: str | None
    slot: int | None


@router.get("/backups", response_model=list[BackupRun])
def backups(who: Reader, ctx: Ctx, limit: int = Query(50, ge=1, le=1000),
            asset: str | None = None) -> list[BackupRun]:
    """The latest backup runs, newest first (of one asset)."""
    return [BackupRun(**{k: r[k] for k in BackupRun.model_fields if k not in ("volumes", "errors")},
                      volumes=[v for v in (r["volumes"] or "").split(",") if v],
                      errors=[str(e) for e in r["errors"]])
            for r in queries.backup_runs(ctx.store, asset=asset, newest_first=True, limit=limit)]


@router.get("/tapes", response_model=list[Tape])
def tapes(who: Reader, ctx: Ctx) -> list[Tape]:
    """Every tape, by label, with its custody box and location."""
    return [Tape(**{k: r[k] for k in Tape.model_fields}) for r in queries.tape_list(ctx.store)]
