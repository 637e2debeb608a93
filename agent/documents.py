"""The office's documents as tables, written as HTML and XLSX side by side.

Every form of the manual (checklists, bitácoras, the tape inventory) is a title, a header of
key/value lines and a table in the form's own columns. A cell is (text, class): the class (`ok`,
`bad` or '') colours it in both files. Files are written to a temporary name and renamed, so a
reader never sees half a document and a failure leaves the previous one whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates" / "documents"
Cell = tuple[str, str]
_COLOUR = {"ok": "1B5E20", "bad": "B71C1C"}


@dataclass
class Section:
    """One table of a document: a subtitle (may be empty), the form's columns, the rows, column widths."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    widths: tuple[int, ...] = ()
    sheet: str = ""            # the XLSX sheet's name (at most 31 characters); the title's start if empty


def write_table(folder: Path, name: str, title: str, header: dict[str, str], columns: list[str],
                rows: list[list[Cell]], widths: tuple[int, ...] = (), footer: str | None = None,
                pdf: bool = False) -> list[Path]:
    """Write a one-table document: `name`.html and `name`.xlsx (and `name`.pdf); return the paths."""
    return write_document(folder, name, title, header, [Section("", columns, rows, widths)], footer, pdf)


def write_document(folder: Path, name: str, title: str, header: dict[str, str], sections: list[Section],
                   footer: str | None = None, pdf: bool = False) -> list[Path]:
    """Write `name`.html and `name`.xlsx (one sheet per section), and `name`.pdf from the same HTML."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    folder.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "j2"]))
    footer = footer or "Documento generado por oti-agent a partir de su registro; no se digita a mano."
    html = env.get_template("table.html.j2").render(
        title=title, header=header, footer=footer,
        sections=[dict(title=sec.title, columns=sec.columns, rows=sec.rows,
                       widths=[100 * w / (sum(sec.widths) or 1) for w in sec.widths]) for sec in sections])
    html_path, xlsx_path = folder / f"{name}.html", folder / f"{name}.xlsx"
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    wb = Workbook()
    for n, sec in enumerate(sections):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = (sec.sheet or sec.title or title)[:31].replace("/", "-").replace(":", "") or f"Hoja {n + 1}"
        ws.append([title])
        ws["A1"].font = Font(bold=True, size=13)
        for key, value in header.items():
            ws.append([key, value])
        if sec.title:
            ws.append([sec.title])
            ws.cell(ws.max_row, 1).font = Font(bold=True)
        ws.append([])
        ws.append(sec.columns)
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor="1F4E78")
        for row in sec.rows:
            ws.append([_number(text) for text, _ in row])
            for cell, (text, cls) in zip(ws[ws.max_row], row, strict=True):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                if cls and text:
                    cell.font = Font(bold=True, color=_COLOUR[cls])
        for i, width in enumerate(sec.widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = width
    tmpx = xlsx_path.with_suffix(".xlsx.tmp")
    try:
        wb.save(tmpx)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    paths = [html_path, xlsx_path]
    if pdf:
        pdf_path = folder / f"{name}.pdf"
        tmpp = pdf_path.with_suffix(".pdf.tmp")
        try:
            html_to_pdf(html, tmpp)
        except Exception:
            tmp.unlink(missing_ok=True)
            tmpx.unlink(missing_ok=True)
            raise
        tmpp.replace(pdf_path)
        paths.append(pdf_path)
    tmp.replace(html_path)
    tmpx.replace(xlsx_path)
    return paths


def html_to_pdf(html: str, path: Path) -> None:
    """Render an HTML document to PDF (WeasyPrint: the same template a person edits gives both)."""
    import logging

    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)      # font fallbacks are not the office's concern
    weasyprint.HTML(string=html).write_pdf(path)


def _number(text: str):
    """Whole numbers go to the sheet as numbers (a person sums them); everything else as text."""
    return int(text) if text.isdigit() and len(text) < 16 else text


def human_bytes(n: int) -> str:
    """Sizes as the office writes them: '824.000 MB', '5.224 GB'."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.3f} {unit}"
    return f"{n} B"
