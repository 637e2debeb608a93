"""The `files` backend: tar.gz archives of local folders, each with a JSON manifest as its catalog.

For what lives on the agent's own host and needs no backup program: its config, its documents, a
folder of database dumps written by a cron job. One archive per backup under `options.dest/<job>/`,
beside it a manifest of every file (path, size, SHA-256) that a restore drill checks the restored
copy against. Archives older than the asset's retention are removed when the next backup runs.

    backups:
      backends:
        local:
          type: files
          options:
            dest: var/copias                     # relative to the config file
            jobs: {agente: [config, documentos]}
            keep_days: 30

Backups are always full (the level asked is recorded, the archive holds everything). Calls block.

Only regular files are archived. Symbolic links are never followed nor stored, neither in the manifest
nor in the archive: a link's target may lie outside the folder (the manifest would describe a file the
archive does not hold), and the restore's `data` filter refuses an absolute link, which would fail the
whole restore. The backup says how many it left out («N enlaces simbólicos no copiados», the backup
run's message). The archive and the manifest are created 0600 (under a temporary name, then renamed:
a half-written backup is never seen as one), in a folder kept 0700.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import stat
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import Field

from agent.backups.backend import BackendOptions, BackupBackend, CatalogFile, JobResult, Volume
from agent.errors import BackendError

_LOGGER = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9]{14}-[0-9a-f]{6}$")
CHUNK = 1 << 20


class FilesOptions(BackendOptions):
    """Where the archives go, and which folders each job archives."""

    dest: Path = Field(description="folder the archives and manifests are written to (relative: to the config)")
    jobs: dict[str, list[Path]] = Field(description="job name -> folders or files it archives")
    keep_days: int = Field(1461, gt=0, description="archives older than this are removed (the retention)")


class FilesBackend(BackupBackend):
    """Archive local folders with tar.gz; the manifest is the catalog."""

    Options = FilesOptions

    # ------------------------------------------------------------------ paths
    def _root(self, job: str | None = None) -> Path:
        dest = Path(self.options.dest)
        if not dest.is_absolute() and self.settings is not None:
            dest = self.settings.config.path(dest)
        return dest / job if job else dest

    def _sources(self, job: str) -> list[Path]:
        if job not in self.options.jobs:
            raise BackendError(f"{self.name}: no job {job!r}; it has: {', '.join(self.options.jobs)}")
        out = []
        for p in self.options.jobs[job]:
            p = Path(p)
            out.append(p if p.is_absolute() or self.settings is None else self.settings.config.path(p))
        return out

    def _manifest(self, job_id: str) -> Path:
        if not _ID.match(job_id):
            raise BackendError(f"{self.name}: {job_id!r} is not a job id of this backend")
        for job in self.options.jobs:
            m = self._root(job) / f"{job_id}.json"
            if m.exists():
                return m
        raise BackendError(f"{self.name}: no backup {job_id}")

    # ------------------------------------------------------------------ backup
    def start(self, job: str, level: str) -> str:
        sources = self._sources(job)
        folder = self._root(job)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)             # mkdir's mode does nothing to a folder that already exists
        started = datetime.now(UTC)
        job_id = f"{started:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        archive = folder / f"{job_id}.tar.gz"
        with _PrivateFile(archive) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            files, errors, links = _archive(tar, sources)
        if links:
            _LOGGER.warning("%s: job %s: %d symbolic link(s) not archived", self.name, job, links)
        manifest = {"job_id": job_id, "job": job, "level": level, "started": started.isoformat(),
                    "ended": datetime.now(UTC).isoformat(), "status": "failed" if errors else "ok",
                    "archive": archive.name, "files": files, "errors": errors, "links": links}
        with _PrivateFile(folder / f"{job_id}.json") as f:
            f.write(json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        self._prune(job, started)
        return job_id

    def _prune(self, job: str, now: datetime) -> None:
        """Remove the archives past the retention (never the newest)."""
        old = [r for r in self.jobs_of(job)[:-1] if r.started and r.started < now - timedelta(days=self.options.keep_days)]
        for r in old:
            for suffix in (".tar.gz", ".json"):
                (self._root(job) / f"{r.job_id}{suffix}").unlink(missing_ok=True)

    def job(self, job_id: str) -> JobResult:
        return _result(json.loads(self._manifest(job_id).read_text(encoding="utf-8")))

    def jobs_of(self, job: str, since: datetime | None = None) -> list[JobResult]:
        self._sources(job)
        out = []
        for m in sorted(self._root(job).glob("*.json")):
            r = _result(json.loads(m.read_text(encoding="utf-8")))
            if since is None or (r.started and r.started >= since):
                out.append(r)
        return sorted(out, key=lambda r: (r.started, r.job_id))

    def volumes(self) -> list[Volume]:
        return []

    # ------------------------------------------------------------------ restore
    def restore(self, job_id: str, where: str, files: list[str] | None = None) -> JobResult:
        """Extract an archive under `where` with the original paths below it (as Bacula's `where=`)."""
        last = job_id.split(",")[-1]
        manifest = json.loads(self._manifest(last).read_text(encoding="utf-8"))
        archive = self._manifest(last).with_name(manifest["archive"])
        started = datetime.now(UTC)
        errors: list[str] = []
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = [m for m in tar.getmembers() if not files or "/" + m.name in files]
                tar.extractall(where, members=members, filter="data")
        except (OSError, tarfile.TarError, EOFError) as err:
            errors.append(f"Error: {archive.name}: {err}")
        restore_id = f"{started:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        return JobResult(job_id=restore_id, name="restore", level="Restore", status="failed" if errors else "ok",
                         started=started, ended=datetime.now(UTC), files=len(manifest["files"]),
                         bytes=sum(f["size"] for f in manifest["files"]), errors=errors)

    def catalog(self, job_ids: list[str]) -> list[CatalogFile]:
        manifest = json.loads(self._manifest(job_ids[-1]).read_text(encoding="utf-8"))
        return [CatalogFile(f["path"], f["size"], "sha256", f["sha256"]) for f in manifest["files"]]

    def contents(self, job_ids: list[str]) -> tuple[int, int]:
        files = self.catalog(job_ids)
        return len(files), len({str(Path(f.path).parent) for f in files})


class _PrivateFile:
    """A new file created 0600 from the start (O_EXCL: never an existing one, nor through a link) under a
    temporary name, renamed to `path` once written whole; removed when writing fails."""

    def __init__(self, path: Path):
        self.path, self.tmp = path, path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")

    def __enter__(self):
        fd = os.open(self.tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
        self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, kind, err, tb) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _archive(tar: tarfile.TarFile, sources: list[Path]) -> tuple[list[dict], list[str], int]:
    """Add the regular files of the sources to the archive; (manifest entries, errors, links left out)."""
    files: list[dict] = []
    errors: list[str] = []
    links = 0
    for src in sources:
        if not src.is_symlink() and not src.exists():
            errors.append(f"Error: {src} no existe")
            continue
        paths, skipped = _regular_files(src)
        links += skipped
        for path in paths:
            try:
                files.append(_add(tar, path))
            except OSError as err:
                errors.append(f"Error: {path}: {err.strerror or err}")
    return files, errors, links


def _regular_files(src: Path) -> tuple[list[Path], int]:
    """The regular files under `src` (itself, when it is one), sorted, and how many symbolic links were met;
    links to folders are not descended into, links to files not taken (see the module's docstring)."""
    if src.is_symlink():
        return [], 1
    if not src.is_dir():
        return ([src] if src.is_file() else []), 0
    out, links = [], 0
    for top, dirs, names in os.walk(src, followlinks=False):
        for name in dirs + names:
            path = Path(top) / name
            try:
                mode = os.lstat(path).st_mode
            except OSError:                 # gone since the folder was listed: nothing to archive
                continue
            if stat.S_ISLNK(mode):
                links += 1
            elif stat.S_ISREG(mode):
                out.append(path)
    return sorted(out), links


def _add(tar: tarfile.TarFile, path: Path) -> dict:
    """Archive one file and describe it, both from the same open file: O_NOFOLLOW, so a file swapped for a
    link after the walk is refused rather than followed."""
    with open(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
        info = tar.gettarinfo(arcname=str(path).lstrip("/"), fileobj=f)
        if not info.isreg():
            raise OSError("no es un archivo regular")
        h = hashlib.sha256()
        while chunk := f.read(CHUNK):
            h.update(chunk)
        f.seek(0)
        tar.addfile(info, f)
    return {"path": str(path), "size": info.size, "sha256": h.hexdigest()}


def _result(m: dict) -> JobResult:
    return JobResult(job_id=m["job_id"], name=m["job"], level=m["level"], status=m["status"],
                     started=datetime.fromisoformat(m["started"]), ended=datetime.fromisoformat(m["ended"]),
                     files=len(m["files"]), bytes=sum(f["size"] for f in m["files"]), volumes=[m["archive"]],
                     errors=list(m["errors"]),
                     backend_status=f"{m['links']} enlaces simbólicos no copiados" if m.get("links") else "")
