"""Documentos: every document the agent archived (checklists, bitácoras, the daily checklist, the monitoring
and monthly reports, the tape inventory, the restore log, a run's checklists), by kind and date; each one
read in the page and downloaded in the formats the archive holds; and «Generar», which writes one for
another date through the same `compose` the daemon and the CLI's `report` commands call.

The archived HTML is shown embedded, not framed: the page parses it and renders again only its tables,
headings and the colour classes of its cells, through a template (every text escaped), so the console's
Content-Security-Policy stays the same strict one on this page too (no inline style, no `|safe`, no second
policy for a framed route). What the PDF prints is that same HTML; its print styles are what is left out.

The archive is read as the API reads it (its listing, inside documents_dir only, after symlinks): some
documents carry personal data (the access log's DNI numbers), so they are for the roles that may read
them there; generating one is for the operators.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from agent.api.routes import documents as api_documents
from agent.core.people import OPERATORS
from agent.documents import compose, forms
from agent.documents.verification import check_file
from agent.errors import AgentError, Forbidden
from agent.web.console import Viewer, in_thread, page, posted, section_viewer

router = APIRouter(include_in_schema=False)
SECTION = "/documentos"
READERS = frozenset(api_documents.READERS)  # who may read the archive (the API's rule)
FORMATS = ("html", "xlsx", "pdf")
MEDIA = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# the documents «Generar» writes, and what each is written for (a day, a month, or the whole log)
KINDS = {
    "checklist-diario": "day",
    "reporte-monitoreo": "day",
    "informe-mensual": "month",
    "bitacora-copias": "day",
    "inventario-cintas": "day",
    "bitacora-restauracion": None,
}
RUN = "checklist-ejecucion"
OTHER = "otro"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


_SECTION_VIEWER = Depends(section_viewer(SECTION))


def _reader(request: Request, seen: Viewer = _SECTION_VIEWER) -> Viewer:
    if not seen.may(READERS):
        people = request.app.state.ctx.people
        raise Forbidden(
            "los documentos de la oficina son para: " + ", ".join(people.title(r) for r in sorted(READERS))
        )
    return seen


Reader = Depends(_reader)


# ---------------------------------------------------------------------- the archive
def kind_titles(ctx) -> dict[str, str]:
    """Each kind's name, as its form titles it (an office's own forms win)."""
    override = forms.forms_dir(ctx.settings.config)
    titles = {name: forms.form(name, override).title for name in KINDS}
    return {**titles, RUN: "Checklist de una ejecución", OTHER: "Otro documento"}


def _kind(rel: Path) -> str:
    name = rel.name
    found = next((k for k in KINDS if name == k or name.startswith(k + "-")), None)
    if found:
        return found
    known_folders = {"checklists", "bitacoras", "reportes", "cintas"}
    return RUN if len(rel.parts) == 2 and rel.parts[0] not in known_folders else OTHER


def archive(ctx) -> list[dict]:
    """Every archived document, one entry per document (its formats side by side), newest first."""
    found: dict[str, dict] = {}
    for f in api_documents.documents(None, ctx):
        if f.format not in FORMATS:
            continue
        key = f.path[: -len(f.format) - 1]
        entry = found.setdefault(
            key,
            {
                "key": key,
                "name": Path(key).name,
                "kind": _kind(Path(key)),
                "date": f.date,
                "formats": {},
                "folder": f.kind,
            },
        )
        entry["formats"][f.format] = f.size
    return sorted(found.values(), key=lambda d: (d["date"], d["key"]), reverse=True)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _file(ctx, key: str, fmt: str) -> Path | None:
    """The archived file of a document in one format, only inside documents_dir (else None)."""
    if fmt not in FORMATS or not key or "\x00" in key:
        return None
    root = api_documents._root(ctx)
    try:
        target = (root / f"{key}.{fmt}").resolve()
        inside = target.is_relative_to(root) and target.is_file()
    except (OSError, ValueError):
        return None
    if not inside and fmt == "pdf":
        return _pdf_from_html(root, key)
    if not inside or any(p.startswith(".") for p in target.relative_to(root).parts):
        return None
    return target


def _pdf_from_html(root: Path, key: str) -> Path | None:
    """A document archived without its PDF (a run's checklist, rewritten at every step, is not printed each
    time): the PDF of the same HTML, made once when someone asks for it and kept beside it."""
    from agent.documents.render import html_to_pdf

    html = _file_inside(root, f"{key}.html")
    if html is None:
        return None
    pdf = html.with_suffix(".pdf")
    if pdf.is_symlink() or (pdf.exists() and _file_inside(root, str(pdf.relative_to(root))) is None):
        return None
    if not pdf.exists() or pdf.stat().st_mtime < html.stat().st_mtime:
        handle, name = tempfile.mkstemp(prefix=f".{pdf.name}.", suffix=".tmp", dir=pdf.parent)
        os.close(handle)
        partial = Path(name)
        try:
            html_to_pdf(html.read_text(encoding="utf-8"), partial)
            partial.chmod(html.stat().st_mode & 0o640)        # as readable as its HTML, never more
            partial.replace(pdf)
        finally:
            partial.unlink(missing_ok=True)
    return pdf


def _file_inside(root: Path, relative: str) -> Path | None:
    try:
        target = (root / relative).resolve()
    except (OSError, ValueError):
        return None
    if not target.is_relative_to(root) or not target.is_file() or target.is_symlink():
        return None
    if any(p.startswith(".") for p in target.relative_to(root).parts):
        return None
    return target


def safe_name(key: str, fmt: str) -> str:
    """A download's file name: the document's own, in letters, digits, '.', '-' and '_' only."""
    return (_UNSAFE.sub("_", Path(key).name).strip("._") or "documento") + f".{fmt}"


# ---------------------------------------------------------------------- the document in the page
_KEEP = {
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "h1",
    "h2",
    "h3",
    "p",
    "b",
    "strong",
    "em",
    "i",
    "br",
    "caption",
    "footer",
}
_SKIP = {"head", "style", "script", "title", "template", "noscript", "svg", "math", "iframe", "object"}
_CLASSES = {"ok", "bad", "block", "office", "title", "meta", "head", "lines"}


class _Tree(HTMLParser):
    """The archived HTML as a tree of the elements a document is made of (tables, headings, bold), each
    with only the classes the documents' template gives (doc-ok, doc-bad...); the rest unwrapped or left
    out (its <head> and <style>, anything else). Texts stay texts: the template escapes them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root: dict = {"tag": None, "cls": "", "children": []}
        self.stack = [self.root]
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skipping += 1
            return
        if self.skipping or tag not in _KEEP:
            return
        classes = " ".join(f"doc-{c}" for c in (dict(attrs).get("class") or "").split() if c in _CLASSES)
        node = {"tag": "p" if tag == "footer" else tag, "cls": classes, "children": [], "source": tag}
        self.stack[-1]["children"].append(node)
        if tag != "br":
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
            return
        if self.skipping or tag not in _KEEP or tag == "br":
            return
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["source"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.stack[-1]["children"].append(re.sub(r"\s+", " ", data))


def body_of(html: str) -> list:
    """What the page shows of an archived HTML document (see _Tree)."""
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree.root["children"]


def _viewed(ctx, key: str) -> dict | None:
    entry = next((d for d in archive(ctx) if d["key"] == key), None)
    if entry is None:
        return None
    files = {fmt: _file(ctx, key, fmt) for fmt in entry["formats"]}
    # each file against the archive of what the agent wrote (issue 17), hashed once: authentic, altered, or
    # older than the archive (written before verification codes)
    verdicts = {fmt: check_file(ctx.store, p) for fmt, p in files.items() if p is not None}
    html = files.get("html")
    return {
        "doc": entry,
        "body": body_of(html.read_text(encoding="utf-8", errors="replace")) if html else None,
        "hashes": {fmt: v.sha256 for fmt, v in verdicts.items()},
        "verdicts": verdicts,
    }


# ---------------------------------------------------------------------- routes
def _listing(
    request: Request, seen: Viewer, kind: str | None, since: date | None, until: date | None, **extra
) -> dict:
    ctx = request.app.state.ctx
    titles = kind_titles(ctx)
    docs = archive(ctx)
    shown = [
        d
        for d in docs
        if (not kind or d["kind"] == kind)
        and (since is None or d["date"] >= since)
        and (until is None or d["date"] <= until)
    ]
    generated = extra.pop("generated", None)
    return {
        "docs": shown,
        "total": len(docs),
        "titles": titles,
        "kinds": [k for k in titles if k in {d["kind"] for d in docs}],
        "kind": kind or "",
        "since": since,
        "until": until,
        "generated": next((d for d in docs if d["key"] == generated), None) if generated else None,
        "may_generate": seen.may(OPERATORS),
        "generable": {k: titles[k] for k in KINDS},
        "typed": {"tipo": "", "fecha": ""},
        "error": None,
        **extra,
    }


@router.get(SECTION, response_class=HTMLResponse)
async def documentos(
    request: Request,
    tipo: str | None = None,
    desde: str | None = None,
    hasta: str | None = None,
    generado: str | None = None,
    seen: Viewer = Reader,
) -> HTMLResponse:
    """The archive, filtered by kind and dates (GET parameters), with the «Generar» form for operators."""
    values = await in_thread(_listing, request, seen, tipo, _day(desde), _day(hasta), generated=generado)
    return page(request, seen, "documentos.html", **values)


@router.get(SECTION + "/ver", response_class=HTMLResponse)
async def ver(request: Request, doc: str = "", seen: Viewer = Reader) -> HTMLResponse:
    """One document in the page, with its downloads and each file's SHA-256."""
    ctx = request.app.state.ctx
    found = await in_thread(_viewed, ctx, doc)
    if found is None:
        return page(request, seen, "error.html", 404, error="No existe ese documento en el archivo.")
    return page(request, seen, "documentos_ver.html", titles=kind_titles(ctx), **found)


@router.get(SECTION + "/descargar", response_model=None)
async def descargar(
    request: Request, doc: str = "", formato: str = "", seen: Viewer = Reader
) -> FileResponse | HTMLResponse:
    """One file of a document, as a download with its type and a safe name."""
    target = await in_thread(_file, request.app.state.ctx, doc, formato)
    if target is None:
        return page(request, seen, "error.html", 404, error="No existe ese documento en ese formato.")
    return FileResponse(target, media_type=MEDIA[formato], filename=safe_name(doc, formato))


def _params(kind: str, typed_date: str, today: date) -> dict:
    """compose's parameters for a kind and the date typed (ValueError: what to fix, in Spanish)."""
    if kind not in KINDS:
        raise ValueError("Tipo de documento: elija uno de la lista.")
    if KINDS[kind] is None:
        return {}
    day = _day(typed_date)
    if day is None:
        raise ValueError("Fecha: indique el día (dd/mm/aaaa).")
    if day > today:
        raise ValueError(f"Fecha: no puede ser posterior a hoy ({today:%d/%m/%Y}).")
    return {"month": f"{day:%Y-%m}"} if KINDS[kind] == "month" else {"day": day}


@router.post(SECTION + "/generar", response_model=None)
async def generar(request: Request, seen: Viewer = Reader) -> RedirectResponse | HTMLResponse:
    """Write a document for the date chosen (operators only), then back to the list with a notice."""
    form = await posted(request, seen)
    if not seen.may(OPERATORS):
        raise Forbidden("generar documentos es para el personal de operación de la OTI")
    ctx = request.app.state.ctx
    typed = {"tipo": str(form.get("tipo", "")), "fecha": str(form.get("fecha", ""))}
    now = ctx.clock()
    try:
        params = _params(
            typed["tipo"], typed["fecha"], now.astimezone(ZoneInfo(ctx.settings.config.agent.timezone)).date()
        )
        done = await in_thread(compose.compose, typed["tipo"], ctx.settings, ctx.store, now=now,
                               origin=f"consola ({seen.who.login})", **params)
    except (ValueError, AgentError) as err:
        message = str(err) if isinstance(err, ValueError) else f"No se pudo generar el documento: {err}"
        values = await in_thread(_listing, request, seen, None, None, None, typed=typed, error=message)
        return page(request, seen, "documentos.html", 400, **values)
    root = api_documents._root(ctx)
    key = done.paths[0].resolve().relative_to(root).with_suffix("").as_posix()
    return RedirectResponse(f"{SECTION}?generado={quote(key, safe='')}", status_code=303)
