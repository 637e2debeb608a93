"""Local accounts: a password per login, hashed with Argon2id (argon2-cffi's PasswordHasher, its parameters
kept in the hash). The only writer of the `accounts` table. `oti-agent users passwd` sets them; the
Authenticator asks `verify` when the directory does not know the person (or there is none)."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update

from agent.core.people import LOGIN
from agent.errors import AgentError
from agent.store.schema import accounts

_LOGGER = logging.getLogger(__name__)
MIN_LENGTH = 10
MAX_LENGTH = 1024          # more is no password anyone types; it only makes hashing slower


class Accounts:
    """The local passwords of one store."""

    def __init__(self, store, clock=None, hasher: PasswordHasher | None = None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self.hasher = hasher or PasswordHasher()          # Argon2id, RFC 9106's low-memory profile
        self._dummy: str | None = None

    def set_password(self, login: str, password: str) -> None:
        """Set (or replace) the password of `login`; a short one is refused, saying how long it must be."""
        login = _login(login)
        if len(password) < MIN_LENGTH:
            raise AgentError(f"password for {login} refused: it needs at least {MIN_LENGTH} characters")
        if len(password) > MAX_LENGTH:
            raise AgentError(f"password for {login} refused: at most {MAX_LENGTH} characters")
        hashed, now = self.hasher.hash(password), self.clock().astimezone(UTC)
        with self.store.transaction() as conn:
            known = conn.execute(select(accounts.c.login).where(accounts.c.login == login)).first()
            if known:
                conn.execute(update(accounts).where(accounts.c.login == login).values(password_hash=hashed,
                                                                                      changed_at=now))
            else:
                conn.execute(insert(accounts).values(login=login, password_hash=hashed, disabled=False,
                                                     created_at=now, changed_at=now))
        _LOGGER.info("local password %s for %s", "changed" if known else "set", login)

    def verify(self, login: str, password: str) -> bool:
        """Whether `password` is the login's; a login without an account (or a disabled one) costs the same
        hashing work, so the time taken does not tell whether it exists."""
        row = self._row(login)
        if row is None or row["disabled"] or len(password) > MAX_LENGTH:
            self._burn(password)
            return False
        try:
            self.hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            return False
        if self.hasher.check_needs_rehash(row["password_hash"]):     # the parameters were raised since
            with self.store.transaction() as conn:
                conn.execute(update(accounts).where(accounts.c.login == row["login"]).values(
                    password_hash=self.hasher.hash(password)))
            _LOGGER.info("local password of %s rehashed with the current parameters", row["login"])
        return True

    def disable(self, login: str) -> None:
        """Refuse the login's local password until enabled again (the hash is kept)."""
        self._set_disabled(login, True)

    def enable(self, login: str) -> None:
        """Accept the login's local password again."""
        self._set_disabled(login, False)

    def exists(self, login: str) -> bool:
        """Whether `login` has a local password."""
        return self._row(login) is not None

    def list(self) -> list[dict]:
        """Every local account (login, disabled, created_at, changed_at), never its hash."""
        return self.store.rows(select(accounts.c.login, accounts.c.disabled, accounts.c.created_at,
                                      accounts.c.changed_at).order_by(accounts.c.login))

    def _set_disabled(self, login: str, disabled: bool) -> None:
        login = _login(login)
        with self.store.transaction() as conn:
            done = conn.execute(update(accounts).where(accounts.c.login == login).values(disabled=disabled))
        if not done.rowcount:
            raise AgentError(f"{login} has no local password; set one with `oti-agent users passwd {login}`")
        _LOGGER.info("local account %s %s", login, "disabled" if disabled else "enabled")

    def _row(self, login: str) -> dict | None:
        login = login.strip().lower()
        if not re.fullmatch(LOGIN, login):
            return None
        found = self.store.rows(select(accounts).where(accounts.c.login == login))
        return found[0] if found else None

    def _burn(self, password: str) -> None:
        """Verify against a hash nobody's password matches: the same work as a real check."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        try:
            self.hasher.verify(self._dummy, password[:MAX_LENGTH])
        except VerificationError:
            pass


def _login(login: str) -> str:
    login = login.strip().lower()
    if not re.fullmatch(LOGIN, login):
        raise AgentError(f"{login!r} is not a login (lower-case letters, digits, '.', '_', '-'; up to 64)")
    return login
