"""Alerts forwarded to an Alertmanager (API v2), for offices that route with it.

Alertmanager forgets an alert it is not told about again within its resolve_timeout, so the open
ones are re-sent every tick; a resolved one goes once more with its endsAt. This is a state push,
not a message: nothing is queued, and a failure is logged and retried next tick (the mail
escalation does not depend on it).
"""

from __future__ import annotations

import logging

from agent.core.results import State

_LOGGER = logging.getLogger(__name__)


def payload(rows: list[dict], inventory: dict) -> list[dict]:
    """Alertmanager's alert objects for the agent's alert rows."""
    out = []
    for a in rows:
        device = inventory.get(a["device"])
        labels = {"alertname": a["reading"].split("{")[0], "device": a["device"], "reading": a["reading"],
                  "severity": "critical" if a["severity"] >= State.CRITICAL else "warning", "source": "oti-agent",
                  "kind": device.kind if device else "", "site": device.site if device else ""}
        value = a["text"] or ("" if a["value"] is None else a["value"])
        item = {"labels": {k: v for k, v in labels.items() if v},
                "annotations": {"summary": f"{a['device']}: {a['reading']} {value}".strip(),
                                "description": a["message"] or "", "alert_id": str(a["id"]), "status": a["status"]},
                "startsAt": a["opened_at"].isoformat()}
        if a["status"] == "resolved":
            item["endsAt"] = a["resolved_at"].isoformat()
        out.append(item)
    return out


def push(url: str, alerts: list[dict]) -> int:
    """POST the alerts; return how many went (0 when Alertmanager could not be reached: logged)."""
    import httpx

    if not alerts:
        return 0
    try:
        resp = httpx.post(url.rstrip("/") + "/api/v2/alerts", json=alerts, timeout=10)
        resp.raise_for_status()
    except httpx.HTTPError as err:
        _LOGGER.warning("alertmanager %s: %s", url, err)
        return 0
    return len(alerts)
