"""The live view of a run: its steps with their status, targets done of total, durations, the last message,
who was asked and who decided; its checklists and documents; its whole journal; a cancel button.

The page follows the run by server-sent events (`/ejecuciones/{run}/eventos`, htmx-ext-sse): the stream
watches the run's journal with a bounded poll, sends the steps re-rendered whenever the journal grows, a
keep-alive comment while nothing happens, and ends when the run ends (a "fin" event the page closes on),
when the browser goes away (Starlette cancels the stream on disconnect; the loop also asks), or after
MAX_S (the browser reconnects and gets the state afresh). Nothing keeps polling for a closed browser.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from agent.api.routes.documents import READERS
from agent.errors import ConfigError
from agent.runbook.journal import TERMINAL
from agent.runbook.model import Runbook, load
from agent.runbook.report import run_detail
from agent.web.console import Viewer, fragment, in_thread, page, posted
from agent.web.pages import _current
from agent.web.views.ejecuciones import (
    RUN_STATUS,
    SECTION,
    STEP_STATUS,
    Seen,
    acting,
    approval_refusal,
    aware,
    param_labels,
    person_name,
    reading_text,
    service,
)

router = APIRouter(include_in_schema=False)
SESSION_CHECK_S = 5.0          # how often a stream asks whether its session still stands
POLL_S = 0.5                     # how often the stream looks at the journal
KEEPALIVE_S = 15.0               # a comment this often while nothing changes (proxies keep the line open)
MAX_S = 1800.0                   # a stream lives at most this long; the browser reconnects
RETRY_MS = 3000
WAITING = {"awaiting_approval": "decidir", "awaiting_confirmation": "confirmar",
           "awaiting_decision": "confirmar"}
NOTICES = {"iniciada": "La ejecución se inició.", "cancelada": "Se pidió cancelar la ejecución.",
           "aprobado": "Su aprobación quedó registrada.", "rechazado": "Su rechazo quedó registrado.",
           "confirmado": "Su confirmación quedó registrada.", "respondido": "Su respuesta quedó registrada."}
DECIDED = {"approved": "aprobó", "rejected": "rechazó", "confirmed": "confirmó", "retry": "pidió reintentar",
           "skip": "pidió omitir el paso", "abort": "pidió abortar", "done": "indicó que ya está hecho"}


def run_view(request: Request, seen: Viewer, run_id: str) -> dict:
    """What the live view draws: the run, its steps as people read them, its documents."""
    runs, ctx = service(request), request.app.state.ctx
    detail = run_detail(runs.journal, run_id, ctx.settings)
    now = ctx.clock()
    steps = [_step(request, seen, runs, detail, s, now) for s in detail["steps"]]
    labels = param_labels(_book(runs, run_id))
    params = [(labels.get(k, k), "Sí" if v is True else "No" if v is False else ("—" if v is None else v))
              for k, v in (detail["params"] or {}).items()]
    ended = detail["status"] in TERMINAL
    return {"run": detail, "steps": steps, "ended": ended, "params": params,
            "status_label": RUN_STATUS.get(detail["status"], detail["status"]),
            "by": person_name(request, detail["started_by"]), "created": aware(detail["created_at"]),
            "finished": aware(detail["ended_at"]), "documents": documents(request, seen, run_id),
            "may_cancel": not ended and (seen.who.login == detail["started_by"]
                                         or seen.may({"jefa", "administrador"})),
            "done_count": sum(1 for s in steps if s["status"] in TERMINAL)}


def _step(request: Request, seen: Viewer, runs, detail: dict, s: dict, now) -> dict:
    started, finished = aware(s["started_at"]), aware(s["ended_at"])
    seconds = ((finished or now) - started).total_seconds() if started and s["status"] != "pending" else None
    total = s["targets"]                      # 0: a step that acts once for all (an approval, a checklist)
    done = len({a["target"] for a in s["actions"] if a["status"] == "done"}) if total else 0
    action = WAITING.get(s["status"])
    mine = action == "decidir" and approval_refusal(runs, detail["id"], s["id"], seen.who) is None
    return {**s, "status_label": STEP_STATUS.get(s["status"], s["status"]), "duration": duration(seconds),
            "done": done, "total": total, "action": action, "mine": mine,
            "asked_names": [person_name(request, login) for login in s["asked"]],
            "decided": [{"who": person_name(request, d["by"]),
                         "what": DECIDED.get(d["decision"], d["decision"]),
                         "comment": d["comment"], "at": aware(d["at"]),
                         "readings": [reading_text(k, v) for k, v in (d.get("values") or {}).items()]}
                        for d in s["decisions"]]}


def _book(runs, run_id: str) -> Runbook | None:
    try:
        return load(Path(runs.journal.run(run_id)["runbook_path"]))
    except (ConfigError, OSError):          # the file changed or went away since: the names stay
        return None


def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: '4 s', '2 min 05 s', '1 h 03 min'."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def documents(request: Request, seen: Viewer, run_id: str) -> list[dict]:
    """The files the run wrote (its checklists: documents_dir/<run id>/), for those who may read them."""
    if not seen.may(READERS):
        return []
    cfg = request.app.state.ctx.settings.config
    root = cfg.path(cfg.documents_dir).resolve()
    folder = (root / run_id).resolve()
    if not folder.is_relative_to(root) or folder == root or not folder.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if name.startswith(".") or path.is_symlink() or not path.is_file() or path.suffix != ".html":
            continue
        key = quote(f"{run_id}/{path.stem}", safe="")
        out.append({"name": path.stem, "view": f"/documentos/ver?doc={key}",
                    "downloads": [(fmt.upper(), f"/documentos/descargar?doc={key}&formato={fmt}")
                                  for fmt in ("html", "xlsx", "pdf")
                                  if fmt == "pdf" or path.with_suffix(f".{fmt}").exists()]})
    return out


def _journal(request: Request, run_id: str) -> list[dict]:
    return [dict(e, at=aware(e["at"])) for e in service(request).journal.events(run_id)]


# ---------------------------------------------------------------- the page
@router.get(SECTION + "/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str, seen: Seen, aviso: str = ""):
    """The live view of one run (and, once ended, its record)."""
    view = await in_thread(run_view, request, seen, run_id)
    events = await in_thread(_journal, request, run_id)
    return page(request, seen, "ejecuciones_detalle.html", **view, events=events, notice=NOTICES.get(aviso),
                stream=f"{SECTION}/{quote(run_id, safe='')}/eventos")


@router.post(SECTION + "/{run_id}/cancelar")
async def cancel(request: Request, run_id: str, seen: Seen):
    """Ask the run to stop (its initiator, or the jefa: the service says who may)."""
    await posted(request, seen)
    await in_thread(service(request).cancel, run_id, acting(request, seen))
    return RedirectResponse(f"{SECTION}/{quote(run_id, safe='')}?aviso=cancelada", status_code=303)


# ---------------------------------------------------------------- the event stream
def sse(event: str, data: str, event_id: int | None = None) -> str:
    """One server-sent event; every line of `data` on its own `data:` line."""
    lines = [f"event: {event}"] + ([f"id: {event_id}"] if event_id is not None else [])
    lines += [f"data: {line}" for line in (data.splitlines() or [""])]
    return "\n".join(lines) + "\n\n"


Loader = Callable[[int], Awaitable[tuple[int, str | None, bool]]]


async def follow(load: Loader, gone: Callable[[], Awaitable[bool]], *, poll_s: float = POLL_S,
                 keepalive_s: float = KEEPALIVE_S, max_s: float = MAX_S,
                 clock: Callable[[], float] = time.monotonic) -> AsyncIterator[str]:
    """The stream of a run: `load(after)` gives (the last journal event id, the steps re-rendered when the
    journal grew past `after` else None, whether the run has ended). Ends with the run, when `gone()`, or
    after `max_s`."""
    begun = last = clock()
    after = 0
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        after_now, html, ended = await load(after)
        if html is not None:
            yield sse("pasos", html, after_now)
            last = clock()
        after = after_now
        if ended:
            yield sse("fin", "fin")
            return
        if await gone() or clock() - begun >= max_s:
            return
        if clock() - last >= keepalive_s:
            yield ": sigue\n\n"
            last = clock()
        await asyncio.sleep(poll_s)


@router.get(SECTION + "/{run_id}/eventos")
async def run_events(request: Request, run_id: str, seen: Seen) -> StreamingResponse:
    """The run's steps as server-sent events, each time its journal grows, until it ends."""
    runs = service(request)
    await in_thread(runs.journal.run, run_id)             # an unknown run: the error page, not a stream

    def load(after: int) -> tuple[int, str | None, bool]:
        new = runs.journal.events(run_id, after)
        if not new and after:
            return after, None, runs.journal.run(run_id)["status"] in TERMINAL
        view = run_view(request, seen, run_id)
        html = fragment(request, "ejecuciones_pasos.html", **view, csrf=seen.csrf).body.decode()
        return (new[-1]["id"] if new else after), html, view["ended"]

    async def load_off_loop(after: int):
        return await in_thread(load, after)

    checked = [time.monotonic()]

    async def gone() -> bool:
        """The browser left, or its session ended (logout, expiry, a person disabled): the stream ends."""
        if await request.is_disconnected():
            return True
        if time.monotonic() - checked[0] < SESSION_CHECK_S:
            return False
        checked[0] = time.monotonic()
        return await in_thread(_current, request) is None

    return StreamingResponse(follow(load_off_loop, gone), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
