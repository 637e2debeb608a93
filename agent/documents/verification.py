"""Whether a file or a verification code matches a document the agent archived: one answer for the CLI's
`oti-agent verify` and the console's public /verificar page.

A file is authentic when its SHA-256 is one the archive kept when it wrote the file. A file that is not
(one byte changed, a page retyped) is refused; if it still names its code (its metadata survives most
edits) or has the name of an archived file, the answer says which document it claims to be, so an auditor
knows what was altered. A code alone answers with the record, never with the document's content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.documents import archive
from agent.store import records
from agent.store.records import Record

AUTHENTIC, ALTERED, UNKNOWN = "authentic", "altered", "unknown"


@dataclass(frozen=True)
class Verdict:
    """What the archive says of a file or a code."""

    status: str                         # authentic | altered | unknown
    record: Record | None = None        # the document it is, or claims to be
    format: str | None = None           # the file's format, when it is authentic or claims one
    sha256: str = ""                    # the file's, when a file was checked
    expected: str = ""                  # the archived file's of that format, when it was altered

    @property
    def ok(self) -> bool:
        return self.status == AUTHENTIC


def check_file(store, path: Path, name: str | None = None, by_name: bool = True) -> Verdict:
    """Check a file (as uploaded, `name` is the name it came with). A file that names no code is matched to
    a record by its name only with `by_name` (the CLI, a person of the office): a visitor who guesses a
    document's name learns nothing of its record."""
    sha = archive.sha256_of(path)
    found = records.by_hash(store, sha)
    if found:
        return Verdict(AUTHENTIC, found[0], found[1], sha)
    fmt = _format(path, name)
    claimed = archive.claimed_code(path)
    record = records.by_code(store, claimed) if claimed else None
    if record is None and by_name:
        record = records.by_name(store, name or path.name)
    if record is None:
        return Verdict(UNKNOWN, sha256=sha, format=fmt)
    expected = next((f["sha256"] for f in record.files if f["format"] == fmt), "")
    return Verdict(ALTERED, record, fmt, sha, expected)


def check_code(store, text: str) -> Verdict:
    """Check a code as typed; an ill-formed code is simply unknown (the page says no more for either)."""
    code = archive.normalise(text)
    record = records.by_code(store, code) if code else None
    return Verdict(AUTHENTIC if record else UNKNOWN, record)


def _format(path: Path, name: str | None) -> str | None:
    with open(path, "rb") as f:
        head = f.read(5)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK"):
        return "xlsx"
    suffix = Path(name or path.name).suffix.lstrip(".").lower()
    return suffix if suffix in ("html", "xlsx", "pdf") else None
