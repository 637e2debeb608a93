"""/verificar: the public page where anyone checks a document's verification code or the file itself.

No login: the line at the foot of every document sends an auditor, a supplier or a court here. The page
answers from the archive's record (which document, written when, by what, signed by whom) and never with
the document: a person of the office who is logged in with a documents role also gets the link to it in
/documentos. A code nobody has gets the same short answer as a malformed one. Each address may ask a few
times a minute (and everybody together a few more), so the 50-bit codes cannot be walked; a person logged
in is not held back (they are known, and their office may share one address).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile as StarletteUpload

from agent.api.deps import client_address, context
from agent.api.routes.documents import READERS
from agent.documents.verification import check_code, check_file
from agent.web.console import Viewer, _held, in_thread, page
from agent.web.pages import _current

router = APIRouter(include_in_schema=False)
PER_ADDRESS, OVERALL, WINDOW_S = 10, 120, 60.0
SWEEP_AT = 4096                         # addresses remembered before the quiet ones are swept
MAX_UPLOAD = 50 * 1024 * 1024          # the office's largest documents are a few MB
TOO_BIG = "El archivo es demasiado grande para ser un documento de la oficina (más de 50 MB)."


class RateLimit:
    """At most `per_address` questions per address and `overall` in all within `window` seconds."""

    def __init__(self, per_address: int = PER_ADDRESS, overall: int = OVERALL, window: float = WINDOW_S,
                 clock=time.monotonic):
        self.per_address, self.overall, self.window, self.clock = per_address, overall, window, clock
        self._seen: dict[str, deque] = defaultdict(deque)
        self._all: deque = deque()
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._seen) > SWEEP_AT:          # addresses that asked once and went away are forgotten
                for quiet in [a for a, t in self._seen.items() if not t or now - t[-1] > self.window]:
                    del self._seen[quiet]
            mine = self._seen[address]
            for times in (mine, self._all):
                while times and now - times[0] > self.window:
                    times.popleft()
            if not mine:
                del self._seen[address]      # an address that went quiet is forgotten
            if len(mine) >= self.per_address or len(self._all) >= self.overall:
                return False
            self._seen[address].append(now)
            self._all.append(now)
            return True


def _limit(request: Request) -> RateLimit:
    state = request.app.state
    if getattr(state, "verify_limit", None) is None:
        state.verify_limit = RateLimit()
    return state.verify_limit


def _seen(request: Request) -> Viewer | None:
    found = _current(request)
    return Viewer(found[0], found[1], _held(request, found[0])) if found else None


def _answer(request: Request, seen: Viewer | None, verdict=None, typed: str = "", status: int = 200,
            error: str | None = None) -> HTMLResponse:
    may_open = bool(seen and seen.may(READERS))
    record = verdict.record if verdict else None
    key = None
    if may_open and record and record.files:
        key = record.files[0]["name"].rsplit(".", 1)[0]
    return page(request, seen, "verificar.html", status, verdict=verdict, record=record, typed=typed,
                error=error, link=key, tz=context(request).settings.config.agent.timezone)


@router.get("/verificar", response_class=HTMLResponse)
async def verificar(request: Request, codigo: str = "") -> HTMLResponse:
    """The form; with `codigo` (the QR code's link, or the form sent), the answer for that code."""
    seen = _seen(request)
    if not codigo:
        return _answer(request, seen)
    if seen is None and not _limit(request).allow(client_address(request)):
        return _answer(request, seen, typed=codigo[:40], status=429,
                       error="Demasiadas consultas desde esta dirección. Espere un minuto e inténtelo de nuevo.")
    verdict = await in_thread(check_code, context(request).store, codigo[:40])
    return _answer(request, seen, verdict, typed=codigo[:40])


@router.post("/verificar", response_class=HTMLResponse)
async def verificar_archivo(request: Request) -> HTMLResponse:
    """The answer for a file sent (PDF, XLSX or HTML): is it, byte for byte, one the agent archived?

    The limits come before the body is read: the address's turn, then the size the browser declares (a
    form without one is refused), then one file and no other field."""
    seen = _seen(request)
    if seen is None and not _limit(request).allow(client_address(request)):
        return _answer(request, seen, status=429,
                       error="Demasiadas consultas desde esta dirección. Espere un minuto e inténtelo de nuevo.")
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return _answer(request, seen, status=411, error="Envíe el archivo desde el formulario de esta página.")
    if int(declared) > MAX_UPLOAD:
        return _answer(request, seen, status=413, error=TOO_BIG)
    try:
        form = await request.form(max_files=1, max_fields=1)
    except Exception:       # noqa: BLE001 - a malformed or over-full form is the sender's mistake, not ours
        return _answer(request, seen, status=400, error="El formulario llegó incompleto; elija el archivo otra vez.")
    archivo = form.get("archivo")
    if not isinstance(archivo, StarletteUpload) or not archivo.filename:
        return _answer(request, seen, status=400, error="Elija el archivo del documento (PDF, XLSX o HTML).")
    name = Path(archivo.filename).name
    with tempfile.TemporaryDirectory(prefix="oti-verificar-") as folder:
        path = Path(folder) / "documento"
        with open(path, "wb") as f:
            while block := await archivo.read(1 << 20):
                f.write(block)
        # a visitor learns of a record only through its code (the file's own); a person of the office also
        # through the file's name
        verdict = await in_thread(check_file, context(request).store, path, name, by_name=seen is not None)
    return _answer(request, seen, verdict, typed=name[:120])
