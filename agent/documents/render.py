"""Render a document through its form: HTML, XLSX and PDF side by side, from the same rows.

Every document carries the manual's header block (the office, the title, the procedure code and
annex, the form's version, "Página N de M"), then its header fields, one table per section in
the form's columns, and the signature lines the office signs it with (Elaborado por, Revisado por,
Aprobado por), with the names and roles the agent knows. A cell is text, or (text, class): the class (`ok`, `bad` or '') colours it in
every file. Files are written to a temporary name and renamed, so a reader never sees half a
document and a failure leaves the previous one whole. Text from devices and people is escaped.

A document written with a verification code prints it at the top left of its header block (where the
manual's pages print theirs), carries it in each file's metadata, and, on the PDF, as a QR code of the
console's verification page; `before_publish` sees the files still under their temporary names, so the
archive keeps their hashes before anyone can read them (agent/documents/archive.py).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent.documents.forms import Form

TEMPLATES = Path(__file__).resolve().parent / "templates"
Cell = tuple[str, str]
_COLOUR = {"ok": "1B5E20", "bad": "B71C1C"}


@dataclass
class Page:
    """What a document says, before its form lays it out."""

    name: str                                   # the file name, without extension
    header: dict[str, str]                      # header field id -> value
    sections: dict[str, list[dict]]             # section id -> rows, each column id -> text or (text, class)
    office: str = "Oficina de Tecnologías de la Información"
    extra_header: dict[str, str] = field(default_factory=dict)   # fields the form does not name (run parameters)
    title: str | None = None                    # instead of the form's (a runbook names its checklist)
    facts: dict = field(default_factory=dict)   # what the document found, for its mail
    signers: dict[str, str] = field(default_factory=dict)   # signature line -> the name and role the agent knows


@dataclass(frozen=True)
class Verification:
    """The verification code a document is written with, and where a person checks it."""

    code: str                                   # as printed: 'K7Q3D-9MX2P'
    keywords: str                               # the metadata string each file carries
    url: str                                    # the console's /verificar page for this code


def cell(value) -> Cell:
    """A row value as (text, class)."""
    if isinstance(value, tuple):
        return (str(value[0]), value[1])
    return ("" if value is None else str(value), "")


def _tables(form: Form, page: Page) -> list[dict]:
    out = []
    for sec in form.sections:
        rows = [[cell(r.get(c.id, "")) for c in sec.columns] for r in page.sections.get(sec.id, [])]
        total = sum(c.width for c in sec.columns) or 1
        out.append(dict(title=sec.title, sheet=sec.sheet, columns=[c.name for c in sec.columns], rows=rows,
                        widths=[c.width for c in sec.columns], percent=[100 * c.width / total for c in sec.columns]))
    return out


def _header(form: Form, page: Page) -> dict[str, str]:
    shown = {label: page.header[key] for key, label in form.header.items() if key in page.header}
    return {**shown, **page.extra_header}


def write(folder: Path, form: Form, page: Page, pdf: bool = False, group_readable: bool = False,
          verification: Verification | None = None,
          before_publish: Callable[[dict[str, Path]], None] | None = None) -> list[Path]:
    """Write `page.name`.html and .xlsx (one sheet per section), and .pdf from the same HTML; return the paths.

    The files are the agent's user's alone (they carry names, DNI numbers, the journal), or its group's
    too with `group_readable` (the config's documents_group_readable). `before_publish` gets the written
    files by format while they are still temporary; if it raises, nothing is published."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o750 if group_readable else 0o700)
    tables, header = _tables(form, page), _header(form, page)
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "j2"]))
    title = page.title or form.title
    signatures = [(label, page.signers.get(label, "")) for label in form.signatures]
    html = env.get_template("table.html.j2").render(form=form, title=title, office=page.office, header=header,
                                                    sections=tables, signatures=signatures,
                                                    verification=verification, qr=_qr(verification))
    html_path, xlsx_path, pdf_path = (folder / f"{page.name}{ext}" for ext in (".html", ".xlsx", ".pdf"))
    temps = [html_path.with_suffix(".html.tmp"), xlsx_path.with_suffix(".xlsx.tmp"), pdf_path.with_suffix(".pdf.tmp")]
    try:
        temps[0].write_text(html, encoding="utf-8")
        _workbook(form, title, page.office, header, tables, signatures, verification).save(temps[1])
        if pdf:
            html_to_pdf(html, temps[2])
        if before_publish:
            before_publish(dict(zip(("html", "xlsx", "pdf"), temps[:3 if pdf else 2], strict=False)))
    except Exception:
        for t in temps:
            t.unlink(missing_ok=True)
        raise
    finals = [html_path, xlsx_path] + ([pdf_path] if pdf else [])
    for tmp, final in zip(temps, finals, strict=False):     # no .pdf.tmp without a PDF
        tmp.chmod(0o640 if group_readable else 0o600)
        tmp.replace(final)
    return finals


def _qr(verification: Verification | None) -> str:
    """The verification page's address as a QR code, an SVG data: URL the PDF embeds (nothing is fetched)."""
    if verification is None:
        return ""
    import segno

    svg = segno.make(verification.url, error="m").svg_inline(scale=2, border=0, omitsize=False)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _workbook(form: Form, title: str, office: str, header: dict[str, str], tables: list[dict],
              signatures: list[tuple[str, str]], verification: Verification | None = None):
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    if verification:
        wb.properties.keywords = verification.keywords
        header = {"Código de verificación": verification.code, **header}
    for n, sec in enumerate(tables):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = (sec["sheet"] or sec["title"] or title)[:31].replace("/", "-").replace(":", "") or f"Hoja {n + 1}"
        ws.append([office.upper()])
        ws.append([title])
        ws["A2"].font = Font(bold=True, size=13)
        ws.append([f"Código: {code_of(form)}", f"Versión formato: {form.version}"])
        ws.oddHeader.right.text = "Página &P de &N"
        for key, value in header.items():
            ws.append([key, value])
        if sec["title"]:
            ws.append([sec["title"]])
            ws.cell(ws.max_row, 1).font = Font(bold=True)
        ws.append([])
        ws.append(sec["columns"])
        for c in ws[ws.max_row]:
            c.font = Font(bold=True, color="FFFFFF")
            c.fill = PatternFill("solid", fgColor="1F4E78")
        for row in sec["rows"]:
            ws.append([_number(text) for text, _ in row])
            for c, (text, cls) in zip(ws[ws.max_row], row, strict=True):
                c.alignment = Alignment(wrap_text=True, vertical="top")
                if cls and text:
                    c.font = Font(bold=True, color=_COLOUR[cls])
        for i, width in enumerate(sec["widths"], 1):
            ws.column_dimensions[get_column_letter(i)].width = width
    if signatures:     # the office signs the printed form; a sheet of its own keeps the tables only tables
        ws = wb.create_sheet("Firmas")
        ws.append([office.upper()])
        ws.append([title])
        ws.append([])
        ws.append(["Firma", "Nombre y cargo", "Firma", "Fecha"])
        for c in ws[ws.max_row]:
            c.font = Font(bold=True)
        for label, who in signatures:
            ws.append([label, who, "", ""])
            ws.row_dimensions[ws.max_row].height = 40
        for col, width in zip("ABCD", (16, 48, 28, 14), strict=True):
            ws.column_dimensions[col].width = width
    return wb


def code_of(form: Form) -> str:
    """The header block's code: the procedure and the annex ('S.04.04.01.02_P — Anexo 07')."""
    return " — ".join(x for x in (form.procedure, form.annex) if x)


def html_to_pdf(html: str, path: Path) -> None:
    """Render an HTML document to PDF (WeasyPrint: the same template a person edits gives both)."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)      # font fallbacks are not the office's concern
    weasyprint.HTML(string=html, url_fetcher=_fetcher()).write_pdf(path)


def _fetcher():
    """The documents carry everything they show (the QR code as a data: URL); a file: or http: reference in
    one is refused, not read. WeasyPrint 68+ takes a URLFetcher; older ones a function."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:
        return _fetch_nothing
    return URLFetcher(allowed_protocols={"data"})


def _fetch_nothing(url: str, *args, **kwargs):
    if url.startswith("data:"):
        import weasyprint

        return weasyprint.default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"a document does not fetch {url[:80]!r}")


def _number(text: str):
    """Whole numbers go to the sheet as numbers (a person sums them); everything else as text."""
    return int(text) if text.isdigit() and len(text) < 16 else text


def human_bytes(n: int) -> str:
    """Sizes as the office writes them: '824.000 MB', '5.224 GB'."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.3f} {unit}"
    return f"{n} B"
