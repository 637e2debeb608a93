"""Alerts forwarded to an Alertmanager (API v2), for offices that route with it.

Alertmanager forgets an alert it is not told about again within its resolve_timeout, so the open
ones are re-sent every tick; a resolved one goes once more with its endsAt. This is a state push,
not a message: nothing is queued, and a failure is logged and retried next tick (the mail
escalation does not depend on it). An Alertmanager that asks for credentials gets them from
`alerts.alertmanager_auth` (basic auth or a bearer token, secret references resolved at each push);
a URL is logged without its userinfo, whatever it holds.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agent.core.config import AlertmanagerAuth
from agent.core.results import State
from agent.core.secrets import resolve, without_userinfo
from agent.errors import ConfigError
from agent.log import Episodes

_LOGGER = logging.getLogger(__name__)
EPISODES = Episodes(_LOGGER, "alertmanager")      # an Alertmanager gone is said once, not every tick


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


def push(url: str, alerts: list[dict], *, auth: AlertmanagerAuth | None = None,
         base_dir: Path | None = None) -> int:
    """POST the alerts; return how many went (0 when Alertmanager could not be reached or refused: logged)."""
    import httpx

    if not alerts:
        return 0
    shown = without_userinfo(url)
    try:
        credentials = _credentials(auth, base_dir)
    except ConfigError as err:                      # names the reference, never a value
        EPISODES.failed(shown, "%s: %s", shown, err)
        return 0
    try:
        resp = httpx.post(url.rstrip("/") + "/api/v2/alerts", json=alerts, timeout=10, **credentials)
        resp.raise_for_status()
    except httpx.HTTPStatusError as err:
        EPISODES.failed(shown, "%s: HTTP %d%s", shown, err.response.status_code,
                        "; check alerts.alertmanager_auth" if err.response.status_code in (401, 403) else "")
        return 0
    except httpx.HTTPError as err:
        EPISODES.failed(shown, "%s: %s", shown, without_userinfo(str(err)))
        return 0
    EPISODES.recovered(shown)
    return len(alerts)


def _credentials(auth: AlertmanagerAuth | None, base_dir: Path | None) -> dict:
    """httpx arguments for basic auth or a bearer token, the secrets resolved now."""
    if auth is None:
        return {}
    if auth.bearer_token is not None:
        token = resolve(auth.bearer_token, base_dir=base_dir).get_secret_value()
        return {"headers": {"Authorization": f"Bearer {token}"}}
    return {"auth": (auth.username, resolve(auth.password, base_dir=base_dir).get_secret_value())}
