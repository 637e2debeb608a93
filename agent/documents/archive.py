"""The archive that makes a written document verifiable: its code, its files' SHA-256, where it came from.

The manual's pages end with the entity's line: "Esta es una copia auténtica imprimible de un documento
electrónico archivado… Su autenticidad e integridad pueden ser contrastadas… ingresando el código de
verificación". Every document the agent writes gets such a code before it is rendered (it is printed in
the header block, and as a QR code on the PDF), and once its files exist the archive keeps the SHA-256 of
each as written. A file is authentic when its hash is archived; a code answers for the record, never for
the content. Owner of `document_records` and `document_files`.

The code is 10 characters of Crockford's base32 (50 random bits: a guess succeeds once in 10^15, and the
public page answers a few guesses a minute); it is read back forgiving the mistakes people make copying it
from paper (dashes, spaces, lower case, O for 0, I and L for 1).
"""

from __future__ import annotations

import bisect
import hashlib
import re
import secrets
import zipfile
import zlib
from pathlib import Path

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
LABEL = "Código de verificación"
# how a file carries its code where a copy can still be read after a change: the HTML's text, the PDF's
# and the XLSX's keywords (metadata stays outside the compressed page streams a flipped byte garbles)
_CLAIM = re.compile(rb"OTI-VERIFICACION[: ]+([0-9A-Z]{5}-[0-9A-Z]{5})")


def new_code() -> str:
    """A fresh verification code (undashed)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(10))


def shown(code: str) -> str:
    """The code as printed: 'K7Q3D-9MX2P'."""
    return f"{code[:5]}-{code[5:]}"


def keywords(code: str) -> str:
    """The metadata string a document's files carry, from which a changed copy is still recognised."""
    return f"OTI-VERIFICACION: {shown(code)}"


def normalise(text: str) -> str | None:
    """A code as typed or read from paper, undashed; None for anything that cannot be one."""
    code = re.sub(r"[\s\-]", "", text or "").upper().translate(_TYPOS)
    return code if len(code) == 10 and all(c in ALPHABET for c in code) else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def claimed_code(path: Path) -> str | None:
    """The code a file says it has (its metadata or text), readable even when the file was changed.

    Anyone may send a file to the public page, so the work is bounded whatever the file: a workbook's
    docProps larger than a document's is not inflated, and a PDF's streams are read from the end (where
    WeasyPrint writes its Info), `PDF_STREAMS` of them at most, each inflated to `INFLATED` bytes at most."""
    data = path.read_bytes()
    found = _CLAIM.search(data)
    if found is None and data[:2] == b"PK":          # an XLSX: its keywords are inside the zip's docProps
        found = _CLAIM.search(_core_properties(path))
    if found is None and data[:5] == b"%PDF-":       # a PDF keeps its Info in a compressed object stream
        found = next(filter(None, map(_CLAIM.search, _pdf_streams(data))), None)
    return normalise(found.group(1).decode()) if found else None


PDF_STREAMS, INFLATED, CORE_XML = 64, 64 * 1024, 256 * 1024


def _core_properties(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("docProps/core.xml")
            return z.read(info) if info.file_size <= CORE_XML else b""
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error, NotImplementedError):
        return b""


def _pdf_streams(data: bytes):
    """The PDF's Flate streams, last first, each inflated as far as it goes (a damaged one yields what precedes
    the damage). Every start and end is found in one pass each: a file of nothing but `stream` keywords costs
    no more than reading it."""
    ends = [m.start() for m in re.finditer(rb"endstream", data)]
    starts = [m.end() for m in re.finditer(rb"(?<!end)stream\r?\n", data)]
    view, pairs = memoryview(data), []
    for start in reversed(starts):                  # each start with the first end after it
        after = bisect.bisect_right(ends, start)
        if after < len(ends):
            pairs.append((start, ends[after]))
        if len(pairs) == PDF_STREAMS:
            break
    for start, end in pairs:
        try:
            yield zlib.decompressobj().decompress(view[start:end], INFLATED)
        except zlib.error:
            continue
