"""What a backup backend does for the agent, and how one is found.

A backend is a class registered under the `oti_agent.backup_backends` entry point group, with an
`Options` model for its section of the config (`backups.backends.NAME`). It runs an asset's job and
says how it ended, lists the tapes it knows, finds the backup of a date and restores it. Calls are
blocking (bconsole, ssh): the service runs them in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agent.core import plugins
from agent.errors import BackendError

__all__ = ["BackendError", "BackendOptions", "BackupBackend", "CatalogFile", "JobResult", "Volume", "backend_class"]

@dataclass
class JobResult:
    """How one backup (or restore) job ended, in the backend's own terms plus the agent's verdict."""

    job_id: str
    name: str
    level: str                          # Full | Incremental | Differential | Restore
    status: str                         # ok | warning | failed | running | canceled
    started: datetime | None = None
    ended: datetime | None = None
    bytes: int = 0
    files: int = 0
    volumes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)    # the job's own error lines
    backend_status: str = ""            # e.g. Bacula's JobStatus letter and Termination text

    @property
    def good(self) -> bool:
        return self.status in ("ok", "warning")


@dataclass
class Volume:
    """A tape (volume) as the backend sees it."""

    label: str
    pool: str = ""
    status: str = ""                    # canonical: append, full, used, error, recycled, scratch, read_only
    backend_status: str = ""
    bytes: int = 0
    first_written: datetime | None = None
    last_written: datetime | None = None
    retention_s: int | None = None
    slot: int | None = None
    in_library: bool = False
    media_type: str = ""


@dataclass(frozen=True)
class CatalogFile:
    """One file a backup holds, as its catalog records it: what a restore drill checks the restored copy
    against. `digest` is in the backend's own notation (see `BackupBackend.same_digest`); "" when the
    backend keeps none."""

    path: str                           # absolute path as backed up
    size: int
    algo: str = ""                      # md5 | sha1 | sha256 | sha512 | ""
    digest: str = ""


class BackendOptions(BaseModel):
    """Options every backend takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BackupBackend:
    """Base class of the backends."""

    Options: ClassVar[type[BaseModel]] = BackendOptions
    supports_tapes: ClassVar[bool] = False

    def __init__(self, name: str, options: Any, settings):
        self.name, self.options, self.settings = name, options, settings

    def start(self, job: str, level: str) -> str:
        """Start a backup job; return the backend's job id."""
        raise NotImplementedError

    def job(self, job_id: str) -> JobResult:
        """Return a job's state now (status 'running' until it ends)."""
        raise NotImplementedError

    def cancel(self, job_id: str) -> None:
        """Cancel a running job (after the agent's timeout)."""

    def jobs_of(self, job: str, since: datetime | None = None) -> list[JobResult]:
        """Return the backups of a job, oldest first (the catalog, to find a date's backup)."""
        raise NotImplementedError

    def volumes(self) -> list[Volume]:
        """Return every tape the backend knows."""
        return []

    def rescan(self) -> None:
        """Make the tape library read its barcodes again, where the backend can."""

    def label(self, pool: str, slots: str) -> list[str]:
        """Label new tapes in library slots; return the labels created."""
        raise BackendError(f"{self.name}: this backend does not label tapes")

    def restore(self, job_id: str, where: str, files: list[str] | None = None) -> JobResult:
        """Start restoring a backup (or a chain "1,5,7") under `where`; return the restore job (poll `job`)."""
        raise NotImplementedError

    def contents(self, job_ids: list[str]) -> tuple[int, int]:
        """Files and directories the backups hold, when the backend can tell; (0, 0) otherwise."""
        return 0, 0

    def scratch_restore(self, job_id: str, where: str) -> JobResult:
        """Restore a backup for a drill, where the agent can read it (Bacula: to the agent's own client)."""
        return self.restore(job_id, where)

    def catalog(self, job_ids: list[str]) -> list[CatalogFile]:
        """The files a backup (or a chain, later jobs winning) holds, with sizes and checksums, for a drill."""
        raise BackendError(f"{self.name}: this backend keeps no catalog of the files it backed up")

    def same_digest(self, entry: CatalogFile, raw: bytes) -> bool:
        """Whether a file's digest (raw bytes, of `entry.algo`) is the one the catalog recorded."""
        return raw.hex() == entry.digest.lower()


def backend_class(kind: str) -> type[BackupBackend]:
    """Return the backend class registered as `kind` (an unknown one lists the installed)."""
    return plugins.backend(kind)
