"""The outbox: the only way a message leaves the agent. Every message is stored first, then delivered.

A message is a row before any SMTP conversation, so a server that is down or refuses the login
loses nothing: the row keeps its attempts and last error, and the next flush delivers it. Alerts,
documents, runbook notices and custody mails all go this way. A message may carry a `source` key
(`run:ID:step:target`, `alert:12`): queuing it again with `unique=True` returns the one already
queued, so a retried or resumed step never mails twice, and its delivery can be asked for.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from functools import cache

import psutil
from sqlalchemy import insert, update

from agent.errors import ConfigError, MailError
from agent.log import Episodes
from agent.notify import mail
from agent.store import Store, queries
from agent.store.schema import outbox

_LOGGER = logging.getLogger(__name__)
LEASE_S = 600.0              # a claim of a process on another host (whose life we cannot see) lapses after this
SENDING_WAIT_S = 30.0        # how long a caller delivering one message waits while another part sends it
SERVER = Episodes(_LOGGER, "outbox")          # the SMTP server down or refusing: logged once, until it works


class Outbox:
    """Queue and deliver mail through the store."""

    def __init__(self, store: Store, config, clock=None):
        self.store, self.config = store, config
        self.clock = clock or (lambda: datetime.now(UTC))

    def enqueue(self, to: list[str], subject: str, body: str, cc: list[str] | None = None,
                source: str | None = None, html: str | None = None, attachments: list[str] | None = None,
                unique: bool = False) -> int:
        """Store a message to send; return its id (with `unique`, the id of the one already queued for `source`)."""
        if not to:
            raise ConfigError(f"mail «{subject}»: no recipients")
        if unique and source:
            found = queries.outbox_messages(self.store, status=("queued", "sending", "sent"), source=source)
            if found:
                return found[-1]["id"]
        with self.store.transaction() as conn:
            return conn.execute(insert(outbox).values(
                to=json.dumps(to), cc=json.dumps(cc or []), subject=subject, body=body, source=source, html=html,
                attachments=json.dumps([str(a) for a in attachments or []]),
                created_at=self.clock().astimezone(UTC), attempts=0, status="queued")).inserted_primary_key[0]

    def pending(self) -> list[dict]:
        """Messages waiting to be delivered, and any whose sending was cut off: its process died (kill -9 of
        the daemon mid-send) or, on another host, its claim lapsed."""
        return [m for m in queries.outbox_messages(self.store, status=("queued", "sending"))
                if m["status"] == "queued" or self._abandoned(m)]

    def _abandoned(self, row: dict) -> bool:
        """A 'sending' row nobody is sending any more."""
        lapsed = row["next_at"] is not None and _aware(row["next_at"]) < self.clock().astimezone(UTC)
        return lapsed or _dead(row.get("claimed_by"))

    def sent(self) -> list[dict]:
        """Messages delivered."""
        return queries.outbox_messages(self.store, status=("sent",))

    def message(self, message_id: int) -> dict:
        """One message, whatever became of it."""
        found = queries.outbox_messages(self.store, status=None, ids=[message_id])
        if not found:
            raise ConfigError(f"no message {message_id} in the outbox")
        return found[0]

    def flush(self) -> tuple[int, int]:
        """Try to deliver every pending message whose backoff is over, oldest first; return (sent, still pending).

        A failure that is the server's (down, refusing the login) stops the round: the rest would fail
        the same way, and each waits for the next flush. A message that fails for a reason of its own
        (an attachment gone, a mailbox refused) waits its backoff, then is marked failed; the others go."""
        sent, now = 0, self.clock().astimezone(UTC)
        for row in self.pending():
            if row["status"] == "queued" and row["next_at"] is not None and _aware(row["next_at"]) > now:
                continue
            try:
                self._deliver(row)
            except MailError as err:
                if err.server:
                    SERVER.failed(self._server(), "messages wait in the store: %s", err)
                    break
                continue
            SERVER.recovered(self._server())
            sent += 1
        return sent, len(self.pending())

    def _server(self) -> str:
        return f"smtp {self.config.mail.host}:{self.config.mail.port}"

    def failed(self) -> list[dict]:
        """Messages given up on, with the reason."""
        return queries.outbox_messages(self.store, status=("failed",))

    def deliver(self, message_id: int) -> str:
        """Deliver one message now (a runbook notice, a custody mail); return its Message-ID.

        Already sent: its Message-ID, nothing is sent again. Raise MailError when it cannot go; it stays queued."""
        row = self.message(message_id)
        deadline = time.monotonic() + SENDING_WAIT_S
        while row["status"] == "sending" and not self._abandoned(row) and time.monotonic() < deadline:
            time.sleep(0.2)                                   # the tick's flush has it right now
            row = self.message(message_id)
        if row["status"] == "sending" and self._abandoned(row):
            row = dict(row, status="queued")                 # _claim takes it over from the dead claim
        if row["status"] == "sent":
            return row["message_id"]
        if row["status"] != "queued":
            raise MailError(f"message {message_id} is {row['status']}: {row['last_error']}", server=False)
        return self._deliver(row)

    def send(self, to: list[str], subject: str, body: str, *, source: str, cc: list[str] | None = None) -> str:
        """Queue a message under `source` (once, however often asked) and deliver it now; return its
        Message-ID. A MailError leaves it queued: the next flush, or the next call, delivers it."""
        return self.deliver(self.enqueue(to, subject, body, cc, source=source, unique=True))

    def delivered(self, source: str) -> bool:
        """Whether the message queued under `source` went out (a resumed step asks before sending again)."""
        return any(m["status"] == "sent" for m in queries.outbox_messages(self.store, status=None, source=source))

    def withdraw(self, message_id: int, reason: str) -> None:
        """Take a message that must not go any more out of the queue (the record it announced was refused)."""
        self._update(message_id, status="withdrawn", last_error=f"retirado: {reason}")

    def _deliver(self, row: dict) -> str:
        """Send one message, claimed first: two flushes at once (the daemon's tick and a step sending its
        notice) never send it twice. A claim not released (the agent died mid-send) lapses after LEASE_S."""
        if not self._claim(row["id"]):
            found = self.message(row["id"])
            if found["status"] == "sent":
                return found["message_id"]
            raise MailError(f"message {row['id']} is being sent by another part of the agent", server=False)
        cfg = self.config
        try:
            message_id = mail.send_now(cfg.mail, cfg.base_dir, row["to"], row["subject"], row["body"], row["cc"],
                                       row["html"], row["attachments"])
        except MailError as err:
            self._failed(row, err)
            raise
        self._update(row["id"], attempts=row["attempts"] + 1, sent_at=self.clock().astimezone(UTC),
                     message_id=message_id, last_error=None, status="sent")
        return message_id

    def _claim(self, row_id: int) -> bool:
        """Take the message for this process: queued, or left 'sending' by a claim that lapsed or whose
        process is dead (compare-and-set on the claim seen, so two takers never both win)."""
        now = self.clock().astimezone(UTC)
        row = self.message(row_id)
        if row["status"] == "sending" and not self._abandoned(row):
            return False
        if row["status"] not in ("queued", "sending"):
            return False
        seen = outbox.c.claimed_by.is_(None) if row.get("claimed_by") is None else \
            outbox.c.claimed_by == row["claimed_by"]
        with self.store.transaction() as conn:
            done = conn.execute(update(outbox).where(
                outbox.c.id == row_id, outbox.c.status == row["status"], seen)
                .values(status="sending", next_at=now + timedelta(seconds=LEASE_S), claimed_by=_owner()))
        return done.rowcount == 1

    def _failed(self, row: dict, err: MailError) -> None:
        """Count the attempt; a message's own failure waits its backoff, then is given up on."""
        attempts, mail_cfg = row["attempts"] + 1, self.config.mail
        values: dict = {"attempts": attempts, "last_error": str(err), "status": "queued", "next_at": None}
        if not err.server:
            if attempts >= mail_cfg.max_attempts:
                values["status"] = "failed"
            else:
                wait = min(mail_cfg.retry_after * 2 ** (attempts - 1), 3600.0)
                values["next_at"] = self.clock().astimezone(UTC) + timedelta(seconds=wait)
        self._update(row["id"], **values)
        if not err.server:            # the server's own failures are one episode (SERVER), not one line a message
            _LOGGER.warning("outbox: message %d «%s» %s (attempt %d): %s", row["id"], row["subject"],
                            "given up" if values.get("status") == "failed" else "not sent", attempts, err)

    def _update(self, row_id: int, **values) -> None:
        with self.store.transaction() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@cache
def _owner() -> str:
    """This process, as a claim names it: host, pid and start time (a pid is reused; with its start, not)."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.0f}"


def _dead(owner: str | None) -> bool:
    """Whether the process a claim names is gone: on this host, its pid is free or another process's now.
    A claim of another host's process is never judged dead here (its lease decides)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        process = psutil.Process(int(pid))
        return started not in ("", "0") and f"{process.create_time():.0f}" != started
    except psutil.NoSuchProcess:
        return True
