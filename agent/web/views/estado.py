"""Estado, the console's home: the datacenter at a glance. Open alerts first; the UPS's battery minutes and
the rooms' temperatures as numbers; then every device by kind with its state, its worst reading and since
when. The page asks for its body again every few seconds (htmx), so a UPS going on battery shows up
without a reload."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agent.core.inventory import KINDS
from agent.core.results import State
from agent.documents.forms import Labels, forms_dir
from agent.store import queries
from agent.web.console import SECTIONS, Viewer, fragment, in_thread, page, reading_label, viewer

router = APIRouter(include_in_schema=False)
REFRESH_S = 5
ALERTS_SHOWN = 8
# the readings a person reads at once, by what they are; the profiles' names for them
RUNTIME = "ups_battery_runtime_seconds"
CHARGE = "ups_battery_charge_ratio"
SOURCE = "ups_output_source"
ROOM_SENSORS = ("return", "inlet", "control", "supply")
POLICY_LABELS = {"normal": "Normal", "on_battery": "En batería", "shutting_down": "Apagado de emergencia en curso",
                 "waiting_for_mains": "Esperando la energía comercial", "starting": "Encendido en curso"}
# how the console groups kinds (the groups), in the inventory's order
GROUPS = (("UPS", ("ups",)), ("Energía", ("electrical_panel", "generator")), ("Aires de precisión", ("ac",)),
          ("Switches y red", ("switch", "router", "firewall")),
          ("Servidores", ("server_physical", "server_virtual")), ("Bases de datos", ("db",)),
          ("Almacenamiento", ("storage",)), ("Respaldo", ("backup", "tape_library")),
          ("Otros", ("pbx", "fire", "antiflood")))
assert sorted(k for _g, kinds in GROUPS for k in kinds) == sorted(KINDS), "a kind without a group"


def _up(request: Request) -> dict[str, tuple[bool, object]]:
    """device -> (every check answered, since when one has not)."""
    out: dict[str, tuple[bool, object]] = {}
    store = request.app.state.ctx.store
    for s in queries.check_statuses(store):
        up, since = out.get(s["device"], (True, None))
        if not s["up"]:
            since = min((x for x in (since, s["failing_since"] or s["last_run"]) if x is not None), default=None)
        out[s["device"]] = (up and bool(s["up"]), since)
    return out


def overview(request: Request) -> dict:
    """What the page shows, read from the store (the daemon's monitoring writes it)."""
    ctx = request.app.state.ctx
    labels = Labels(forms_dir(ctx.settings.config))
    readings = queries.latest(ctx.store)
    alerts = queries.alerts_list(ctx.store)
    up = _up(request)
    by_device: dict[str, list[dict]] = {}
    for r in readings:
        by_device.setdefault(r["device"], []).append(r)
    alert_since: dict[str, object] = {}
    for a in alerts:
        alert_since.setdefault(a["device"], a["opened_at"])
    devices = []
    for d in ctx.settings.inventory:
        own = by_device.get(d.name, [])
        known = [r for r in own if r["state"] != State.UNKNOWN]
        worst = max(known, key=lambda r: r["state"], default=None)
        answers, failing_since = up.get(d.name, (None, None))
        if answers is False:
            state, since, detail = "down", failing_since, "sin respuesta"
        elif worst is None:
            state, since, detail = ("UNKNOWN" if own else None), None, "sin lecturas" if not own else "sin datos"
        elif worst["state"] == State.OK:
            state, since, detail = "OK", None, f"{len(known)} lecturas normales"
        else:
            state = worst["state"].name
            since = alert_since.get(d.name)
            detail = _reading_text(worst)
        devices.append({"name": d.name, "kind": d.kind, "kind_label": labels.get("kinds", d.kind),
                        "site": d.site, "state": state, "state_label": _state_label(labels, state),
                        "detail": detail, "since": since,
                        "updated": max((r["updated_at"] for r in own), default=None)})
    groups = [(title, [x for x in devices if x["kind"] in kinds]) for title, kinds in GROUPS]
    # the worst and newest first; a switch with forty ports down is one line more, not forty
    ranked = sorted(alerts, key=lambda a: (-int(a["severity"]), -a["opened_at"].timestamp()))
    shown = [dict(a, severity_label=labels.get("severity", a["severity"].name), what=a["message"] or
                  reading_label(a["reading"])) for a in ranked[:ALERTS_SHOWN]]
    return {"alerts": shown, "alerts_total": len(alerts), "alerts_more": max(0, len(alerts) - ALERTS_SHOWN),
            "ups": _ups(ctx, by_device, labels), "rooms": _rooms(ctx, by_device),
            "groups": [(t, ds) for t, ds in groups if ds], "refresh_s": REFRESH_S,
            "grafana": ctx.settings.config.http.grafana_url}


def _state_label(labels: Labels, state: str | None) -> str:
    if state == "down":
        return "Sin respuesta"
    return labels.get("states", state) if state else "Sin datos"


def _reading_text(r: dict) -> str:
    """A reading as a line: its message, else what it is = value unit."""
    if r["message"]:
        return r["message"]
    value = r["text"] if r["text"] is not None else (f"{r['value']:g}" if r["value"] is not None else "—")
    return f"{reading_label(r['reading'])} = {value} {r['unit']}".strip()


def _first(rows: list[dict], name: str) -> dict | None:
    return next((r for r in rows if r["name"] == name and r["state"] != State.UNKNOWN), None)


def _ups(ctx, by_device, labels) -> list[dict]:
    out = []
    policy = queries.power_state_rows(ctx.store) if ctx.settings.config.power.enabled else {}
    for d in ctx.settings.inventory.select(kinds=["ups"]):
        rows = by_device.get(d.name, [])
        latched = policy.get(d.name)
        runtime, charge, source = _first(rows, RUNTIME), _first(rows, CHARGE), _first(rows, SOURCE)
        on_battery = _on_battery(rows)
        out.append({"name": d.name,
                    "minutes": round(runtime["value"] / 60) if runtime and runtime["value"] is not None else None,
                    "charge": round(charge["value"] * 100) if charge and charge["value"] is not None else None,
                    "on_battery": on_battery,
                    "source": (source["text"] if source else None),
                    "policy": ({"label": POLICY_LABELS.get(latched["state"], latched["state"]),
                                "state": latched["state"], "detail": latched["detail"] or "",
                                "since": latched["since"], "run_id": latched["run_id"]} if latched else
                               {"label": "Normal", "state": "normal", "detail": "", "since": None, "run_id": None}
                               if ctx.settings.config.power.enabled else None),
                    "state": max((r["state"] for r in rows if r["state"] != State.UNKNOWN), default=None)})
    return out


def _on_battery(rows: list[dict]) -> bool:
    """The UPS feeds its load from the battery, by whichever reading its profile has."""
    source, status = _first(rows, SOURCE), _first(rows, "ups_output_status")
    seconds = _first(rows, "ups_battery_on_battery_seconds")
    return bool((source and (source["text"] or "").lower() == "battery")
                or (status and "battery" in (status["text"] or "").lower())
                or (seconds and (seconds["value"] or 0) > 0))


def _rooms(ctx, by_device) -> list[dict]:
    """Each air conditioner's room temperature: the air coming back to it (the room's), else the rack
    inlet, the unit's control sensor, the air it supplies, whichever its profile reads."""
    out = []
    for d in ctx.settings.inventory.select(kinds=["ac"]):
        found = [r for r in by_device.get(d.name, []) if r["name"].startswith("ac_") and "temperature" in r["name"]
                 and r["value"] is not None and r["state"] != State.UNKNOWN]
        if not found:
            continue
        best = min(found, key=lambda r: next((i for i, word in enumerate(ROOM_SENSORS) if word in r["reading"]),
                                             len(ROOM_SENSORS)))
        out.append({"name": d.name, "site": d.site, "celsius": best["value"], "state": best["state"].name,
                    "what": reading_label(best["reading"])})
    return out


def _links(seen: Viewer) -> dict[str, bool]:
    """Which sections the page links to for this person (no link to a 403)."""
    return {s.path: seen.may(s.roles) for s in SECTIONS}


@router.get("/", response_class=HTMLResponse)
async def estado(request: Request, seen: Viewer = Depends(viewer)) -> HTMLResponse:
    """The home page."""
    return page(request, seen, "estado.html", links=_links(seen), **await in_thread(overview, request))


@router.get("/estado/cuerpo", response_class=HTMLResponse)
async def estado_body(request: Request, seen: Viewer = Depends(viewer)) -> HTMLResponse:
    """The page's body alone, which the page asks for every REFRESH_S seconds."""
    return fragment(request, "estado_cuerpo.html", links=_links(seen), **await in_thread(overview, request))
