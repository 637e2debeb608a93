"""Who is asking: the one place that turns a password, an API token or the OS user of a local socket into an
Identity of the people registry. The only writer of the `login_failures` table.

A password is asked of the office's directory first, when the config has one; a directory that does not
know the login (or says the password is wrong) leaves it to the local accounts, if `people.local_accounts`.
A directory that cannot be asked at all also falls back to the local password (a datacenter shutdown stops
the directory's server too); without one, the person is told the directory is down (HTTP 503).

Failed logins are counted per login and per address over `people.login_window` seconds: past
`people.login_failures` of either, the next attempt is refused with LoginLocked until the oldest counted
failure leaves the window. An unknown login and a wrong password get the same answer.
"""

from __future__ import annotations

import logging
import math
import pwd
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, insert, select

from agent.core.people import Identity, People, Person
from agent.errors import AuthError, DirectoryUnavailable, LoginLocked
from agent.people.accounts import Accounts
from agent.people.tokens import Tokens
from agent.store.schema import login_failures

_LOGGER = logging.getLogger(__name__)
INCORRECT = "login o contraseña incorrectos"
TOKEN_REFUSED = "API token unknown, malformed, expired or revoked"


class Authenticator:
    """Passwords, tokens and local OS users, checked against the registry of one Settings and one store."""

    def __init__(self, settings, store, clock=None, directory=None):
        self.settings, self.store = settings, store
        self.people: People = settings.people
        self.section = settings.config.people
        self.clock = clock or (lambda: datetime.now(UTC))
        self.accounts = Accounts(store, self.clock)
        self.tokens = Tokens(store, self.clock)
        self._directory = directory              # given: tests of the branches; else built when first asked

    @property
    def directory(self):
        """The office's directory (agent.people.directory.Directory), None when the config has none."""
        if self._directory is None and self.section.directory is not None:
            from agent.people.directory import Directory

            self._directory = Directory(self.section.directory, self.settings.config.base_dir)
        return self._directory

    # ------------------------------------------------------------------ passwords
    def password(self, login: str, password: str, *, address: str, channel: str = "web") -> Identity:
        """The person whose login and password these are; AuthError (the same for an unknown login and a
        wrong password), LoginLocked after too many failures, DirectoryUnavailable."""
        login, address, now = login.strip().lower()[:64], address[:64], self._now()
        self._check_lock(login, address, now)
        try:
            person, source, also = self._credentials(login, password)
        except DirectoryUnavailable:
            if self.section.local_accounts:
                self._fail(login, address, now)          # a local password was tried: it counts
            raise
        except AuthError:
            self._fail(login, address, now)
            raise AuthError(INCORRECT) from None
        self._clear(login)
        return self._active(person, login, source, channel, address, also, now)

    def _credentials(self, login: str, password: str) -> tuple[Person | None, str, frozenset[str]]:
        """(person, source, the directory's roles) for a right password; AuthError for a wrong one."""
        directory = self.directory
        if directory is not None:
            try:
                entry = directory.authenticate(login, password)
            except DirectoryUnavailable:
                if self.section.local_accounts and self.accounts.verify(login, password):
                    _LOGGER.warning("directory unavailable: %s logged in with the local password", login)
                    return self.people.person(login), "local", frozenset()
                raise
            if entry is not None:
                return self._learned(login, entry), "directory", frozenset(entry.roles)
        if self.section.local_accounts and self.accounts.verify(login, password):
            return self.people.person(login), "local", frozenset()
        raise AuthError(INCORRECT)

    def _learned(self, login: str, entry) -> Person | None:
        """The registry's person, with what the directory says; None for a directory user the office gave
        no role (neither in the registry nor through a group): nobody here."""
        known = entry.login.strip().lower()
        if known not in self.people.logins_given and not entry.roles:
            _LOGGER.info("directory login of %s refused: no role in oti-agent", known)
            return None
        return self.people.learn(known, entry.name, entry.email, set(entry.roles))

    def _active(self, person: Person | None, login: str, source: str, channel: str, address: str,
                also: frozenset[str], now: datetime) -> Identity:
        if person is None:
            raise _nobody(login)
        if person.disabled:
            _LOGGER.info("login of %s refused: disabled in the people registry", person.login)
            raise AuthError(f"la cuenta de {person.login} está deshabilitada; pida a la OTI que la habilite")
        _LOGGER.info("%s logged in (%s, %s) from %s", person.login, source, channel, address)
        return self.identity(person, source, channel, address, also, at=now)

    # ------------------------------------------------------------------ tokens, OS users, sessions
    def token(self, token: str, *, address: str, channel: str = "api") -> Identity:
        """The person an API token is of, with the token's scopes; AuthError when it is not valid."""
        found = self.tokens.verify(token)
        if found is None:
            raise AuthError(TOKEN_REFUSED)
        login, scopes = found
        person = self.people.person(login)
        if person is None or person.disabled:
            raise AuthError(f"the API token's person {login} is no longer an active person of the registry")
        return self.identity(person, "token", channel, address[:64], scopes=scopes)

    def os_user(self, uid: int, *, channel: str = "cli") -> Identity:
        """The person an account of this host is (the CLI over the local socket)."""
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            raise AuthError(f"uid {uid} has no name on this host, so it is nobody of the people "
                            "registry") from None
        person = self.people.by_os_user(name)
        if person is None:
            raise AuthError(f"the OS user {name!r} is nobody of the people registry: add os_user: {name} to "
                            "the person in people (the config's people section or its people file)")
        if person.disabled:
            raise AuthError(f"{person.login} (OS user {name}) is disabled in the people registry")
        return self.identity(person, "os", channel, "local")

    def resume(self, login: str, name: str, email: str | None, source: str, directory_roles: frozenset[str],
               *, channel: str, address: str) -> Identity | None:
        """The identity of a session made earlier, with the roles held now; None when the person is gone or
        disabled since."""
        person = self.people.person(login)
        if person is None and source == "directory":          # the daemon restarted: learn them again
            person = self.people.learn(login, name, email, set(directory_roles))
        if person is None or person.disabled:
            return None
        return self.identity(person, source, channel, address, directory_roles)

    def identity(self, person: Person, source: str, channel: str, address: str,
                 also: frozenset[str] = frozenset(), scopes: frozenset[str] | None = None,
                 at: datetime | None = None) -> Identity:
        """An Identity of `person`, with every role they hold at `at` (deputies included) and `also`."""
        roles = frozenset(self.people.roles_of(person.login, at or self._now(), also))
        return Identity(login=person.login, name=person.name, email=person.email, roles=roles, source=source,
                        channel=channel, address=address, scopes=scopes)

    # ------------------------------------------------------------------ failed logins
    def _check_lock(self, login: str, address: str, now: datetime) -> None:
        window, limit = self.section.login_window, self.section.login_failures
        since = now - timedelta(seconds=window)
        for column, value in ((login_failures.c.login, login), (login_failures.c.address, address)):
            times = [r["at"] for r in self.store.rows(
                select(login_failures.c.at).where(and_(column == value, login_failures.c.at > since))
                .order_by(login_failures.c.at.desc()).limit(limit))]
            if len(times) >= limit:
                wait = max(1, math.ceil((times[-1] + timedelta(seconds=window) - now).total_seconds()))
                _LOGGER.warning("login locked for %s from %s: %d failures in %gs", self._who(login), address,
                                limit, window)
                raise LoginLocked(f"demasiados intentos fallidos; intente de nuevo en {wait} s",
                                  retry_after=wait)

    def _fail(self, login: str, address: str, now: datetime) -> None:
        _LOGGER.info("failed login for %s from %s", self._who(login), address)
        with self.store.transaction() as conn:
            conn.execute(insert(login_failures).values(login=login, address=address, at=now))
            conn.execute(delete(login_failures).where(
                login_failures.c.at < now - timedelta(seconds=self.section.login_window)))

    def _clear(self, login: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.login == login))

    def prune(self) -> int:
        """Forget failed logins past the window and long-ended tokens; return how many rows went."""
        limit = self._now() - timedelta(seconds=self.section.login_window)
        with self.store.transaction() as conn:
            gone = conn.execute(delete(login_failures).where(login_failures.c.at < limit)).rowcount
        return gone + self.tokens.prune()

    def _who(self, login: str) -> str:
        """A login for the log only when it is a person's: someone may have typed a password as login."""
        return login if self.people.person(login) is not None else "an unknown login"

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)


def _nobody(login: str) -> AuthError:
    """A right password of someone the office has not registered."""
    return AuthError(f"{login} no figura entre las personas de oti-agent; pida a la OTI que lo registre")
