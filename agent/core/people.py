"""The people of the office as data: who they are, which roles they hold, who stands in for whom.

The config's `people:` section (or the file it names) lists each person (login, name, e-mail, roles,
the OS user that is them on the agent's host), the entity's units with their heads, and deputies for
a role between two dates. The directory (LDAP) may add people and roles at login: `learn()` keeps
what it said. Whether someone holds a role is asked here and only here (`holds`, `holders`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from agent.core.secrets import SecretRef

ROLES = {
    "jefa": "Jefa de la OTI",
    "gg": "Gerencia General",
    "especialista_is": "Especialista en Infraestructura y Soporte",
    "especialista_bd": "Especialista en Base de Datos",
    "especialista_sd": "Especialista en Sistemas y Desarrollo",
    "especialista_sid": "Especialista en Seguridad de la Información",
    "coordinador": "Coordinador",
    "jefe_uuoo": "Jefe de la unidad orgánica",
    "administrador": "Administrador del agente",
}
# who may start runbooks, confirm physical steps and handle alerts unless a runbook or step says otherwise
OPERATORS = frozenset({"especialista_is", "especialista_bd", "especialista_sd", "especialista_sid", "coordinador",
                       "jefa"})
LOGIN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def _lower(value: str) -> str:
    return value.strip().lower()


Login = Annotated[str, AfterValidator(_lower), Field(pattern=LOGIN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Person(_Model):
    """One person: the login they authenticate with, and the roles the office gives them."""

    login: Login
    name: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    roles: list[str] = []
    os_user: str | None = Field(None, description="the account that is this person on the agent's host (the CLI "
                                "over the local socket)")
    disabled: bool = False


class Unit(_Model):
    """A unit of the entity (unidad orgánica): a restore it asks for is authorised by its head."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    head: Login


class Deputy(_Model):
    """Someone who holds a role in place of its holder between two dates (both included, office days)."""

    role: str
    person: Login
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    unit: str | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.end < self.start:
            raise ValueError(f"deputy {self.person} for {self.role}: 'to' ({self.end}) is before 'from' "
                             f"({self.start})")
        return self


class DirectorySection(_Model):
    """The office's directory (Active Directory or OpenLDAP): a password is checked by an LDAP bind, and
    the person's groups give roles. Either `user_dn` (bind directly as the user) or `search_base` with a
    service account (`bind_dn`, `bind_password`) that finds the user first."""

    url: str = Field(pattern=r"^ldaps?://", description="ldaps://host:636, or ldap://host:389 with start_tls")
    start_tls: bool = False
    ca_file: Path | None = Field(None, description="the CA of the directory's certificate (else the system's)")
    allow_plain: bool = Field(False, description="let ldap:// go without StartTLS: passwords in clear on the wire")
    user_dn: str | None = Field(None, description="e.g. uid={login},ou=people,dc=entidad,dc=gob,dc=pe")
    search_base: str | None = None
    search_filter: str = "(uid={login})"
    bind_dn: str | None = None
    bind_password: SecretRef | None = None
    group_base: str | None = Field(None, description="where groups are searched (member=<user dn>), when the "
                                   "user entry has no memberOf")
    group_roles: dict[str, str] = Field({}, description="group DN (or cn) -> role")
    name_attribute: str = "cn"
    email_attribute: str = "mail"
    timeout: float = Field(5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _how(self):
        if not self.user_dn and not self.search_base:
            raise ValueError("give user_dn (bind as the user) or search_base (find the user first)")
        if self.url.startswith("ldap://") and not (self.start_tls or self.allow_plain):
            raise ValueError("ldap:// without start_tls sends passwords in clear; use ldaps://, start_tls: true, "
                             "or allow_plain: true for a network the office trusts")
        if (self.bind_dn is None) != (self.bind_password is None):
            raise ValueError("bind_dn and bind_password go together")
        return self


class PeopleSection(_Model):
    """Who the people are and how they log in."""

    file: Path | None = Field(None, description="a YAML file with persons, units and deputies (relative to the "
                              "config); merged with the ones given here")
    persons: list[Person] = []
    units: list[Unit] = []
    deputies: list[Deputy] = []
    roles: dict[str, str] = Field({}, description="more roles the office uses: name -> Spanish title")
    directory: DirectorySection | None = None
    local_accounts: bool = Field(True, description="accept the passwords set with `oti-agent users passwd`")
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    link_hours: float = Field(72.0, gt=0, le=24 * 30, description="how long an approval link in a mail is valid")
    login_failures: int = Field(5, ge=1, description="failed logins from one address or for one login ...")
    login_window: float = Field(300.0, gt=0, description="... within this many seconds lock that login out")


@dataclass(frozen=True)
class Identity:
    """An authenticated person acting through a channel."""

    login: str
    name: str
    email: str | None
    roles: frozenset[str]
    source: Literal["directory", "local", "token", "os"]
    channel: Literal["web", "api", "cli", "email"] = "api"
    address: str = ""
    scopes: frozenset[str] | None = None     # a token's scopes; None: everything the person's roles allow

    def describe(self) -> str:
        """For the journal and the checklists' Responsable: the name and the login."""
        return f"{self.name} ({self.login})"


class People:
    """The registry: persons, units and deputies, with what the directory has said about people since."""

    def __init__(self, section: PeopleSection, extra: dict | None = None):
        extra = extra or {}
        self.section = section
        self.titles = {**ROLES, **section.roles}
        given = [*section.persons, *(Person.model_validate(x) for x in extra.get("persons", []))]
        self.logins_given = [p.login for p in given]          # a login twice is a problem of the config
        self._persons = {p.login: p for p in given}
        self.units = {u.id: u for u in [*section.units, *(Unit.model_validate(x) for x in extra.get("units", []))]}
        self.deputies = [*section.deputies, *(Deputy.model_validate(x) for x in extra.get("deputies", []))]
        self._learned: dict[str, Person] = {}

    def __len__(self) -> int:
        return len(self._persons)

    def persons(self) -> list[Person]:
        """Everyone known: the registry's, then the directory's."""
        return [*self._persons.values(), *(p for k, p in self._learned.items() if k not in self._persons)]

    def person(self, login: str) -> Person | None:
        """The person with this login (the registry's entry wins over the directory's)."""
        login = login.strip().lower()
        return self._persons.get(login) or self._learned.get(login)

    def by_os_user(self, user: str) -> Person | None:
        """The person an account on the agent's host is (`os_user`, else a login equal to it)."""
        for p in self._persons.values():
            if p.os_user == user:
                return p
        same = self._persons.get(user)
        return same if same is not None and same.os_user is None else None   # a named os_user is the only one

    def learn(self, login: str, name: str, email: str | None, roles: set[str]) -> Person:
        """Remember what the directory said of a person (at their login, or from a search)."""
        known = self._persons.get(login)
        person = Person(login=login, name=known.name if known else name, email=(known.email if known else None)
                        or email, roles=sorted({*(known.roles if known else []), *roles}),
                        os_user=known.os_user if known else None, disabled=known.disabled if known else False)
        self._learned[login] = person
        return person

    def roles_of(self, login: str, at: datetime, also: frozenset[str] = frozenset()) -> dict[str, str]:
        """Every role a person holds at `at` -> how ('titular', 'encargado', 'jefe de <unit>')."""
        person = self.person(login)
        held: dict[str, str] = {r: "titular" for r in also}
        if person is None or person.disabled:
            return held
        held.update({r: "titular" for r in person.roles})
        if any(u.head == person.login for u in self.units.values()):
            held.setdefault("jefe_uuoo", "titular")
        day = at.date()
        for d in self.deputies:
            if d.person == person.login and d.start <= day <= d.end:
                held.setdefault(d.role, "encargado")
        return held

    def holds(self, login: str, role: str, at: datetime, unit: str | None = None,
              also: frozenset[str] = frozenset()) -> str | None:
        """How `login` holds `role` (of `unit`, for jefe_uuoo) at `at`: 'titular' or 'encargado'; None if not."""
        person = self.person(login)
        if person is not None and person.disabled:
            return None
        day = at.date()
        if unit is not None and role == "jefe_uuoo":
            head = self.units.get(unit)
            if head and head.head == login:
                return "titular"
            return next(("encargado" for d in self.deputies if d.role == role and d.unit == unit
                         and d.person == login and d.start <= day <= d.end), None)
        return self.roles_of(login, at, also).get(role)

    def holders(self, role: str, at: datetime, unit: str | None = None) -> list[Person]:
        """Who holds `role` at `at` (deputies in force first: the titular may be away), active ones only."""
        day = at.date()
        deputies = [self.person(d.person) for d in self.deputies
                    if d.role == role and d.start <= day <= d.end and (unit is None or d.unit == unit)]
        if unit is not None and role == "jefe_uuoo":
            head = self.units.get(unit)
            titular = [self.person(head.head)] if head else []
        else:
            titular = [p for p in self.persons() if role in p.roles]
        found: dict[str, Person] = {}
        for p in [*deputies, *titular]:
            if p is not None and not p.disabled:
                found.setdefault(p.login, p)
        return list(found.values())

    def title(self, role: str) -> str:
        """The role's Spanish title, for mails, pages and the checklists' Responsable."""
        return self.titles.get(role, role)
