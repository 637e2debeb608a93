"""The `command` backend: any backup program run over SSH on a host of the inventory.

For products the agent cannot drive itself (Veeam, Backup Exec, a vendor's CLI, a dump script),
the office writes one command that runs the backup and exits 0 only when it went well. What the
command prints as `key=value` lines is read back: `files=`, `bytes=`, `volumes=` (comma-separated
tape labels) and `error=` (one per error line). Anything else it prints is kept as the message.

    backups:
      backends:
        veeam:
          type: command
          options:
            host: backup-01                      # an inventory device with oti_ssh
            run: "powershell -File C:/oti/veeam-job.ps1 -Job '{job}' -Level {level}"
"""

from __future__ import annotations

import re
import secrets
import shlex
import threading
from datetime import UTC, datetime

from pydantic import Field

from agent.backups.backend import BackendOptions, BackupBackend, JobResult
from agent.errors import BackendError, CheckError
from agent.transports.ssh import run_command

_KV = re.compile(r"^\s*(files|bytes|volumes|error)\s*=\s*(.*?)\s*$", re.IGNORECASE)


class CommandOptions(BackendOptions):
    """Which host runs the backup command, and the command."""

    host: str = Field(description="inventory device (with oti_ssh) the command runs on")
    run: str = Field(description="the backup command; {job} and {level} are replaced (shell-quoted)")
    restore: str | None = Field(None, description="the restore command; {job_id}, {where} are replaced")
    timeout: float = Field(6 * 3600.0, gt=0, description="seconds the command may take")


class CommandBackend(BackupBackend):
    """Run a backup command over SSH; its exit status is the verdict."""

    Options = CommandOptions

    def __init__(self, name, options, settings):
        super().__init__(name, options, settings)
        self._jobs: dict[str, JobResult] = {}
        self._lock = threading.Lock()

    def start(self, job: str, level: str) -> str:
        job_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        command = self.options.run.format(job=shlex.quote(job), level=shlex.quote(level))
        started = datetime.now(UTC)
        result = self._ssh(command, job_id, job, level)
        result.started, result.ended = started, datetime.now(UTC)
        with self._lock:
            self._jobs[job_id] = result
        return job_id

    def job(self, job_id: str) -> JobResult:
        with self._lock:
            if job_id not in self._jobs:
                raise BackendError(f"{self.name}: no job {job_id} run by this agent")
            return self._jobs[job_id]

    def jobs_of(self, job: str, since=None) -> list[JobResult]:
        raise BackendError(f"{self.name}: the command backend keeps no catalog of past backups")

    def restore(self, job_id: str, where: str, files=None) -> JobResult:
        if not self.options.restore:
            raise BackendError(f"{self.name}: no restore command configured")
        command = self.options.restore.format(job_id=shlex.quote(job_id), where=shlex.quote(where))
        restore_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        result = self._ssh(command, restore_id, "restore", "Restore")
        with self._lock:
            self._jobs[restore_id] = result
        return result

    def _ssh(self, command: str, job_id: str, job: str, level: str) -> JobResult:
        device = self.settings.inventory.by_name.get(self.options.host)
        if device is None or device.ssh is None:
            raise BackendError(f"{self.name}: host {self.options.host!r} is not in the inventory with oti_ssh")
        try:
            status, out, err = run_command(device, self.settings.config, command, self.options.timeout)
        except CheckError as e:
            raise BackendError(f"{self.name}: {e}") from None
        found: dict[str, list[str]] = {}
        rest = []
        for line in out.splitlines():
            m = _KV.match(line)
            if m:
                found.setdefault(m.group(1).lower(), []).append(m.group(2))
            elif line.strip():
                rest.append(line.strip())
        errors = found.get("error", [])
        if status != 0:
            errors += [f"exit status {status}"] + [ln for ln in err.strip().splitlines()[-5:] if ln]
        return JobResult(job_id=job_id, name=job, level=level, status="ok" if status == 0 else "failed",
                         files=_num(found.get("files")), bytes=_num(found.get("bytes")),
                         volumes=[v for vs in found.get("volumes", []) for v in vs.split(",") if v],
                         errors=errors, backend_status=" / ".join(rest[-3:]))


def _num(values: list[str] | None) -> int:
    try:
        return int(values[-1].replace(",", "")) if values else 0
    except ValueError:
        return 0
