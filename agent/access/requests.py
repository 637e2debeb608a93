"""Requests to enter the centro de datos or a cuarto de comunicaciones (S.04.03.02_P flow 1, activities 5–7): the
only writer of the `access_requests` table (readers use `agent/store/queries_access.py`).

A provider or a staff member without permanent access asks by mail to enter on a date and time window; the
request is recorded as it came (`requested`). The jefa reads it with the agent's answer to «¿Existe
disponibilidad?» (`agent/access/availability.py`): No → she observes it (`observed`) and the Especialista en
IS coordinates a new date and time (activity 6), which sends it back to her (`requested`, the first window
kept); Sí → she authorises or refuses it (activity 7), by herself or as her deputy in force. The decision is
then mailed to the requester (`agent/access/notices.py`). Every change is conditional on the status it
starts from, so two people acting at once cannot overwrite each other.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import insert, update

from agent.access.log import HHMM
from agent.errors import AgentError
from agent.store import queries_access
from agent.store.schema_access import access_requests

REQUESTED, OBSERVED, AUTHORISED, REFUSED = "requested", "observed", "authorised", "refused"
STATUSES = (REQUESTED, OBSERVED, AUTHORISED, REFUSED)


def checked_window(day: date, time_from: str, time_to: str, what: str) -> None:
    """An error naming the request when the window is not HH:MM to a later HH:MM."""
    for label, value in (("from", time_from), ("to", time_to)):
        if not HHMM.match(value):
            raise AgentError(f"{what}: time {label} {value!r} is not a time (HH:MM)")
    if time_to <= time_from:
        raise AgentError(f"{what}: the window {time_from}–{time_to} on {day} ends before it starts")


class AccessRequests:
    """Requests to enter, in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def add(self, *, name: str, id_number: str, company: str, email: str, activity: str, room: str, day: date,
            time_from: str, time_to: str, recorded_by: str) -> int:
        """Record a request as it came by mail (activity 5), waiting for the jefa; return its number."""
        checked_window(day, time_from, time_to, "access request")
        with self.store.transaction() as conn:
            return conn.execute(insert(access_requests).values(
                name=name, id_number=id_number, company=company, email=email, activity=activity, room=room,
                day=day.isoformat(), time_from=time_from, time_to=time_to, asked_day=day.isoformat(),
                asked_from=time_from, asked_to=time_to, status=REQUESTED, recorded_by=recorded_by,
                created_at=self._now())).inserted_primary_key[0]

    def request(self, request_id: int) -> dict:
        """One request; an error naming the number when there is none."""
        found = queries_access.access_request(self.store, request_id)
        if found is None:
            raise AgentError(f"no access request {request_id}")
        return found

    def _change(self, request_id: int, allowed: tuple[str, ...], **values) -> dict:
        with self.store.transaction() as conn:
            done = conn.execute(update(access_requests)
                                .where(access_requests.c.id == request_id, access_requests.c.status.in_(allowed))
                                .values(**values)).rowcount
        found = self.request(request_id)
        if not done:
            who = found["decided_by"] or found["observed_by"]
            raise AgentError(f"access request {request_id} is {found['status']}"
                             + (f" (by {who})" if who and found["status"] != REQUESTED else ""))
        return found

    def observe(self, request_id: int, by: str, observation: str, conflicts: list[dict]) -> dict:
        """The jefa: no availability on that date and time (activity 5, No); a new one is to be coordinated."""
        return self._change(request_id, (REQUESTED,), status=OBSERVED, observed_by=by, observed_at=self._now(),
                            observation=observation, conflicts=json.dumps(conflicts, ensure_ascii=False))

    def propose(self, request_id: int, by: str, day: date, time_from: str, time_to: str, note: str | None) -> dict:
        """The specialist's new date and time (activity 6): back to the jefa, the first window kept."""
        checked_window(day, time_from, time_to, f"access request {request_id}")
        return self._change(request_id, (REQUESTED, OBSERVED), status=REQUESTED, day=day.isoformat(),
                            time_from=time_from, time_to=time_to, proposed_by=by, proposed_at=self._now(),
                            proposal_note=note or None)

    def decide(self, request_id: int, by: str, *, authorise: bool, comment: str | None, conflicts: list[dict],
               held_as: str = "titular") -> dict:
        """Authorise or refuse a request waiting for the jefa (activity 7; the caller checked the role), with
        what the agent showed her then; the request as it is now."""
        allowed = (REQUESTED,) if authorise else (REQUESTED, OBSERVED)     # an observed one may still be refused
        return self._change(request_id, allowed, status=AUTHORISED if authorise else REFUSED, decided_by=by,
                            decided_as=held_as, decided_at=self._now(), decision_comment=comment or None,
                            conflicts=json.dumps(conflicts, ensure_ascii=False))
