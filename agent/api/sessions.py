"""Web sessions: the cookie a browser gets at login. The only writer of the `web_sessions` table.

The cookie's value is 32 random bytes; only its SHA-256 is stored, so a copy of the store opens no
session. Each session has a CSRF value that every unsafe request made with the cookie must echo
(header X-CSRF-Token or form field csrf_token). A session ends `people.session_hours` after login, at
logout, or when its person is disabled or leaves the registry.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select

from agent.core.people import Identity
from agent.store.schema import web_sessions

COOKIE = "oti_session"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    """The web sessions of one store; identities are rebuilt through the Authenticator at each request."""

    def __init__(self, store, auth, hours: float, clock=None):
        self.store, self.auth, self.hours = store, auth, hours
        self.clock = clock or (lambda: datetime.now(UTC))

    def create(self, identity: Identity, address: str) -> tuple[str, str]:
        """Open a session for a person who just logged in; return (cookie value, csrf value)."""
        value, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._now()
        kept = {"name": identity.name, "email": identity.email, "source": identity.source,
                "directory_roles": sorted(self._directory_roles(identity, now))}
        with self.store.transaction() as conn:
            conn.execute(insert(web_sessions).values(
                id_hash=_digest(value), login=identity.login, identity=json.dumps(kept), csrf=csrf,
                address=address[:64], created_at=now, expires_at=now + timedelta(hours=self.hours)))
        return value, csrf

    def _directory_roles(self, identity: Identity, now: datetime) -> frozenset[str]:
        """What the directory gave besides the registry: kept with the session, since the registry's own
        roles (deputies, above all) are asked again at each request."""
        people = self.auth.people
        if identity.source != "directory":
            return frozenset()
        if identity.login not in people.logins_given:        # known by the directory only: all of them
            return identity.roles
        return identity.roles - set(people.roles_of(identity.login, now))

    def get(self, value: str, address: str = "") -> tuple[Identity, str] | None:
        """(identity, csrf) of a live session; None for an unknown, expired or orphaned one."""
        if not value or len(value) > 128:
            return None
        found = self.store.rows(select(web_sessions).where(web_sessions.c.id_hash == _digest(value)))
        if not found or found[0]["expires_at"] <= self._now():
            return None
        row, kept = found[0], json.loads(found[0]["identity"])
        identity = self.auth.resume(row["login"], kept["name"], kept["email"], kept["source"],
                                    frozenset(kept.get("directory_roles", ())), channel="web",
                                    address=address[:64])
        if identity is None:                    # disabled, or gone from the registry, since the login
            self.delete(value)
            return None
        return identity, row["csrf"]

    def delete(self, value: str) -> None:
        """End a session (logout)."""
        with self.store.transaction() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _digest(value)))

    def prune(self) -> int:
        """Forget expired sessions; return how many."""
        with self.store.transaction() as conn:
            return conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= self._now())).rowcount

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)


def set_cookie(response, value: str, *, secure: bool, hours: float) -> None:
    """Give the browser its session cookie: HttpOnly, SameSite=Lax, Path=/, Secure over TLS."""
    response.set_cookie(COOKIE, value, max_age=int(hours * 3600), path="/", httponly=True, samesite="lax",
                        secure=secure)


def clear_cookie(response, *, secure: bool) -> None:
    """Take the session cookie back."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
