"""The Bacula backend, through `bconsole` (Bacula 9.x; the catalog may be SQLite or PostgreSQL).

bconsole exits 0 even when a job fails, so nothing here trusts its exit status: a job's verdict is
its catalog JobStatus, and its error lines come from the job log. Catalog reads go through `.sql`,
whose raw tab-separated rows look the same whatever the catalog database (the text tables of
`list` change their headers and number format between SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
import socket
import subprocess
from datetime import datetime
from pathlib import Path

from pydantic import Field

from agent.backups.backend import BackendOptions, BackupBackend, CatalogFile, JobResult, Volume
from agent.errors import BackendError

# JobStatus letters (Bacula's `status` table) -> the agent's verdict; every other letter is a job
# still queued, running or waiting (for a client, a storage, a tape...)
_ENDED = {"T": "ok", "W": "warning", "D": "warning", "E": "failed", "e": "failed", "f": "failed", "I": "failed",
          "A": "canceled"}
_WAITING = {"m": "waiting for a new tape", "M": "waiting for a tape to be mounted", "F": "waiting for the client",
            "S": "waiting for the storage daemon", "s": "waiting for the storage", "c": "waiting for the client",
            "j": "waiting for a job", "B": "blocked", "q": "queued for the device", "C": "created", "R": "running"}
_VOLSTATUS = {"Append": "append", "Full": "full", "Used": "used", "Error": "error", "Recycle": "recycled",
              "Purged": "recycled", "Read-Only": "read_only", "Archive": "read_only", "Disabled": "error",
              "Busy": "append", "Cleaning": "cleaning", "Scratch": "scratch"}
_LEVELS = {"F": "Full", "I": "Incremental", "D": "Differential"}
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_ERROR_LINE = re.compile(r"JobId \d+: ((?:Fatal error|Error|Warning): (?!Bacula ).*)")


class BaculaOptions(BackendOptions):
    """Where bconsole is and how to reach the director."""

    bconsole: str = Field("bconsole", description="the bconsole program")
    config: Path = Field(Path("/etc/bacula/bconsole.conf"), description="bconsole.conf (holds the director's "
                         "password: keep it readable by the agent only)")
    restore_job: str = Field("RestoreFiles", description="the director's Restore job the agent uses")
    storage: str | None = Field(None, description="the autochanger's Storage name, for `tapes sync --rescan` "
                                "(update slots: the library reads its barcodes again)")
    timeout: float = Field(60.0, gt=0, description="seconds one bconsole call may take")
    drill_client: str | None = Field(None, description="the Client restore drills restore to: the file daemon "
                                     "of the agent's host, which reads and removes what was restored (required "
                                     "for drills: the backup's own client would keep the copy on its server)")


class BaculaBackend(BackupBackend):
    """Run and read Bacula jobs and volumes."""

    Options = BaculaOptions
    supports_tapes = True

    # ------------------------------------------------------------------ jobs
    def start(self, job: str, level: str) -> str:
        self._known_job(job)
        out = self._console(f"run job={job} level={level} yes")
        m = re.search(r"Job queued\. JobId=(\d+)", out)
        if not m:
            raise BackendError(f"bacula: job {job} was not queued: {_last_lines(out)}")
        return m.group(1)

    def job(self, job_id: str) -> JobResult:
        if not job_id.isdigit():
            raise BackendError(f"bacula: {job_id!r} is not a JobId")
        rows = self._sql("SELECT j.JobId, j.Name, j.Level, j.Type, j.JobStatus, j.StartTime, j.EndTime, j.JobFiles, "
                         f"j.JobBytes, j.JobErrors FROM Job j WHERE j.JobId={job_id}", 10)
        if not rows:
            raise BackendError(f"bacula: no job {job_id} in the catalog")
        result = _job_result(rows[0])
        result.volumes = [r[0] for r in self._sql(
            "SELECT DISTINCT m.VolumeName FROM JobMedia jm JOIN Media m ON m.MediaId=jm.MediaId "
            f"WHERE jm.JobId={job_id} ORDER BY m.VolumeName", 1)]
        if result.status in ("failed", "warning", "canceled"):
            result.errors = job_errors(self._console(f"list joblog jobid={job_id}"))
        return result

    def cancel(self, job_id: str) -> None:
        self._console(f"cancel jobid={int(job_id)} yes")

    def jobs_of(self, job: str, since: datetime | None = None) -> list[JobResult]:
        self._known_job(job)
        where = f" AND j.StartTime >= '{since:%Y-%m-%d %H:%M:%S}'" if since else ""
        rows = self._sql("SELECT j.JobId, j.Name, j.Level, j.Type, j.JobStatus, j.StartTime, j.EndTime, j.JobFiles, "
                         f"j.JobBytes, j.JobErrors FROM Job j WHERE j.Name='{job}' AND j.Type='B'{where} "
                         "ORDER BY j.StartTime, j.JobId", 10)
        out = [_job_result(r) for r in rows]
        media = self._sql("SELECT DISTINCT jm.JobId, m.VolumeName FROM JobMedia jm JOIN Media m ON "
                          f"m.MediaId=jm.MediaId JOIN Job j ON j.JobId=jm.JobId WHERE j.Name='{job}'", 2)
        by_job: dict[str, list[str]] = {}
        for job_id, volume in media:
            by_job.setdefault(job_id, []).append(volume)
        for r in out:
            r.volumes = sorted(by_job.get(r.job_id, []))
        return out

    # ------------------------------------------------------------------ tapes
    def volumes(self) -> list[Volume]:
        rows = self._sql("SELECT m.VolumeName, p.Name, m.VolStatus, m.VolBytes, m.FirstWritten, m.LastWritten, "
                         "m.VolRetention, m.Slot, m.InChanger, m.MediaType FROM Media m JOIN Pool p ON "
                         "p.PoolId=m.PoolId ORDER BY m.VolumeName", 10)
        return [Volume(label=r[0], pool=r[1], status=_VOLSTATUS.get(r[2], r[2].lower()), backend_status=r[2],
                       bytes=_int(r[3]), first_written=_when(r[4]), last_written=_when(r[5]),
                       retention_s=_int(r[6]), slot=_int(r[7]) or None, in_library=r[8] == "1", media_type=r[9])
                for r in rows]

    def label(self, pool: str, slots: str) -> list[str]:
        """Label the tapes in some library slots by their barcodes (`label barcodes`); return the labels
        created. Tapes already labelled are left alone by Bacula."""
        if not self.options.storage:
            raise BackendError(f"{self.name}: set options.storage (the autochanger) to label tapes")
        _check_name(pool, "pool")
        _check_name(self.options.storage, "storage")
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", slots):
            raise BackendError(f"bacula: slots {slots!r} must look like 1-8 or 1,3,5")
        out = self._console(f"label barcodes storage={self.options.storage} pool={pool} slots={slots} drive=0\nyes")
        created = re.findall(r'(?:Catalog|Media) record for Volume "([^"]+)".*successfully created', out)
        refused = re.findall(r"(.*already exists.*|.*not found.*|.*ERR=.*)", out)
        if not created and refused:
            raise BackendError(f"bacula: nothing labelled: {'; '.join(refused[:3])}")
        return created

    def rescan(self) -> None:
        """Make the library read its barcodes again (after tapes went out or came back)."""
        if not self.options.storage:
            raise BackendError(f"{self.name}: set options.storage (the autochanger) to rescan the library")
        _check_name(self.options.storage, "storage")
        self._console(f"update slots storage={self.options.storage} drive=0")

    # ------------------------------------------------------------------ restore
    def contents(self, job_ids: list[str]) -> tuple[int, int]:
        """Files and directories a chain of backups holds (each path counted once)."""
        paths: set[str] = set()
        for job_id in job_ids:
            if not job_id.isdigit():
                raise BackendError(f"bacula: {job_id!r} is not a JobId")
            out = self._console(f"list files jobid={job_id}")
            body = out.split(f"list files jobid={job_id}", 1)[-1]
            for line in body.splitlines():
                m = re.match(r"^\|\s(/.*?)\s*\|$", line)
                if m:
                    paths.add(m.group(1))
        dirs = sum(1 for p in paths if p.endswith("/"))
        return len(paths) - dirs, dirs

    def catalog(self, job_ids: list[str]) -> list[CatalogFile]:
        """The files of a chain of backups from the catalog's File table: size from LStat, the FileSet's
        signature (MD5, SHA1...) as the digest; a later job's entry wins, a deletion (FileIndex 0) removes it."""
        if not job_ids or not all(j.isdigit() for j in job_ids):
            raise BackendError(f"bacula: {job_ids!r} are not JobIds")
        rows = self._sql("SELECT p.Path, n.Name, f.FileIndex, f.LStat, f.MD5 FROM File f JOIN Path p ON "
                         "p.PathId=f.PathId JOIN Filename n ON n.FilenameId=f.FilenameId WHERE f.JobId IN "
                         f"({','.join(job_ids)}) AND n.Name <> '' ORDER BY f.JobId, f.FileIndex", 5)
        found: dict[str, CatalogFile] = {}
        for path, name, index, lstat, digest in rows:
            full = path + name
            if index == "0":
                found.pop(full, None)
                continue
            fields = lstat.split()
            if len(fields) < 8 or not _is_regular(fields[2]):
                continue
            algo = _DIGEST_ALGO.get(len(digest.rstrip("=")), "") if digest and digest != "0" else ""
            found[full] = CatalogFile(full, _b64_int(fields[7]), algo, digest if algo else "")
        return sorted(found.values(), key=lambda f: f.path)

    def same_digest(self, entry: CatalogFile, raw: bytes) -> bool:
        """Bacula writes digests in its own base64 (both of its variants are accepted: old file daemons
        wrote the non-"compatible" one)."""
        stored = entry.digest.rstrip("=")
        return stored in (_b64_bin(raw, True), _b64_bin(raw, False))

    def scratch_restore(self, job_id: str, where: str) -> JobResult:
        """A drill's restore, onto `drill_client` (restoreclient=). Without one Bacula would restore onto the
        backup's own client: the copy would land under the agent's scratch path on that server, where the
        agent can neither verify it nor remove it (its cleanup would report a local folder gone)."""
        if not self.options.drill_client:
            raise BackendError(f"{self.name}: restore drills need options.drill_client: set it to the Client of "
                               "the agent host's file daemon (the drill would otherwise restore onto the "
                               "backup's own client, out of the agent's reach)")
        return self.restore(job_id, where, restore_client=self.options.drill_client)

    def restore(self, job_id: str, where: str, files: list[str] | None = None,
                restore_client: str | None = None) -> JobResult:
        """Restore a backup, or a chain of them ("12,15,17": a full then its incrementals, merged)."""
        if not re.fullmatch(r"\d+(,\d+)*", job_id):
            raise BackendError(f"bacula: {job_id!r} is not a JobId or a list of them")
        last = job_id.split(",")[-1]
        client = self._sql(f"SELECT c.Name FROM Job j JOIN Client c ON c.ClientId=j.ClientId WHERE j.JobId={last}", 1)
        if not client:
            raise BackendError(f"bacula: no job {job_id} in the catalog")
        if any(c in where for c in "\n\"'") or any(c in f for f in files or [] for c in "\n\"'"):
            raise BackendError("bacula: restore paths may not contain quotes or new lines")
        what = " ".join(f'file="{f}"' for f in files) if files else "all done"
        if restore_client:
            _check_name(restore_client, "client")
        onto = f" restoreclient={restore_client}" if restore_client else ""
        out = self._console(f"restore jobid={job_id} client={client[0][0]}{onto} restorejob={self.options.restore_job} "
                            f'where="{where}" {what} yes')
        m = re.search(r"Job queued\. JobId=(\d+)", out)
        if restore_client and f'Restore Client "{restore_client}" not found' in out:
            if m:                              # bconsole chose another client by itself: not that one
                self.cancel(m.group(1))
            raise BackendError(f"bacula: the director has no client {restore_client!r} (options.drill_client)")
        if not m:
            raise BackendError(f"bacula: restore of job {job_id} was not queued: {_last_lines(out)}")
        return JobResult(job_id=m.group(1), name=self.options.restore_job, level="Restore", status="running")

    # ------------------------------------------------------------------ bconsole
    def _known_job(self, job: str) -> None:
        _check_name(job, "job")
        out = self._console(".jobs")
        jobs = out.split(".jobs\n", 1)[-1].splitlines()
        jobs = [j for j in jobs if _NAME.match(j) and j != "quit"]
        if job not in jobs:
            known = [j for j in jobs if j != self.options.restore_job]
            raise BackendError(f"bacula: the director has no job {job!r}; it has: {', '.join(known[-20:])}")

    def _sql(self, query: str, columns: int) -> list[list[str]]:
        """Run a catalog query through `.sql`; its rows come as tab-terminated fields on one stream."""
        out = self._console(f'.sql query="{query};"')
        body = out.split(".sql query=", 1)[-1].split("\n", 1)[-1]
        body = re.sub(r'^Using Catalog "[^"]*"\n', "", body)
        body = re.sub(r"^Automatically selected Catalog: .*\n", "", body)
        if "Query failed" in body or "ERR=" in body:
            raise BackendError(f"bacula: catalog query failed: {_last_lines(body)}")
        body = re.sub(r"\n?You have messages\.\n?", "", body)
        body = re.sub(r"quit\n?$", "", body)         # the echo of our closing command follows the last row
        fields = body.rstrip("\n").split("\t")
        if fields and fields[-1].strip() == "":
            fields.pop()
        fields = [f.lstrip("\n") for f in fields]
        if len(fields) % columns:
            raise BackendError(f"bacula: catalog answer not understood ({len(fields)} fields for {columns} columns)")
        return [fields[i:i + columns] for i in range(0, len(fields), columns)]

    def _console(self, commands: str) -> str:
        conf = Path(self.options.config)
        if not conf.is_absolute():
            conf = self.settings.config.path(conf) if self.settings is not None else conf
        self._reachable(conf)
        try:
            done = subprocess.run([self.options.bconsole, "-n", "-c", str(conf)], input=commands + "\nquit\n",
                                  capture_output=True, text=True, timeout=self.options.timeout)
        except FileNotFoundError:
            raise BackendError(f"bacula: {self.options.bconsole} is not installed") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"bacula: bconsole did not answer within {self.options.timeout:g}s") from None
        out = done.stdout
        if "Director authorization problem" in out or "Authorization problem" in out:
            raise BackendError(f"bacula: the director refused bconsole's password ({conf})")
        return out

    def _reachable(self, conf: Path) -> None:
        """Fail fast with the address when the director does not listen (bconsole would retry for minutes)."""
        try:
            text = conf.read_text()
        except OSError as err:
            raise BackendError(f"bacula: cannot read {conf}: {err.strerror}") from None
        port = re.search(r"(?im)^\s*DIRport\s*=\s*(\d+)", text)
        addr = re.search(r"(?im)^\s*address\s*=\s*\"?([^\s\"]+)", text)
        host, p = (addr.group(1) if addr else "localhost"), int(port.group(1)) if port else 9101
        try:
            socket.create_connection((host, p), timeout=5).close()
        except OSError as err:
            raise BackendError(f"bacula: the director at {host}:{p} does not answer ({err.strerror or err})") from None


def job_errors(joblog: str) -> list[str]:
    """The error and warning lines of a job log (`list joblog`), plus its Termination line."""
    out = []
    for line in joblog.splitlines():
        m = _ERROR_LINE.search(line)
        if m:
            out.append(m.group(1).rstrip(" |\\").strip())
        t = re.search(r"Termination:\s+(.*)", line)
        if t:
            out.append(f"Termination: {t.group(1).strip()}")
    return list(dict.fromkeys(out))        # a line the log repeats is reported once


def _job_result(row: list[str]) -> JobResult:
    job_id, name, level, jtype, status, start, end, files, size, errors = row
    verdict = _ENDED.get(status, "running")
    if verdict == "ok" and _int(errors):
        verdict = "warning"
    return JobResult(job_id=job_id, name=name, level="Restore" if jtype == "R" else _LEVELS.get(level, level),
                     status=verdict, started=_when(start), ended=_when(end) if status in _ENDED else None,
                     files=_int(files), bytes=_int(size),
                     backend_status=f"{status} ({_WAITING.get(status, 'ended')})" if verdict == "running" else status)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DIGEST_ALGO = {22: "md5", 27: "sha1", 43: "sha256", 86: "sha512"}     # base64 length -> the signature


def _b64_int(text: str) -> int:
    """Bacula's base64 integers (LStat fields): digits of 6 bits, most significant first, '-' for negative."""
    neg, value = text.startswith("-"), 0
    for c in text.lstrip("-"):
        value = (value << 6) + _B64.index(c)
    return -value if neg else value


def _is_regular(mode: str) -> bool:
    return (_b64_int(mode) & 0o170000) == 0o100000


def _b64_bin(data: bytes, compatible: bool) -> str:
    """Bacula's bin_to_base64: with `compatible`, plain base64 without padding; without it, bytes are
    sign-extended and the last digit is not shifted (what older file daemons stored)."""
    out, reg, rem = [], 0, 0
    i = 0
    while i < len(data):
        if rem < 6:
            b = data[i]
            reg = ((reg << 8) | (b if compatible or b < 128 else b - 256)) & 0xFFFFFFFF
            i += 1
            rem += 8
        out.append(_B64[(reg >> (rem - 6)) & 0x3F])
        rem -= 6
    if rem:
        mask = (1 << rem) - 1
        out.append(_B64[((reg & mask) << (6 - rem)) if compatible else (reg & mask)])
    return "".join(out)
def _check_name(value: str, what: str) -> None:
    if not _NAME.match(value):
        raise BackendError(f"bacula: {what} name {value!r} has characters bconsole cannot take")


def _int(text: str) -> int:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return 0


def _when(text: str) -> datetime | None:
    """Catalog times are the director's local time without a zone (the agent runs beside the director,
    or on a host with the same zone); 0 or empty means never."""
    text = text.strip()
    if not text or text in ("0", "0000-00-00 00:00:00"):
        return None
    try:
        return datetime.fromisoformat(text).astimezone()     # the director's clock: this host's zone
    except ValueError:
        return None


def _last_lines(text: str, n: int = 4) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-n:])
