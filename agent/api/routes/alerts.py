"""Alerts: the list (the daily review, activity 7 of S.04.04.01.03_P), acknowledging and resolving them.

Acknowledging and resolving need a role of the office's operators and, for a token, the scope operate;
the person's name and login go in the alert's history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from agent.api.deps import Ctx, Operator, Reader
from agent.core.results import State
from agent.store import queries

router = APIRouter(prefix="/api/v1", tags=["alerts"])
STATUSES = {"active": ("open", "acknowledged"), "open": ("open",), "acknowledged": ("acknowledged",),
            "resolved": ("resolved",), "all": None}


class Alert(BaseModel):
    """An alert on one reading of one device."""

    id: int
    device: str
    reading: str
    check: str
    severity: str = Field(description="the worst state seen: WARNING or CRITICAL")
    state: str = Field(description="the reading's state now")
    status: str = Field(description="open, acknowledged or resolved")
    value: float | None
    text: str | None
    message: str | None
    opened_at: datetime
    changed_at: datetime
    flapping: bool
    notified: int = Field(description="escalation steps sent")
    acked_by: str | None
    acked_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    comment: str | None


class Comment(BaseModel):
    """What was done or found (goes in the alert's history)."""

    comment: str | None = Field(None, max_length=2000)


def _alert(a: dict) -> Alert:
    return Alert(id=a["id"], device=a["device"], reading=a["reading"], check=a["check_name"],
                 severity=State(a["severity"]).name, state=State(a["state"]).name, status=a["status"],
                 value=a["value"], text=a["text"], message=a["message"], opened_at=a["opened_at"],
                 changed_at=a["changed_at"], flapping=bool(a["flapping"]), notified=a["steps_sent"],
                 acked_by=a["acked_by"], acked_at=a["acked_at"], resolved_by=a["resolved_by"],
                 resolved_at=a["resolved_at"], comment=a["comment"])


@router.get("/alerts", response_model=list[Alert])
def alerts(who: Reader, ctx: Ctx,
           status: Literal["active", "open", "acknowledged", "resolved", "all"] = "active") -> list[Alert]:
    """Alerts, oldest first: active (open and acknowledged, the default), one status, or all."""
    return [_alert(a) for a in queries.alerts_list(ctx.store, STATUSES[status])]


def _book(ctx, alert_id: int):
    """The daemon's alert book, once the alert is known to exist."""
    if not queries.alerts_list(ctx.store, None, [alert_id]):
        raise HTTPException(404, f"no alert {alert_id}")
    if ctx.alerts is None:
        raise HTTPException(503, "the daemon's alert book is not running")
    return ctx.alerts


@router.post("/alerts/{alert_id}/ack", response_model=Alert, responses={403: {}, 404: {}, 409: {}})
def ack(alert_id: int, who: Operator, ctx: Ctx, body: Comment | None = None) -> Alert:
    """Acknowledge an open alert: someone is on it, escalation stops."""
    return _alert(_book(ctx, alert_id).ack(alert_id, who.describe(), body.comment if body else None))


@router.post("/alerts/{alert_id}/resolve", response_model=Alert, responses={403: {}, 404: {}, 409: {}})
def resolve(alert_id: int, who: Operator, ctx: Ctx, body: Comment | None = None) -> Alert:
    """Close an alert by hand (its cause was dealt with)."""
    return _alert(_book(ctx, alert_id).resolve(alert_id, who.describe(), body.comment if body else None))


@router.post("/alerts/{alert_id}/escalate", response_model=Alert, responses={403: {}, 404: {}, 409: {}})
def escalate(alert_id: int, who: Operator, ctx: Ctx, body: Comment | None = None) -> Alert:
    """Send the alert's next escalation step now (the specialist cannot solve it: the jefa, the vendor)."""
    return _alert(_book(ctx, alert_id).escalate(alert_id, who.describe(), body.comment if body else None))
