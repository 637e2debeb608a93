"""The helpdesk's calls: the only writer of `helpdesk_calls`. Every ticket call is stored before it goes out.

As the outbox does for mail, a call is a row first: GLPI down or refusing the login loses nothing, the
next flush sends it. Each call has a `source`, unique (`alert:12`, `alert:12:reply:40`, `run:ID:step`):
asking again for the same call returns the row already there, so a retried or resumed step, or a tick
that runs twice, never opens two tickets nor writes a message twice. A call that went out but whose
answer was lost (the agent died mid-call) is looked for in GLPI before it is sent again: its content
ends with its source as a reference, `[oti-agent alert:12]`.

A call about a ticket names the `source` of the call that opened it (`ticket_source`); it waits until
that ticket exists. A run started from a GLPI ticket is linked to it (kind `link`): its ticket steps
then follow that ticket.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from agent.errors import HelpdeskError
from agent.log import Episodes
from agent.notify.glpi import CLOSED, INCIDENT, GlpiClient
from agent.store import Store
from agent.store.schema_helpdesk import helpdesk_calls as calls

_LOGGER = logging.getLogger(__name__)
SERVER = Episodes(_LOGGER, "glpi")          # GLPI down or refusing the login: said once, until it works
KINDS = ("open", "link", "followup", "solve", "close", "attach", "start")
WAIT_S = 30.0                               # how long a caller delivering one call waits while another sends it


def marker(source: str) -> str:
    """The reference a call's content ends with, to find it in GLPI again."""
    return f"[oti-agent {source}]"


class Helpdesk:
    """Queue and deliver ticket calls through the store."""

    def __init__(self, store: Store, config, clock=None, transport=None):
        self.store, self.config, self.cfg = store, config, config.glpi
        self.clock = clock or (lambda: datetime.now(UTC))
        self.transport = transport            # tests: an httpx transport; the daemon: None (the network)

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled

    def client(self) -> GlpiClient:
        """A client of the config's GLPI (close it, or use it in a `with`)."""
        return GlpiClient(self.cfg, self.config.base_dir, transport=self.transport)

    # ------------------------------------------------------------------ queueing
    def open(self, source: str, name: str, content: str, *, category: int | None = None,
             kind: int = INCIDENT) -> int:
        """Queue the opening of a ticket about `source`; return the call's id (the one queued before, if any)."""
        return self._queue(source, "open", {"name": name, "content": content, "category": category, "type": kind})

    def link(self, source: str, ticket_id: int) -> int:
        """Record that `source` (a run) is about a ticket GLPI already has: nothing is sent."""
        return self._queue(source, "link", {}, ticket_id=ticket_id, status="sent")

    def follow(self, ticket_source: str, source: str, content: str) -> int:
        """Queue a message on the ticket of `ticket_source`."""
        return self._queue(source, "followup", {"content": content}, ticket_source=ticket_source)

    def solve(self, ticket_source: str, source: str, content: str, *, close: bool = False) -> int:
        """Queue the ticket's solution (and, with `close`, its closing)."""
        return self._queue(source, "close" if close else "solve", {"content": content}, ticket_source=ticket_source)

    def attach(self, ticket_source: str, source: str, path: Path, name: str | None = None) -> int:
        """Queue a file to attach to the ticket."""
        return self._queue(source, "attach", {"path": str(path), "name": name}, ticket_source=ticket_source)

    def started(self, ticket_id: int, run_id: str) -> bool:
        """Record that a ticket started a run; False when it had started one already (once per ticket)."""
        source = f"ticket:{ticket_id}"
        if self.row_by_source(source) is not None:
            return False
        self._queue(source, "start", {}, ticket_id=ticket_id, status="sent", run_id=run_id)
        return True

    def set_run(self, ticket_id: int, run_id: str | None, error: str | None = None) -> None:
        """The run a ticket started, or why none could start."""
        with self.store.transaction() as conn:
            conn.execute(update(calls).where(calls.c.source == f"ticket:{ticket_id}")
                         .values(run_id=run_id, last_error=error))

    def _queue(self, source: str, kind: str, payload: dict, *, ticket_source: str | None = None,
               ticket_id: int | None = None, status: str = "queued", run_id: str | None = None) -> int:
        found = self.row_by_source(source)
        if found is not None:
            return found["id"]
        now = self.clock().astimezone(UTC)
        with self.store.transaction() as conn:
            return conn.execute(insert(calls).values(
                source=source, ticket_source=ticket_source or source, kind=kind, payload=json.dumps(payload),
                ticket_id=ticket_id, run_id=run_id, status=status, attempts=0, created_at=now,
                sent_at=now if status == "sent" else None)).inserted_primary_key[0]

    # ------------------------------------------------------------------ reading
    def row(self, call_id: int) -> dict:
        found = self.store.rows(select(calls).where(calls.c.id == call_id))
        if not found:
            raise HelpdeskError(f"no helpdesk call {call_id}", server=False)
        return _decoded(found[0])

    def row_by_source(self, source: str) -> dict | None:
        found = self.store.rows(select(calls).where(calls.c.source == source))
        return _decoded(found[0]) if found else None

    def ticket_of(self, ticket_source: str) -> int | None:
        """The GLPI ticket of an alert or a run (`alert:12`, `run:ID`), once it exists."""
        found = self.row_by_source(ticket_source)
        return found["ticket_id"] if found else None

    def rows(self, status: tuple[str, ...] | None = None) -> list[dict]:
        query = select(calls).order_by(calls.c.id)
        if status:
            query = query.where(calls.c.status.in_(status))
        return [_decoded(r) for r in self.store.rows(query)]

    # ------------------------------------------------------------------ delivery
    def flush(self) -> tuple[int, int]:
        """Send every queued call whose ticket exists, oldest first, in one session; return (sent, pending).

        GLPI down or refusing the login stops the round (logged once); a call refused for a reason of its
        own counts an attempt, and is given up after glpi.max_attempts."""
        if not self.enabled:
            return 0, 0
        sent = 0
        pending = [r for r in self.rows(("queued", "sending")) if self._claimable(r)]
        if pending:
            try:
                with self.client() as glpi:
                    for row in pending:
                        try:
                            sent += bool(self._deliver(glpi, row["id"]))
                        except HelpdeskError as err:
                            if err.server:
                                raise
                SERVER.recovered(self.cfg.url)
            except HelpdeskError as err:
                SERVER.failed(self.cfg.url, "ticket calls wait in the store: %s", err)
        return sent, len(self.rows(("queued", "sending")))

    def deliver(self, call_id: int) -> dict:
        """Send one call now (and the opening of its ticket first); return its row, sent. A HelpdeskError
        leaves it queued for the next try (or says it was given up on)."""
        with self.client() as glpi:
            row = self._deliver(glpi, call_id) or self.row(call_id)
        if row["status"] != "sent":
            why = row["last_error"] or "its ticket is not open yet, or another part of the agent is sending it"
            raise HelpdeskError(f"helpdesk call {row['source']} is {row['status']}: {why}",
                                server=row["status"] != "failed")
        return row

    def _deliver(self, glpi: GlpiClient, call_id: int) -> dict | None:
        """Send one claimed call; None when it cannot go yet (its ticket not open, another part sending it)."""
        row = self.row(call_id)
        deadline = time.monotonic() + WAIT_S
        while row["status"] == "sending" and not self._claimable(row) and time.monotonic() < deadline:
            time.sleep(0.2)
            row = self.row(call_id)
        if row["status"] in ("sent", "failed"):
            return row
        ticket_id = row["ticket_id"]
        if row["kind"] != "open":
            parent = self.row_by_source(row["ticket_source"])
            if parent is None:
                err = HelpdeskError(f"helpdesk call {row['source']}: no ticket {row['ticket_source']} was opened "
                                    "nor linked", server=False)
                self._failed(row, err)
                raise err
            if parent["ticket_id"] is None:
                parent = self._deliver(glpi, parent["id"])
                if parent is None or parent["ticket_id"] is None:
                    return None
            ticket_id = parent["ticket_id"]
        retried = row["attempts"] > 0 or row["status"] == "sending"
        if not self._claim(row):
            return None
        try:
            item = (self._found(glpi, row, ticket_id) if retried else None) or self._send(glpi, row, ticket_id)
        except HelpdeskError as err:
            self._failed(row, err)
            raise
        done = {"status": "sent", "sent_at": self.clock().astimezone(UTC), "last_error": None,
                "attempts": row["attempts"] + 1, "ticket_id": item if row["kind"] == "open" else ticket_id}
        if row["kind"] != "open":
            done["item_id"] = item
        self._update(row["id"], **done)
        _LOGGER.info("glpi: %s %s on ticket %s", row["kind"], row["source"], done["ticket_id"])
        return self.row(call_id)

    def _send(self, glpi: GlpiClient, row: dict, ticket_id: int | None) -> int:
        p, tag = row["payload"], marker(row["source"])
        if row["kind"] == "open":
            return glpi.open_ticket(p["name"], f"{p['content']}\n\n{tag}", category=p.get("category"),
                                    kind=p.get("type") or INCIDENT)
        if row["kind"] == "followup":
            return glpi.followup(ticket_id, f"{p['content']}\n\n{tag}")
        if row["kind"] in ("solve", "close"):
            solution = glpi.solve(ticket_id, f"{p['content']}\n\n{tag}")
            if row["kind"] == "close":
                glpi.set_status(ticket_id, CLOSED)
            return solution
        if row["kind"] == "attach":
            return glpi.attach(ticket_id, Path(p["path"]), p.get("name"))
        raise HelpdeskError(f"helpdesk call {row['source']}: nothing to send for kind {row['kind']}", server=False)

    def _found(self, glpi: GlpiClient, row: dict, ticket_id: int | None) -> int | None:
        """The item an earlier try of this call created in GLPI, if its answer was lost (found by its marker)."""
        tag = marker(row["source"])
        if row["kind"] == "open":
            hits = [t for t in glpi.search([("content", "contains", tag)], ("id", "content"))
                    if tag in str(t.get("content") or "")]
            return int(hits[0]["id"]) if hits else None
        items = glpi.followups(ticket_id) if row["kind"] == "followup" else \
            glpi.solutions(ticket_id) if row["kind"] in ("solve", "close") else []
        hits = [i["id"] for i in items if tag in str(i.get("content") or "")]
        if hits and row["kind"] == "close":
            glpi.set_status(ticket_id, CLOSED)
        return hits[0] if hits else None

    def _claimable(self, row: dict) -> bool:
        """Queued, or 'sending' by a try that cannot still be running (its HTTP calls would have timed out)."""
        if row["status"] == "queued":
            return True
        lease = timedelta(seconds=self.cfg.timeout * 4 + 5)
        return row["status"] == "sending" and (row["sent_at"] is None or
                                               _aware(row["sent_at"]) + lease < self.clock().astimezone(UTC))

    def _claim(self, row: dict) -> bool:
        """Take the call (compare-and-set on what was seen): two senders never both send it. While
        'sending', `sent_at` holds when the claim was taken."""
        seen = calls.c.sent_at.is_(None) if row["sent_at"] is None else calls.c.sent_at == row["sent_at"]
        with self.store.transaction() as conn:
            done = conn.execute(update(calls).where(
                calls.c.id == row["id"], calls.c.status == row["status"], seen)
                .values(status="sending", sent_at=self.clock().astimezone(UTC)))
        return done.rowcount == 1

    def _failed(self, row: dict, err: HelpdeskError) -> None:
        attempts = row["attempts"] + 1
        given_up = not err.server and attempts >= self.cfg.max_attempts
        self._update(row["id"], attempts=attempts, last_error=str(err), status="failed" if given_up else "queued",
                     sent_at=None)
        if not err.server:
            _LOGGER.warning("glpi: call %s %s (attempt %d): %s", row["source"],
                            "given up" if given_up else "not sent", attempts, err)

    def _update(self, call_id: int, **values: Any) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(calls).where(calls.c.id == call_id).values(**values))


def _decoded(row: dict) -> dict:
    return {**row, "payload": json.loads(row["payload"] or "{}")}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
