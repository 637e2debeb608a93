"""Copias y cintas (operators): the asset matrix's calendar (Anexo 01: what is backed up when) with each
asset's last result; the tape inventory (Anexo 04) with where each tape is; the custody boxes with their
actions (activities 6–7, 13–14, 18–19: prepare and seal, send, ask back with a reason, receive); and the
restores recorded (Anexo 05 requests, Anexo 06 results) with their state.

The actions are the CLI's `tapes box …`, called the same way: TapeInventory as the person logged in
(`seen.who.describe()`), and, when sending or asking back, the custody company told by mail first
(agent/backups/custody.py; when the mail cannot go nothing is recorded, as in the CLI).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agent.backups.tapes import TapeInventory
from agent.core.assets import LEVELS
from agent.documents.forms import Labels, forms_dir
from agent.errors import AgentError, MailError
from agent.store import queries
from agent.web.console import Viewer, in_thread, page, posted, section_viewer

router = APIRouter(include_in_schema=False)
SECTION = "/copias"
Operator = Depends(section_viewer(SECTION))
AHEAD = timedelta(days=35)  # how far the calendar looks for each asset's next runs
BOX_STATUS = {
    "preparada": "Preparada (en la oficina)",
    "enviada": "En custodia",
    "en_oficina": "De vuelta en la oficina",
}
MOVEMENT = {
    "preparada": "Preparada",
    "enviada": "Enviada a custodia",
    "solicitada": "Solicitada a la empresa",
    "recibida": "Recibida en la oficina",
}
CRITICALITY = {"critico": "Crítico", "no_critico": "No crítico"}
DONE = {
    "prepare": "Caja {box} preparada.",
    "send": "Caja {box} enviada a {company}.",
    "request": "Caja {box} solicitada a {company}.",
    "receive": "Caja {box} recibida en la oficina.",
}


def _calendar(ctx, labels: Labels, tz: ZoneInfo) -> list[dict]:
    assets = ctx.settings.assets.assets if ctx.settings.assets else []
    now = ctx.clock()
    out = []
    for a in assets:
        last = next(iter(queries.backup_runs(ctx.store, asset=a.id, newest_first=True, limit=1)), None)
        good = queries.last_good_backup(ctx.store, a.id)
        out.append(
            {
                "asset": a,
                "periodicity": a.periodicity.describe(),
                "time": f"{a.time:%H:%M}",
                "level": labels.get("backup_level", LEVELS[a.level]),
                "criticality": CRITICALITY.get(a.criticality or "", a.criticality or ""),
                "retention_years": round(a.retention_days / 365.25, 1),
                "next": a.slots(now, now + AHEAD, tz)[:1],
                "last": last,
                "last_label": labels.get("backup_status", last["status"]) if last else None,
                "good": good,
            }
        )
    return out


def overview(request: Request, seen: Viewer, **extra) -> dict:
    """What the page shows: the calendar, the tapes, the boxes with their movements, the restores."""
    ctx = request.app.state.ctx
    labels = Labels(forms_dir(ctx.settings.config))
    tz = ZoneInfo(ctx.settings.config.agent.timezone)
    inv = TapeInventory(ctx.store, clock=ctx.clock)
    tapes, jobs, boxes = inv.list(), inv.jobs_by_tape(), inv.boxes()
    moves: dict[str, list[dict]] = {}
    for m in inv.movements():
        moves.setdefault(m["box"], []).append(m)
    for t in tapes:
        t["status_label"] = labels.get("tape_status", t["status"])
        t["location_label"] = labels.get("tape_location", t["location"])
        t["holds"] = jobs.get(t["label"], [])[-3:]
    boxed = {lb for b in boxes.values() if b["status"] != "en_oficina" for lb in b["tapes"]}
    restores = [
        dict(r, status_label=labels.get("restore_status", r["status"]))
        for r in queries.restore_list(ctx.store)
    ]
    custody = ctx.settings.config.backups.custody
    return {
        "calendar": _calendar(ctx, labels, tz),
        "has_matrix": ctx.settings.assets is not None,
        "tapes": tapes,
        "boxes": [
            dict(b, status_label=BOX_STATUS.get(b["status"], b["status"]), moves=moves.get(b["box"], [])[-4:])
            for b in boxes.values()
        ],
        "candidates": [t for t in tapes if t["location"] != "custodia" and t["label"] not in boxed],
        "restores": list(reversed(restores)),
        "movement": MOVEMENT,
        "company": custody.company,
        "capacity": custody.box_capacity,
        "notice": None,
        "error": None,
        "failed": None,
        "typed": {},
        **extra,
    }


@router.get(SECTION, response_class=HTMLResponse)
async def copias(
    request: Request, hecho: str | None = None, caja: str | None = None, seen: Viewer = Operator
) -> HTMLResponse:
    """The page (after an action, its notice: `hecho` names the action, `caja` the box)."""
    values = await in_thread(overview, request, seen)
    if hecho in DONE and caja and any(b["box"] == caja for b in values["boxes"]):
        values["notice"] = DONE[hecho].format(box=caja, company=values["company"])
    return page(request, seen, "copias.html", **values)


def _text(form, name: str, limit: int = 500) -> str:
    return str(form.get(name, "")).strip()[:limit]


def _check(action: str, typed: dict) -> str | None:
    """What a person must fix before the action is tried (in Spanish), or None."""
    if not typed["box"]:
        return "Caja: indique el código de la caja (por ejemplo CAJA-01)."
    if action == "prepare" and not typed["tapes"]:
        return "Cintas: marque al menos una cinta para la caja."
    if action == "request" and not typed["reason"]:
        return "Motivo: indique por qué se solicita la caja (por ejemplo, la solicitud de restauración)."
    return None


def act(request: Request, action: str, typed: dict, by: str) -> None:
    """Carry out one box action as the CLI's `tapes box …` does (TapeError, MailError: nothing done)."""
    ctx = request.app.state.ctx
    cfg, inv = ctx.settings.config, TapeInventory(ctx.store, clock=ctx.clock)
    custody, box = cfg.backups.custody, typed["box"]
    if action == "prepare":
        inv.prepare(
            box,
            typed["tapes"],
            typed["seal"] or None,
            by,
            custody.company,
            custody.box_capacity,
            typed["allow_not_full"],
        )
    elif action == "send":
        info, leaves_with = inv.check_send(box, typed["seal"] or None)     # refused: the company is not told
        if typed["mail"]:
            _tell(ctx, "enviada", {**info, "seal": leaves_with}, by)
        inv.send(box, by, typed["seal"] or None)
    elif action == "request":
        info = inv.box(box)
        if info["status"] == "enviada" and typed["mail"]:  # an impossible request is refused, unmailed
            _tell(ctx, "solicitada", info, by, typed["reason"])
        inv.request(box, by, typed["reason"])
    else:
        inv.receive(box, by, typed["seal"] or None)


def _tell(ctx, movement: str, box: dict, by: str, reason: str | None = None) -> None:
    from agent.backups.custody import tell_company

    now = ctx.clock()
    local = now.astimezone(ZoneInfo(ctx.settings.config.agent.timezone))
    source = f"custody:{box['box']}:{movement}:{local:%Y%m%dT%H%M%S}"      # the CLI's key
    tell_company(
        ctx.settings,
        ctx.store,
        movement,
        box,
        by,
        source=source,
        reason=reason,
        withdraw_on_failure=True,
        now=now,
    )


@router.post(SECTION + "/caja/{action}", response_model=None)
async def caja(request: Request, action: str, seen: Viewer = Operator) -> RedirectResponse | HTMLResponse:
    """Prepare, send, request or receive a custody box, as the person logged in."""
    form = await posted(request, seen)
    if action not in DONE:
        return page(request, seen, "error.html", 404, error="No existe esa acción sobre las cajas.")
    typed = {
        "action": action,
        "box": _text(form, "caja", 64),
        "seal": _text(form, "precinto", 64),
        "reason": _text(form, "motivo"),
        "tapes": [str(v) for v in form.getlist("cintas")][:200],
        "allow_not_full": form.get("no_completas") == "1",
        "mail": form.get("correo") == "1",
    }
    error = _check(action, typed)
    if error is None:
        try:
            await in_thread(act, request, action, typed, seen.who.describe())
        except MailError as err:
            error = (
                f"No se pudo avisar a la empresa de resguardo ({err}); no se registró nada. "
                "Inténtelo de nuevo, o desmarque «avisar por correo» si ya se le avisó de otro modo."
            )
        except AgentError as err:
            error = f"No se pudo: {err}"
    if error is not None:
        values = await in_thread(overview, request, seen, error=error, failed=action, typed=typed)
        return page(request, seen, "copias.html", 400, **values)
    return RedirectResponse(f"{SECTION}?hecho={action}&caja={quote(typed['box'], safe='')}", status_code=303)
