"""The mail outbox: every message the agent sends on its own is stored first, then delivered.

A message is a row before any SMTP conversation, so a server that is down or refuses the login
loses nothing: the row keeps its attempts and last error, and the next flush delivers it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from agent import mail
from agent.errors import ConfigError
from agent.store import Store
from agent.store.schema import outbox

_LOGGER = logging.getLogger(__name__)


class Outbox:
    """Queue and deliver mail through the store."""

    def __init__(self, store: Store, config, clock=None):
        self.store, self.config = store, config
        self.clock = clock or (lambda: datetime.now(UTC))

    def enqueue(self, to: list[str], subject: str, body: str, cc: list[str] | None = None,
                source: str | None = None, html: str | None = None, attachments: list[str] | None = None) -> int:
        """Store a message to send; return its id."""
        if not to:
            raise ConfigError(f"mail «{subject}»: no recipients")
        with self.store.engine.begin() as conn:
            return conn.execute(insert(outbox).values(
                to=json.dumps(to), cc=json.dumps(cc or []), subject=subject, body=body, source=source, html=html,
                attachments=json.dumps([str(a) for a in attachments or []]),
                created_at=self.clock().astimezone(UTC), attempts=0)).inserted_primary_key[0]

    def pending(self) -> list[dict]:
        return self._rows(outbox.c.sent_at.is_(None))

    def sent(self) -> list[dict]:
        return self._rows(outbox.c.sent_at.is_not(None))

    def flush(self) -> tuple[int, int]:
        """Try to deliver every pending message, oldest first; return (sent, still pending).

        The first failure that is the server's (down, refusing the login) stops the round: the
        rest would fail the same way, and each waits for the next flush."""
        sent = 0
        rows = self.pending()
        for i, row in enumerate(rows):
            try:
                message_id = mail.send_now(self.config.mail, self.config.base_dir, row["to"], row["subject"],
                                           row["body"], row["cc"], row["html"], row["attachments"])
            except mail.MailError as err:
                self._update(row["id"], attempts=row["attempts"] + 1, last_error=str(err))
                _LOGGER.warning("outbox: message %d «%s» not sent (attempt %d): %s", row["id"], row["subject"],
                                row["attempts"] + 1, err)
                return sent, len(rows) - i
            self._update(row["id"], attempts=row["attempts"] + 1, sent_at=self.clock().astimezone(UTC),
                         message_id=message_id, last_error=None)
            sent += 1
        return sent, 0

    def _update(self, row_id: int, **values) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))

    def _rows(self, where) -> list[dict]:
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(outbox).where(where).order_by(outbox.c.id))]
        for r in rows:
            r["to"], r["cc"] = json.loads(r["to"]), json.loads(r["cc"] or "[]")
            r["attachments"] = json.loads(r["attachments"] or "[]")
        return rows
