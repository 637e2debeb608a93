"""API tokens: a person's key for scripts and other systems, with scopes and an expiry. The only writer of
the `api_tokens` table.

A token is `oti_<id>_<secret>`: the id (12 hex characters) names it in listings and in `revoke`; only the
SHA-256 of the secret is stored, so the token is shown once, when it is made, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, insert, or_, select, update

from agent.errors import AgentError
from agent.store.schema import api_tokens

_LOGGER = logging.getLogger(__name__)
SCOPES = {
    "read": "leer el estado: equipos, alertas, copias, cintas, documentos / read state: devices, alerts, "
            "backups, tapes, documents",
    "operate": "operar: iniciar, confirmar y cancelar ejecuciones, reconocer alertas / operate: start, "
               "confirm and cancel runs, acknowledge alerts",
    "approve": "aprobar: decidir las aprobaciones pedidas / approve: decide the approvals asked",
    "admin": "administrar: todo lo anterior / administer: all of the above",
}
IMPLIES = {"admin": {"read", "operate", "approve", "admin"}, "operate": {"read", "operate"},
           "approve": {"read", "approve"}, "read": {"read"}}
MAX_LIFETIME = timedelta(days=365)
KEEP_ENDED = timedelta(days=90)        # an expired or revoked token stays listed this long, then goes
_TOKEN = re.compile(r"oti_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_TOUCH_EVERY = timedelta(minutes=1)     # last_used_at is written at most this often per token


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope the given ones grant (admin grants all; operate and approve grant read)."""
    return frozenset(s for given in scopes for s in IMPLIES.get(given, ()))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """The API tokens of one store."""

    def __init__(self, store, clock=None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def create(self, login: str, name: str, scopes: list[str], lifetime: timedelta) -> str:
        """Make a token for `login`; return it (the only time it is seen: keep it where the script reads
        it)."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if not scopes or unknown:
            raise AgentError(f"token scopes {', '.join(unknown) or '(none)'}: not known; give one or more of "
                             f"{', '.join(SCOPES)}")
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise AgentError(f"a token lives more than 0 and at most {MAX_LIFETIME.days} days, not "
                             f"{lifetime}")
        if not name.strip() or len(name) > 128:
            raise AgentError("a token needs a name saying what it is for (up to 128 characters)")
        token_id, secret, now = secrets.token_hex(6), secrets.token_urlsafe(32), self.clock().astimezone(UTC)
        with self.store.transaction() as conn:
            conn.execute(insert(api_tokens).values(
                id=token_id, login=login, name=name.strip(), secret_hash=_digest(secret),
                scopes=json.dumps(sorted(set(scopes))), created_at=now, expires_at=now + lifetime))
        _LOGGER.info("API token %s (%s) made for %s, scopes %s", token_id, name, login,
                     ",".join(sorted(scopes)))
        return f"oti_{token_id}_{secret}"

    def verify(self, token: str) -> tuple[str, frozenset[str]] | None:
        """(login, scopes) of a valid token; None for a malformed, unknown, expired or revoked one."""
        match = _TOKEN.fullmatch(token.strip())
        if match is None:
            return None
        token_id, secret = match.groups()
        found = self.store.rows(select(api_tokens).where(api_tokens.c.id == token_id))
        now = self.clock().astimezone(UTC)
        if not found:
            hmac.compare_digest(_digest(secret), "0" * 64)          # the same work as a known id
            return None
        row = found[0]
        if not hmac.compare_digest(_digest(secret), row["secret_hash"]):
            return None
        if row["revoked_at"] is not None or row["expires_at"] <= now:
            return None
        if row["last_used_at"] is None or now - row["last_used_at"] >= _TOUCH_EVERY:
            with self.store.transaction() as conn:
                conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))
        return row["login"], frozenset(json.loads(row["scopes"]))

    def revoke(self, token_id: str) -> dict:
        """Revoke a token by its id (what `users tokens` lists); return it."""
        now = self.clock().astimezone(UTC)
        with self.store.transaction() as conn:
            done = conn.execute(update(api_tokens).where(and_(api_tokens.c.id == token_id,
                                                              api_tokens.c.revoked_at.is_(None)))
                                .values(revoked_at=now))
        found = [t for t in self.list() if t["id"] == token_id]
        if not found:
            raise AgentError(f"no API token {token_id!r}; see `oti-agent users tokens`")
        if done.rowcount:
            _LOGGER.info("API token %s of %s revoked", token_id, found[0]["login"])
        return found[0]

    def list(self, login: str | None = None) -> list[dict]:
        """Tokens (of one login), newest first, scopes decoded, with a `state`; never a secret's hash."""
        cols = [c for c in api_tokens.c if c.name != "secret_hash"]
        q = select(*cols).order_by(api_tokens.c.created_at.desc())
        if login is not None:
            q = q.where(api_tokens.c.login == login)
        now = self.clock().astimezone(UTC)
        rows = self.store.rows(q)
        for r in rows:
            r["scopes"] = json.loads(r["scopes"])
            r["state"] = ("revoked" if r["revoked_at"] else "expired" if r["expires_at"] <= now else "active")
        return rows

    def prune(self) -> int:
        """Forget tokens that expired or were revoked more than KEEP_ENDED ago; return how many."""
        limit = self.clock().astimezone(UTC) - KEEP_ENDED
        with self.store.transaction() as conn:
            return conn.execute(delete(api_tokens).where(or_(api_tokens.c.expires_at < limit,
                                                             api_tokens.c.revoked_at < limit))).rowcount
