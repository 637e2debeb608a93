"""The access log's entries: the only writer of the `access_log` table (the monthly report reads it
through `agent/store/queries.py`).

An entry is what a person fills at the datacenter's door (Anexo 1: fecha, nombre y apellidos,
identificación, entidad / proveedor, actividad, hora de ingreso); it waits for the jefa's authorisation
(flow 1, activity 7: authorised or refused, by her or her deputy in force, with a comment), and gets its
time out when the person leaves.

An entry made for a request the jefa authorised beforehand (`agent/access/requests.py`) names it and carries
her authorisation at once: nobody asks her twice. At the exit the specialist reviews the room's state
(activity 9; owner of `access_reviews` too): «sin problemas» records the time out and closes the entry in
the same transaction; a problem is recorded as an observation and the entry stays open (back to activity 8).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from sqlalchemy import insert, update

from agent.errors import AgentError
from agent.store import chain, queries
from agent.store.schema import access_log
from agent.store.schema_access import access_reviews

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
REQUESTED, AUTHORISED, REFUSED = "requested", "authorised", "refused"
STATUSES = (REQUESTED, AUTHORISED, REFUSED)
NO_PROBLEMS, PROBLEM = "sin_problemas", "problema"


class AccessLog:
    """Entries to the datacenter, in the store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def add(
        self,
        day: date,
        name: str,
        id_number: str,
        company: str,
        activity: str,
        time_in: str,
        time_out: str | None,
        recorded_by: str,
        request: dict | None = None,
    ) -> int:
        """Record an entry (activity 9 of flow 1), waiting for the jefa's authorisation; return its number.

        With `request` (an authorised request, as `queries_access.access_request` reads it) the entry is its
        visit, authorised by whoever authorised the request."""
        for label, value in (("time in", time_in), ("time out", time_out)):
            if value is not None and not HHMM.match(value):
                raise AgentError(f"access-log entry: {label} {value!r} is not a time (HH:MM)")
        if time_out is not None and time_out < time_in:
            raise AgentError(f"access-log entry: time out {time_out} is before time in {time_in}")
        if request is not None and request["day"] != day.isoformat():
            raise AgentError(f"access-log entry: access request {request['id']} was authorised for "
                             f"{request['day']}, not {day.isoformat()}")
        with chain.transaction(self.store, "access_log") as conn:
            return chain.insert(
                conn, access_log,
                day=day.isoformat(),
                name=name,
                id_number=id_number,
                company=company,
                activity=activity,
                time_in=time_in,
                time_out=time_out,
                recorded_by=recorded_by,
                created_at=self.clock().astimezone(UTC),
                **(_authorised_by(request) if request is not None else {"status": REQUESTED}),
            )

    def entry(self, entry_id: int) -> dict:
        """One entry; an error naming the number when there is none."""
        found = queries.access_entry(self.store, entry_id)
        if found is None:
            raise AgentError(f"no access-log entry {entry_id}")
        return found

    def decide(
        self, entry_id: int, by: str, *, authorise: bool, comment: str | None, held_as: str = "titular"
    ) -> dict:
        """Authorise or refuse an entry still requested (the caller checked the role); the entry as it is now.

        `by` is the person ("Name (login)"); an entry already decided stays as it was (an error naming who
        decided it), so two people deciding at once cannot overwrite each other."""
        with chain.transaction(self.store, "access_log") as conn:
            done = conn.execute(
                update(access_log)
                .where(access_log.c.id == entry_id, access_log.c.status == REQUESTED)
                .values(
                    status=AUTHORISED if authorise else REFUSED,
                    decided_by=by,
                    decided_as=held_as,
                    decided_at=self.clock().astimezone(UTC),
                    decision_comment=comment or None,
                )
            ).rowcount
            if done:
                chain.link(conn, "access_log", entry_id)      # the entry as decided is what the chain holds now
        found = self.entry(entry_id)
        if not done:
            raise AgentError(
                f"access-log entry {entry_id} was already {found['status']}"
                + (f" by {found['decided_by']}" if found["decided_by"] else "")
            )
        return found

    def leave(self, entry_id: int, time_out: str) -> None:
        """Record the time someone left (not for an entry the jefa refused, nor before the time in)."""
        _check_time_out(self.entry(entry_id), time_out)
        with chain.transaction(self.store, "access_log") as conn:
            _close(conn, entry_id, time_out)

    def review(self, entry_id: int, by: str, *, problems: bool, observation: str | None, alerts: list[dict],
               time_out: str | None = None) -> None:
        """Activity 9: the room's state reviewed as the visitor leaves, with the alerts the agent showed. No
        problems: the time out is recorded and the entry closed, in one transaction with the review; a
        problem: the observation, and the entry stays open."""
        found = self.entry(entry_id)
        if problems and not observation:
            raise AgentError(f"access-log entry {entry_id}: a problem needs its observation")
        if problems and found["time_out"] is not None:
            raise AgentError(f"access-log entry {entry_id} is closed (time out {found['time_out']})")
        if not problems:
            _check_time_out(found, time_out or "")
        with chain.transaction(self.store, "access_log") as conn:
            if not problems:
                _close(conn, entry_id, time_out)
            conn.execute(insert(access_reviews).values(
                entry_id=entry_id, at=self.clock().astimezone(UTC), by=by,
                outcome=PROBLEM if problems else NO_PROBLEMS, observation=observation or None,
                alerts=json.dumps(alerts, ensure_ascii=False), time_out=None if problems else time_out))


def _check_time_out(found: dict, time_out: str) -> None:
    entry_id = found["id"]
    if not HHMM.match(time_out):
        raise AgentError(f"access-log entry {entry_id}: time out {time_out!r} is not a time (HH:MM)")
    if found["status"] == REFUSED:
        raise AgentError(f"access-log entry {entry_id} was refused: nobody entered, so nobody leaves")
    if time_out < found["time_in"]:
        raise AgentError(f"access-log entry {entry_id}: time out {time_out} is before time in {found['time_in']}")
    if found["time_out"] is not None:
        raise AgentError(f"access-log entry {entry_id} already has its time out ({found['time_out']})")


def _close(conn, entry_id: int, time_out: str) -> None:
    """The time out, only on an entry still without one (two people closing at once: one wins)."""
    done = conn.execute(update(access_log).where(access_log.c.id == entry_id, access_log.c.time_out.is_(None))
                        .values(time_out=time_out))
    if done.rowcount != 1:
        raise AgentError(f"access-log entry {entry_id} already has its time out")
    chain.link(conn, "access_log", entry_id)


def _authorised_by(request: dict) -> dict:
    """An entry's authorisation taken from its request's (activity 7 happened before the visit)."""
    if request["status"] != AUTHORISED:
        raise AgentError(f"access request {request['id']} is {request['status']}, not authorised: "
                         "its visitor cannot enter on it")
    return dict(request_id=request["id"], status=AUTHORISED, decided_by=request["decided_by"],
                decided_as=request["decided_as"], decided_at=request["decided_at"],
                decision_comment=f"Solicitud N° {request['id']}"
                + (f": {request['decision_comment']}" if request["decision_comment"] else ""))
