"""Verifiable documents (issue 17, part 1): every document written gets a verification code in its header, a
QR code of the console's /verificar page on its PDF, and its files' SHA-256 in the archive. `oti-agent verify`
and the public page say where a file or a code came from; a file with one byte changed is refused, naming the
document it claims to be; a guessed code learns nothing; the page is rate-limited and never shows the
document's content to someone without the role. Against the real daemon, the real CLI and WeasyPrint."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from datetime import date

import httpx
import openpyxl
import pytest

from agent.documents import archive
from agent.web.views.verificar import PER_ADDRESS, RateLimit
from tests.console import Person, text_of
from tests.test_console_documents import _office

DAY = date(2026, 11, 20)
PUBLIC = "https://oti.entidad.example"
TITLE = "Checklist diario de estado de los servicios TI"


def _printed_code(pdf) -> str:
    """The code as a person reads it on the printed page (pdftotext: poppler-utils, installed by the Makefile)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return re.search(r"Código de verificación: ([0-9A-Z]{5}-[0-9A-Z]{5})", text).group(1)


def _flip_one_byte(src, dst) -> None:
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x01
    dst.write_bytes(bytes(data))


@pytest.fixture
def written(site, tmp_path, agentd):
    """A daily checklist written by the CLI on a running daemon: (daemon, its files by format, printed code)."""
    site.extra["http"] = {"listen": "127.0.0.1", "port": 0, "public_url": PUBLIC}   # what the QR code points at
    config = _office(site, tmp_path)
    daemon = agentd(config)
    done = daemon.cli("report", "daily", "--date", DAY.isoformat())
    assert done.returncode == 0, done.stderr
    folder = site.root / "docs-out" / "checklists"
    files = {fmt: folder / f"checklist-diario-{DAY}.{fmt}" for fmt in ("html", "xlsx", "pdf")}
    return daemon, files, _printed_code(files["pdf"])


def test_cli_verifies_each_file_and_refuses_one_changed_byte(written, tmp_path):
    daemon, files, code = written
    for fmt, path in files.items():
        done = daemon.cli("verify", str(path))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "AUTHENTIC" in done.stdout and TITLE in done.stdout and code in done.stdout, fmt
        assert "oti-agent report (usuario" in done.stdout and f"day={DAY}" in done.stdout
        assert re.search(r"signed +Elaborado por: Especialista en IS", done.stdout)
    changed = tmp_path / "copia.pdf"
    _flip_one_byte(files["pdf"], changed)
    refused = daemon.cli("verify", str(changed))
    assert refused.returncode == 1
    assert "REFUSED" in refused.stdout and "claims to be" in refused.stdout and TITLE in refused.stdout
    assert code in refused.stdout and archive.sha256_of(files["pdf"]) in refused.stdout    # what it should be
    stranger = tmp_path / "otro.pdf"
    stranger.write_bytes(b"%PDF-1.7\n% not a document of the office\n")
    unknown = daemon.cli("verify", str(stranger), "--json")
    assert unknown.returncode == 1 and json.loads(unknown.stdout)[0]["status"] == "unknown"


def test_a_resaved_workbook_is_recognised_and_refused(written, tmp_path):
    """Opening the XLSX and saving it (a cell retyped) keeps its keywords: the document it claims is named."""
    daemon, files, code = written
    book = openpyxl.load_workbook(files["xlsx"])
    book.active["B8"] = "Sí"
    copy = tmp_path / "retocado.xlsx"
    book.save(copy)
    done = daemon.cli("verify", str(copy), "--json")
    verdict = json.loads(done.stdout)[0]
    assert done.returncode == 1 and verdict["status"] == "altered" and verdict["record"]["code"] == code
    assert verdict["archived_sha256"] == archive.sha256_of(files["xlsx"])


def test_printed_code_and_qr_lead_to_the_record(written):
    daemon, files, code = written
    by_code = daemon.cli("verify", "--code", code.lower().replace("0", "o"))     # as copied by hand from paper
    assert by_code.returncode == 0 and "AUTHENTIC" in by_code.stdout and TITLE in by_code.stdout
    html = files["html"].read_text(encoding="utf-8")
    qr = re.search(r'<img src="(data:image/svg\+xml;base64,[^"]+)" alt="Código QR de verificación">', html)
    assert qr, "the PDF's HTML carries no QR code"
    import segno

    expected = segno.make(f"{PUBLIC}/verificar?codigo={code}", error="m")
    assert qr.group(1) == "data:image/svg+xml;base64," + base64.b64encode(
        expected.svg_inline(scale=2, border=0, omitsize=False).encode()).decode()
    assert f"contrastadas en {PUBLIC}/verificar ingresando" in " ".join(html.split())
    guessed = daemon.cli("verify", "--code", "ZZZZZ-ZZZZZ")
    assert guessed.returncode == 1 and "no archived document has this code" in guessed.stdout


def test_public_page_answers_codes_and_files_without_the_document(written, tmp_path):
    daemon, files, code = written
    with httpx.Client(base_url=daemon.url, timeout=15) as anyone:
        form = anyone.get("/verificar")
        assert form.status_code == 200 and "Código de verificación" in form.text
        good = anyone.get("/verificar", params={"codigo": code})
        words = text_of(good.text)
        assert good.status_code == 200 and "El código corresponde a un documento archivado" in words
        assert TITLE in words and "Elaborado por Especialista en IS" in words and "oti-agent report (usuario" in words
        assert "Operatividad de" not in words and "/documentos/ver" not in good.text   # no content, no link
        guessed = anyone.get("/verificar", params={"codigo": "ZZZZZ-ZZZZZ"})
        malformed = anyone.get("/verificar", params={"codigo": "<script>x</script>"})
        for answer in (guessed, malformed):
            assert answer.status_code == 200 and "No hay ningún documento archivado con ese código" in answer.text
            assert TITLE not in answer.text and "<script>x" not in answer.text
        sent = anyone.post("/verificar", files={"archivo": ("checklist.pdf", files["pdf"].read_bytes())})
        assert sent.status_code == 200 and "El archivo es auténtico" in sent.text
        changed = tmp_path / "copia.pdf"
        _flip_one_byte(files["pdf"], changed)
        refused = anyone.post("/verificar", files={"archivo": ("copia.pdf", changed.read_bytes())})
        assert "El archivo no es el documento archivado" in refused.text and code in refused.text
        answers = [anyone.get("/verificar", params={"codigo": code}).status_code for _ in range(PER_ADDRESS)]
        assert answers[-1] == 429, answers                 # 6 asked above, then the address is held back
    with Person(daemon, "luis") as luis:                   # the office's reader gets the way to the document
        page = luis.get("/verificar", params={"codigo": code}).text
        assert f'href="/documentos/ver?doc=checklists/checklist-diario-{DAY}"' in page.replace("%2F", "/")
        key = f"checklists/checklist-diario-{DAY}"
        assert text_of(luis.get("/documentos/ver", params={"doc": key}).text).count(f"Auténtico · {code}") == 3
        files["html"].write_text(files["html"].read_text(encoding="utf-8").replace("Sí", "No"), encoding="utf-8")
        shown = text_of(luis.get("/documentos/ver", params={"doc": key}).text)     # edited on the server's disk
        assert f"No coincide con el archivado ({code})" in shown and shown.count(f"Auténtico · {code}") == 2


def test_a_visitor_cannot_learn_a_record_by_naming_a_file(written, tmp_path):
    """A file that carries no code, sent under the name of an archived document: the visitor is told only that
    nothing matches; a person of the office (and the CLI) is told which document that name is."""
    daemon, files, code = written
    nameless = f"checklist-diario-{DAY}.pdf"
    with httpx.Client(base_url=daemon.url, timeout=15) as anyone:
        answer = anyone.post("/verificar", files={"archivo": (nameless, b"%PDF-1.7\n% retyped\n")})
        assert answer.status_code == 200 and "Ningún documento archivado tiene ese contenido" in answer.text
        assert TITLE not in answer.text and code not in answer.text
        empty = anyone.post("/verificar", data={"otro": "x"})
        assert empty.status_code == 400 and "Elija el archivo" in empty.text
    with Person(daemon, "luis") as luis:
        known = luis.post("/verificar", files={"archivo": (nameless, b"%PDF-1.7\n% retyped\n")})
        assert "El archivo no es el documento archivado" in known.text and code in known.text


def test_reading_a_hostile_file_is_bounded(tmp_path):
    """What the public page reads of a file it cannot match: a PDF of nothing but stream keywords, a stream
    that inflates to 200 MB, a workbook whose properties inflate to 50 MB — each read within fixed limits."""
    import zipfile
    import zlib

    keywords = tmp_path / "keywords.pdf"
    keywords.write_bytes(b"%PDF-1.7\n" + b"stream\nx\nendstream\n" * 100_000)
    assert sum(1 for _ in archive._pdf_streams(keywords.read_bytes())) == 0     # none inflates: none kept
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(b"%PDF-1.7\nstream\n" + zlib.compress(b"\0" * 200_000_000) + b"endstream\n" * 200)
    assert [len(s) for s in archive._pdf_streams(bomb.read_bytes())] == [archive.INFLATED]
    book = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("docProps/core.xml", b"<p>" + b" " * 50_000_000 + b"OTI-VERIFICACION: AAAAA-BBBBB</p>")
    assert archive.claimed_code(book) is None and archive.claimed_code(bomb) is None
    many = tmp_path / "many.pdf"
    stream = b"stream\n" + zlib.compress(b"nothing here") + b"endstream\n"
    many.write_bytes(b"%PDF-1.7\n" + stream * 1000)
    assert sum(1 for _ in archive._pdf_streams(many.read_bytes())) == archive.PDF_STREAMS


def test_rate_limit_counts_per_address_and_overall():
    now = [0.0]
    limit = RateLimit(per_address=3, overall=5, window=60, clock=lambda: now[0])
    assert [limit.allow("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert [limit.allow("10.0.0.2") for _ in range(3)] == [True, True, False]       # 5 in all
    now[0] = 61.0
    assert limit.allow("10.0.0.1") and limit.allow("10.0.0.2")


def test_rate_limit_forgets_addresses_that_went_quiet(monkeypatch):
    from agent.web.views import verificar

    monkeypatch.setattr(verificar, "SWEEP_AT", 10)
    now = [0.0]
    limit = RateLimit(per_address=3, overall=10_000, window=60, clock=lambda: now[0])
    for i in range(50):
        now[0] = i * 2.0                       # one address every 2 s, each asking once
        assert limit.allow(f"2001:db8::{i:x}")
    assert len(limit._seen) <= 40              # those quiet for over a minute were swept


@pytest.mark.parametrize("typed, code", [("k7q3d-9mx2p", "K7Q3D9MX2P"), (" K7Q3D 9MX2P ", "K7Q3D9MX2P"),
                                         ("K7Q3D-9MXZO", "K7Q3D9MXZ0"), ("KIL3D-9MX2P", "K113D9MX2P"),
                                         ("K7Q3D-9MX2", None), ("K7Q3D-9MX2U", None), ("", None)])
def test_codes_are_read_back_forgiving_copying_mistakes(typed, code):
    assert archive.normalise(typed) == code
