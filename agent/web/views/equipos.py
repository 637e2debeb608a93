"""Equipos: the inventory, and each device's checks and readings with the limits they are judged by.

A device's page says what the inventory knows of it (kind, site, criticality, address, vendor), each check
that polls it (last run, answered or not, since when it fails, its error), and every reading with its
value, unit, state, warning and critical limits (the device's `oti_thresholds` over its SNMP profile's)
and when it was last updated. Readings of a table (a switch's interfaces, a UPS's lines) are one row per
row of the device, with its labels (ifName, ifAlias) shown as text: they come from the device.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agent.core.results import State
from agent.core.settings_rules import PROFILES
from agent.core.thresholds import Thresholds
from agent.documents.forms import Labels, forms_dir
from agent.monitoring.jobs import all_jobs
from agent.monitoring.silence import NAME as ANSWERED
from agent.store import queries
from agent.web.console import Viewer, in_thread, page, section_viewer

router = APIRouter(include_in_schema=False)
SECTION = "/equipos"
seen_here = section_viewer(SECTION)
CRITICALITY = {"critico": "Crítico", "no_critico": "No crítico"}
LABEL_NAMES = {"ifindex": "Índice", "ifname": "Interfaz (ifName)", "ifalias": "Descripción (ifAlias)",
               "index": "Índice", "line": "Línea", "sensor": "Sensor", "mount": "Punto de montaje",
               "service": "Servicio", "url": "URL", "port": "Puerto"}
STATE_NAMES = {"OK": "Normal", "WARNING": "Advertencia", "CRITICAL": "Crítico", "UNKNOWN": "Desconocido"}
UNITS = {"celsius": "°C", "volts": "V", "hertz": "Hz", "amperes": "A", "watts": "W", "percent": "%",
         "rpm": "rpm", "bytes": "B"}


def _number(v: float) -> str:
    """A number as the office reads it (es-PE: decimal point, comma for thousands), at most 2 decimals."""
    text = f"{v:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def value_text(value: float | None, unit: str) -> str:
    """A value in its base unit as a person reads it: seconds as minutes or hours, a ratio as %."""
    if value is None:
        return "—"
    if unit == "seconds":
        for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
            if abs(value) >= 2 * size:
                return f"{_number(value / size)} {name}"
        return f"{_number(value)} s"
    if unit == "ratio":
        return f"{_number(value * 100)} %"
    if unit == "bytes":
        for size, name in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(value) >= size:
                return f"{_number(value / size)} {name}"
        return f"{_number(value)} B"
    if unit == "bytes_per_second":
        for size, name in ((1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s")):
            if abs(value) * 8 >= size:
                return f"{_number(value * 8 / size)} {name}"
        return f"{_number(value * 8)} b/s"
    return f"{_number(value)} {UNITS.get(unit, unit)}".strip()


def limits_text(limits: Thresholds | None, unit: str) -> str:
    """'Advertencia ≤ 15 min · Crítico ≤ 5 min' for a reading's limits; '' when it has none."""
    if limits is None:
        return ""
    sign = "≥" if limits.direction == "above" else "≤"
    parts = [f"{name} {sign} {value_text(level, unit)}" for name, level in
             (("Advertencia", limits.warning), ("Crítico", limits.critical)) if level is not None]
    return " · ".join(parts)


def _metric_defs(settings, device) -> dict:
    """The device's SNMP profile metrics by name (the profiles the snmp check loaded with the settings)."""
    access = getattr(device, "snmp", None)
    if access is None:
        return {}
    known = settings.data.get(PROFILES, {})
    chosen = [known[n] for n in access.profiles if n in known] or list(known.values())
    out: dict = {}
    for p in chosen:                     # the first profile naming a reading describes it, as in a poll
        for m in p.all_metrics:
            out.setdefault(m.name, m)
    return out


def _judged(metric, device, name: str, unit: str) -> str:
    """How a reading is judged: its limits (the device's over the profile's), or the states of its values."""
    limits = device.thresholds.get(name) or (metric.thresholds if metric is not None else None)
    if limits is not None:
        return limits_text(limits, unit)
    if metric is not None and metric.states:
        bad = {}
        for label, state in metric.states.items():
            if state in ("WARNING", "CRITICAL"):
                bad.setdefault(state, []).append(label)
        return " · ".join(f"{STATE_NAMES[s]}: {', '.join(bad[s])}" for s in ("WARNING", "CRITICAL") if s in bad)
    return ""


def _reading(r: dict, metric, device) -> dict:
    shown = r["text"] if r["text"] is not None else value_text(r["value"], r["unit"])
    return {"name": r["name"], "value": shown, "state": r["state"].name, "state_label": STATE_NAMES[r["state"].name],
            "message": r["message"], "updated": r["updated_at"], "labels": r["labels"],
            "limits": _judged(metric, device, r["name"], r["unit"])}


def _tables(rows: list[dict]) -> list[dict]:
    """Readings with labels, one table per set of label names: a row per labelled row, a column per reading."""
    tables: dict[tuple, dict] = {}
    for r in rows:
        keys = tuple(r["labels"])
        table = tables.setdefault(keys, {"labels": [LABEL_NAMES.get(k, k) for k in keys], "columns": [],
                                         "limits": {}, "rows": {}})
        if r["name"] not in table["columns"]:
            table["columns"].append(r["name"])
            table["limits"][r["name"]] = r["limits"]
        row = table["rows"].setdefault(tuple(r["labels"].values()), {"labels": list(r["labels"].values()),
                                                                     "cells": {}, "updated": r["updated"]})
        row["cells"][r["name"]] = r
        row["updated"] = max(row["updated"], r["updated"])
    return [dict(t, rows=sorted(t["rows"].values(), key=lambda row: [_natural(v) for v in row["labels"]]))
            for t in tables.values()]


def _natural(label: str) -> tuple:
    """Port 2 before port 10: numbers by their value, then text."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _checks(settings, store, device) -> list[dict]:
    """The checks configured for the device (by check group) beside their last run in the store."""
    status = {s["check_name"]: s for s in queries.check_statuses(store) if s["device"] == device.name}
    groups = {g.name: g for g in settings.config.check_groups}
    out = []
    for group, jobs in all_jobs(settings, device=device.name).items():
        for job in jobs:
            limits = [f"{field}: {limits_text(value, '')}" for field, value in job.check.options
                      if isinstance(value, Thresholds)]
            out.append({"name": job.check.name, "group": group, "interval": groups[group].interval,
                        "status": status.pop(job.check.name, None), "limits": limits})
    out += [{"name": name, "group": None, "interval": None, "status": s, "limits": []} for name, s in status.items()]
    return out


def inventory(request: Request) -> dict:
    """Every device of the inventory with its state now and when it was last heard from."""
    ctx = request.app.state.ctx
    labels = Labels(forms_dir(ctx.settings.config))
    worst = queries.worst_state(ctx.store)
    down = {s["device"] for s in queries.check_statuses(ctx.store) if not s["up"]}
    updated: dict[str, object] = {}
    for r in queries.latest(ctx.store):
        updated[r["device"]] = max(updated.get(r["device"], r["updated_at"]), r["updated_at"])
    devices = []
    for d in ctx.settings.inventory:
        state = "down" if d.name in down else (worst[d.name].name if d.name in worst else None)
        devices.append({"name": d.name, "kind_label": labels.get("kinds", d.kind), "site": d.site,
                        "criticality": CRITICALITY.get(d.criticality, d.criticality), "address": d.address,
                        "state": state, "state_label": "Sin respuesta" if state == "down" else
                        STATE_NAMES.get(state or "", "Sin datos"), "updated": updated.get(d.name)})
    return {"devices": devices}


def one(request: Request, name: str) -> dict | None:
    """A device's page: what the inventory says, its checks, its readings and their limits; None if unknown."""
    ctx = request.app.state.ctx
    device = ctx.settings.inventory.by_name.get(name)
    if device is None:
        return None
    labels = Labels(forms_dir(ctx.settings.config))
    metrics = _metric_defs(ctx.settings, device)
    rows = [_reading(r, metrics.get(r["name"]), device) for r in queries.latest(ctx.store, device=name)
            if r["name"] != ANSWERED]
    alerts = [a for a in queries.alerts_list(ctx.store) if a["device"] == name]
    return {"device": device, "kind_label": labels.get("kinds", device.kind),
            "criticality": CRITICALITY.get(device.criticality, device.criticality),
            "checks": _checks(ctx.settings, ctx.store, device), "scalars": [r for r in rows if not r["labels"]],
            "tables": _tables([r for r in rows if r["labels"]]),
            "alerts": [dict(a, severity_name=State(a["severity"]).name,
                            severity_label=labels.get("severity", State(a["severity"]).name)) for a in alerts]}


@router.get(SECTION, response_class=HTMLResponse)
async def equipos(request: Request, seen: Viewer = Depends(seen_here)) -> HTMLResponse:
    """The inventory."""
    return page(request, seen, "equipos.html", **await in_thread(inventory, request))


@router.get(SECTION + "/{name}", response_class=HTMLResponse)
async def equipo(request: Request, name: str, seen: Viewer = Depends(seen_here)) -> HTMLResponse:
    """One device: its checks and its readings with their limits."""
    data = await in_thread(one, request, name)
    if data is None:
        return page(request, seen, "error.html", 404, error=f"El equipo «{name}» no está en el inventario.")
    return page(request, seen, "equipos_equipo.html", **data)
