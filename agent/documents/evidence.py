"""Evidence files a person attaches to a step (the disaster's damage notes, activities 9–10: photos, a
report): kept beside the run's documents, not world-readable, each with its SHA-256 so the hoja de control
that lists them pins what was attached. The name is the person's, made safe for a path; the bytes are
kept as they came and never opened or rendered by the agent."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from agent.errors import DocumentError

MAX_BYTES = 15 * 1024 * 1024          # the helpdesk form's «Archivo (15 MB máx.)»
MAX_FILES = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Evidence:
    """One kept file."""

    name: str
    path: Path
    sha256: str
    size: int

    def line(self) -> str:
        """How the journal and the documents cite it."""
        return f"{self.name} (sha256 {self.sha256}, {self.size} bytes)"


def folder(config, run_id: str) -> Path:
    return config.path(config.documents_dir) / "evidencias" / _safe(run_id)


def keep(config, run_id: str, step_id: str, files: list[tuple[str, bytes]]) -> list[Evidence]:
    """Write the files of one confirmation; DocumentError names a file too large or too many files."""
    if len(files) > MAX_FILES:
        raise DocumentError(f"se adjuntaron {len(files)} archivos; el máximo es {MAX_FILES}")
    for name, data in files:
        if len(data) > MAX_BYTES:
            raise DocumentError(f"el archivo «{name}» pesa {len(data) / 1e6:.1f} MB; el máximo es 15 MB")
    where = folder(config, run_id)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    kept = []
    for i, (name, data) in enumerate(files, 1):
        safe = _safe(name) or "archivo"          # no folder survives: "/" and ".." become "_" and are stripped
        path = where / f"{_safe(step_id)}-{i:02d}-{safe}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        kept.append(Evidence(safe, path, hashlib.sha256(data).hexdigest(), len(data)))
    return kept


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._")[:120]
