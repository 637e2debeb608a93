"""Cumplimiento (S.04.03.02_P flow 2, activities 6–9): each host's patch (WSUS / apt) and antivirus
compliance as the probes judged it — the verdict, since when, each rule's finding with its reason (the
updates missing and for how long, signatures too old, the agent stopped…) — and the policy's exceptions
(who granted them, until when, why), the expired ones marked. Grouped by area, the hosts that do not
comply first."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agent.core.compliance import RULES_ES
from agent.core.results import State
from agent.documents.forms import Labels, forms_dir
from agent.store import queries
from agent.web.console import Viewer, in_thread, page, section_viewer

router = APIRouter(include_in_schema=False)
seen_here = section_viewer("/cumplimiento")
AREAS = ("wsus", "parches", "antivirus")  # the page's order; an area a probe adds comes after
RULE_READING = "compliance_rule_ok"
EXEMPT = " — excepción hasta "  # how agent.core.compliance.readings appends an exception


def _finding(r: dict) -> dict:
    message = r["message"] or ""
    detail, _, exempt = message.partition(EXEMPT)
    ok = r["value"] == 1.0
    status = ("exempt" if exempt else "ok") if ok else "bad"
    return {
        "rule": RULES_ES.get(r["labels"].get("rule", ""), r["labels"].get("rule", "")),
        "status": status,
        "detail": detail,
        "exempt": ("excepción hasta " + exempt) if exempt else "",
    }


def _exceptions(policy, today: date) -> list[dict]:
    return sorted(
        (
            {
                "host": e.host,
                "rule": RULES_ES.get(e.rule, e.rule),
                "until": e.until,
                "reason": e.reason,
                "granted_by": e.granted_by,
                "in_force": e.until >= today,
            }
            for e in policy.exceptions
        ),
        key=lambda e: (not e["in_force"], e["until"], e["host"]),
    )


def overview(request: Request) -> dict:
    """What the page shows, from the probes' last readings (the store) and the config's policy."""
    ctx = request.app.state.ctx
    labels = Labels(forms_dir(ctx.settings.config))
    today = ctx.clock().astimezone(ZoneInfo(ctx.settings.config.agent.timezone)).date()
    policy = ctx.settings.config.compliance
    exceptions = _exceptions(policy, today)
    verdicts = queries.compliance_verdicts(ctx.store)
    rules: dict[tuple, list[dict]] = {}
    for r in queries.latest(ctx.store, name=RULE_READING):
        key = (r["device"], r["labels"].get("area", ""), r["labels"].get("host"))
        rules.setdefault(key, []).append(r)
    since = queries.compliance_since(ctx.store)
    by_area: dict[str, list[dict]] = {}
    for v in verdicts:
        area, host = v["labels"].get("area", ""), v["labels"].get("host")
        findings = [_finding(r) for r in rules.get((v["device"], area, host), [])]
        findings.sort(key=lambda f: ("bad", "exempt", "ok").index(f["status"]))
        name = host or v["device"]
        by_area.setdefault(area, []).append(
            {
                "host": name,
                "read_on": v["device"] if host and host != v["device"] else None,
                "ok": v["state"] == State.OK,
                "state": v["state"].name,
                "message": v["message"] or "",
                "findings": findings,
                "since": since.get((v["device"], v["reading"])),
                "read_at": v["updated_at"],
                "exceptions": [e for e in exceptions if e["host"].lower() == name.lower()],
            }
        )
    order = [a for a in AREAS if a in by_area] + sorted(a for a in by_area if a not in AREAS)
    groups = []
    for area in order:
        hosts = sorted(by_area[area], key=lambda h: (h["ok"], h["host"].lower()))
        groups.append(
            {
                "area": area,
                "title": labels.get("compliance_area_title", area),
                "hosts": hosts,
                "bad": sum(not h["ok"] for h in hosts),
            }
        )
    return {
        "groups": groups,
        "exceptions": exceptions,
        "policy": policy,
        "today": today,
        "bad": sum(g["bad"] for g in groups),
        "total": sum(len(g["hosts"]) for g in groups),
    }


@router.get("/cumplimiento", response_class=HTMLResponse)
async def cumplimiento(request: Request, seen: Annotated[Viewer, Depends(seen_here)]) -> HTMLResponse:
    """Patch and antivirus compliance by area, the exceptions in force and the expired ones."""
    return page(request, seen, "cumplimiento.html", **await in_thread(overview, request))
