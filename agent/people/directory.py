"""The office's directory (Active Directory or OpenLDAP) as a source of passwords and roles.

A password is checked the only way a directory allows: a simple bind as the person, over TLS that
checks the server's certificate (ldaps://, or ldap:// with StartTLS; clear text only when the office
said `allow_plain`). The person's DN is either the `user_dn` template or found first by a search (as
the service account, else anonymously). Roles come from the groups the person is in: memberOf on the
entry (AD, OpenLDAP's memberof overlay), else a search of `group_base` for groups naming them as
member; `group_roles` maps a group (its DN or its cn) to a role.

Three answers, kept apart because the caller acts differently on each: an entry (the password is
right), None (the directory said no: wrong password, unknown login, a login that cannot be one; never
which), DirectoryUnavailable (the directory could not be asked: not the person's fault). The calls
block: run them in a thread (asyncio.to_thread). ldap3 stays inside this module.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ldap3 import ANONYMOUS, BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from agent.core.people import LOGIN, DirectorySection
from agent.core.secrets import REDACTED, library_text, resolve
from agent.errors import ConfigError, DirectoryUnavailable

_INVALID_CREDENTIALS = 49
_FOUND = (0, 32)                 # success, noSuchObject (a base the reader may not see: nothing there)
_GROUPS = "(|(objectClass=groupOfNames)(objectClass=group))"      # OpenLDAP's, AD's
_LOGIN_RE = re.compile(LOGIN)
_IN_FILTER = re.compile(r"\(\s*([A-Za-z][\w-]*)\s*=\s*\{login\}\s*\)")
_IN_DN = re.compile(r"^\s*([A-Za-z][\w-]*)\s*=\s*\{login\}")
_TUPLE = re.compile(r"""\(\s*(['"])(.*)\1,\s*\)""", re.S)


@dataclass(frozen=True)
class DirectoryEntry:
    """What the directory says of a person: enough to build an Identity and to learn them."""

    login: str
    dn: str
    name: str
    email: str | None
    roles: frozenset[str]


class Directory:
    """A client of one directory: `authenticate` a person, list the `holders` of a role."""

    def __init__(self, section: DirectorySection, base_dir: Path):
        self.section = section
        self.base_dir = base_dir
        url = section.url.lower()
        if url.startswith("ldap://") and not (section.start_tls or section.allow_plain):
            raise ConfigError("people.directory.url: ldap:// without start_tls sends passwords in clear; use "
                              "ldaps://, start_tls: true, or allow_plain: true")
        self._server = Server(section.url, use_ssl=url.startswith("ldaps://"), tls=self._tls(),
                              connect_timeout=section.timeout, get_info=NONE)
        self._dn_roles = {_norm_dn(k): v for k, v in section.group_roles.items() if "=" in k}
        self._cn_roles = {k.strip().lower(): v for k, v in section.group_roles.items() if "=" not in k}
        self._login_attribute = _login_attribute(section)
        self._receive_timeout = max(1, math.ceil(section.timeout))   # ldap3 packs it as whole seconds

    def _tls(self) -> Tls:
        """Certificate checked against ca_file (relative to the config), else the system's CAs."""
        ca = self.section.ca_file
        if ca is not None and not ca.is_absolute():
            ca = self.base_dir / ca
        if ca is not None and not ca.is_file():
            raise ConfigError(f"people.directory.ca_file: {ca} does not exist; give the file of the CA that "
                              "signed the directory's certificate")
        self._ca = ca
        return Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca) if ca else None)

    def authenticate(self, login: str, password: str) -> DirectoryEntry | None:
        """The person's entry when the directory accepts the password; None when it does not, for an
        unknown login alike. An empty password is never tried: the directory would take it as an
        anonymous bind, and succeed. Raises DirectoryUnavailable when the directory cannot be asked."""
        login = login.strip().lower() if isinstance(login, str) else ""
        if not password or not _LOGIN_RE.fullmatch(login):
            return None
        if self.section.user_dn:
            return self._direct(login, password)
        return self._searched(login, password)

    def holders(self, role: str) -> list[DirectoryEntry]:
        """The members of the groups mapped to `role`, to mail them before they ever log in. Needs a
        service account that may read the groups and people. Raises DirectoryUnavailable."""
        if not self.section.bind_dn:
            raise ConfigError("people.directory: listing who holds a role needs a service account; set "
                              "bind_dn and bind_password")
        found: dict[str, DirectoryEntry] = {}
        with self._reader() as conn:
            for dn in self._members(conn, role):
                entry = self._member(conn, dn)
                if entry is not None:
                    found.setdefault(entry.login, entry)
        return list(found.values())

    def _member(self, conn: Connection, dn: str) -> DirectoryEntry | None:
        """A group member's entry; None for one that is no person with a login (a nested group, a gone DN)."""
        for member_dn, attrs in self._search(conn, dn, "(objectClass=*)", BASE, self._attributes()):
            login = (_first(attrs.get(self._login_attribute)) or "").strip().lower()
            if _LOGIN_RE.fullmatch(login):
                return self._entry(conn, login, member_dn, attrs)
        return None

    # -- authentication -------------------------------------------------------------------------------

    def _direct(self, login: str, password: str) -> DirectoryEntry | None:
        """Bind as the user_dn template says, then read the entry as the person."""
        dn = self.section.user_dn.replace("{login}", escape_rdn(login))
        conn = self._bind(dn, password)
        if conn is None:
            return None
        try:
            read = self._search(conn, dn, "(objectClass=*)", BASE, self._attributes())
            return self._entry(conn, login, dn, read[0][1] if read else {})
        finally:
            _close(conn)

    def _searched(self, login: str, password: str) -> DirectoryEntry | None:
        """Find the person's DN (service account, else anonymous), then bind as them to check the password."""
        query = self.section.search_filter.replace("{login}", escape_filter_chars(login))
        with self._reader() as conn:
            found = self._search(conn, self.section.search_base, query, SUBTREE, self._attributes())
            if not found:
                return None
            if len(found) > 1:
                raise DirectoryUnavailable(f"directory {self.section.url}: the search filter matched "
                                           f"{len(found)} entries for one login; make "
                                           "people.directory.search_filter match one person")
            dn, attrs = found[0]
            person = self._bind(dn, password)
            if person is None:
                return None
            _close(person)
            return self._entry(conn, login, dn, attrs)

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        """A connection bound as the service account (or anonymously, without one), closed after use."""
        dn = self.section.bind_dn
        secret = None
        if self.section.bind_password is not None:
            secret = resolve(self.section.bind_password, base_dir=self.base_dir).get_secret_value()
        conn = self._bind(dn, secret)
        if conn is None:
            raise DirectoryUnavailable(f"directory {self.section.url}: the service account {dn} was "
                                       "refused (invalid credentials); check people.directory.bind_dn and "
                                       "bind_password")
        try:
            yield conn
        finally:
            _close(conn)

    def _bind(self, dn: str | None, password: str | None) -> Connection | None:
        """An open connection bound as `dn` (anonymous for None), or None when the directory says the
        credentials are wrong; raises DirectoryUnavailable for anything else."""
        conn = Connection(self._server, user=dn, password=password,
                          authentication=SIMPLE if dn else ANONYMOUS, read_only=True,
                          receive_timeout=self._receive_timeout, raise_exceptions=False, auto_referrals=False)
        action = "connection"
        try:
            conn.open()
            if self.section.start_tls and not self._server.ssl:
                conn.start_tls()
            action = f"bind as {dn or 'anonymous'}"
            if conn.bind():
                return conn
        except LDAPException as err:
            _close(conn)
            raise self._unavailable(action, err, password) from err
        result = dict(conn.result or {})
        _close(conn)
        if result.get("result") == _INVALID_CREDENTIALS:
            return None
        raise DirectoryUnavailable(f"directory {self.section.url}: bind as {dn or 'anonymous'} failed: "
                                   f"{_said(result, password)}; check the directory's policy for this "
                                   "account")

    # -- reading --------------------------------------------------------------------------------------

    def _attributes(self) -> list[str]:
        names = [self._login_attribute, self.section.name_attribute, self.section.email_attribute, "memberOf"]
        return list(dict.fromkeys(names))

    def _search(self, conn: Connection, base: str, query: str, scope, attributes: list[str]):
        """[(dn, attributes)] of the entries found; DirectoryUnavailable when the search itself fails."""
        try:
            conn.search(base, query, search_scope=scope, attributes=attributes,
                        time_limit=max(1, int(self.section.timeout)))
        except LDAPException as err:
            raise self._unavailable(f"search under {base}", err) from err
        result = conn.result or {}
        if result.get("result") not in _FOUND:
            raise DirectoryUnavailable(f"directory {self.section.url}: search under {base} failed: "
                                       f"{_said(result)}; check the account's read rights there")
        return [(r["dn"], r.get("attributes") or {}) for r in conn.response or []
                if r.get("type") == "searchResEntry"]

    def _entry(self, conn: Connection, login: str, dn: str, attrs) -> DirectoryEntry:
        """The entry with its roles: from memberOf, else from a search of group_base."""
        groups = _values(attrs.get("memberOf"))
        if not groups and self.section.group_base:
            query = f"(&{_GROUPS}(member={escape_filter_chars(dn)}))"
            groups = [g for g, _ in self._search(conn, self.section.group_base, query, SUBTREE, ["cn"])]
        name = _first(attrs.get(self.section.name_attribute)) or login
        email = _first(attrs.get(self.section.email_attribute)) or None
        return DirectoryEntry(login=login, dn=dn, name=name, email=email,
                              roles=frozenset(r for g in groups if (r := self._role(g))))

    def _role(self, group_dn: str) -> str | None:
        """The role a group gives: by its full DN (any case), else by its cn."""
        role = self._dn_roles.get(_norm_dn(group_dn))
        return role if role is not None else self._cn_roles.get(_cn(group_dn) or "")

    def _members(self, conn: Connection, role: str) -> list[str]:
        """The member DNs of every group mapped to `role`, in the order the config lists them."""
        members: list[str] = []
        for key, mapped in self.section.group_roles.items():
            if mapped != role:
                continue
            if "=" in key:
                groups = self._search(conn, key, "(objectClass=*)", BASE, ["member"])
            elif self.section.group_base:
                query = f"(&{_GROUPS}(cn={escape_filter_chars(key)}))"
                groups = self._search(conn, self.section.group_base, query, SUBTREE, ["member"])
            else:
                raise ConfigError(f"people.directory.group_roles names the group {key!r} by its cn: set "
                                  "group_base so it can be found, or name it by its DN")
            members += [m for _, attrs in groups for m in _values(attrs.get("member"))]
        return list(dict.fromkeys(members))

    def _unavailable(self, action: str, err: BaseException, secret: str | None = None
                     ) -> DirectoryUnavailable:
        """The library's failure in the office's words: what failed, where, and what to check."""
        text = library_text(_words(err))
        if secret:
            text = text.replace(secret, REDACTED)
        hint = self._hint(text)
        return DirectoryUnavailable(f"directory {self.section.url}: {action} failed: {text}; {hint}")

    def _hint(self, text: str) -> str:
        """What to check, from the library's words (a timeout first: a TLS handshake can time out too)."""
        low = text.lower()
        if "timed out" in low or "timeout" in low:
            return (f"no answer within {self.section.timeout:g}s: check the network path to the directory "
                    "(or people.directory.timeout)")
        if "certificate" in low:
            trusted = f"the CA in ca_file {self._ca}" if self._ca else "the system's CAs"
            return (f"the directory's TLS certificate was not accepted by {trusted}: check "
                    "people.directory.ca_file and that the URL's host is named in the certificate")
        if "starttls" in low:
            return "the directory refused StartTLS: give it a certificate, or use its ldaps:// port"
        if "ssl" in low or "tls" in low:
            return ("the TLS handshake failed: check that the URL's port speaks what its scheme says "
                    "(ldaps:// usually 636, ldap:// with start_tls usually 389)")
        return "check people.directory.url and that the directory is up"


def _login_attribute(section: DirectorySection) -> str:
    """The attribute that holds the login: the user_dn's first RDN, else the one the filter matches."""
    found = _IN_DN.match(section.user_dn) if section.user_dn else _IN_FILTER.search(section.search_filter)
    return found.group(1) if found else "uid"


def _said(result: dict, secret: str | None = None) -> str:
    """The directory's own words about a refused operation (result code, description, message)."""
    text = library_text(f"{result.get('description', 'error')} ({result.get('result')}) "
                        f"{result.get('message') or ''}".strip())
    return text.replace(secret, REDACTED) if secret else text


def _words(err: BaseException) -> str:
    """ldap3's message without the tuple reprs it wraps it in, once or twice."""
    text = str(err)
    for _ in range(3):
        wrapped = _TUPLE.fullmatch(text)
        if wrapped is None:
            break
        text = wrapped.group(2)
    return text


def _values(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _first(value) -> str | None:
    values = _values(value)
    return values[0] if values else None


def _norm_dn(dn: str) -> str:
    """A DN for comparison: attribute types and values in lower case, no spaces around separators."""
    try:
        return ",".join(f"{a.strip().lower()}={v.strip().lower()}" for a, v, _ in parse_dn(dn))
    except LDAPException:
        return dn.strip().lower()


def _cn(dn: str) -> str | None:
    """The group's cn, when its DN starts with one."""
    try:
        attr, value, _ = parse_dn(dn)[0]
    except (LDAPException, IndexError):
        return None
    return value.strip().lower() if attr.strip().lower() == "cn" else None


def _close(conn: Connection) -> None:
    with suppress(Exception):       # a socket the directory already dropped: nothing left to close
        conn.unbind()
