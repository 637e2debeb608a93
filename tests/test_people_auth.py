"""People acting as themselves: local passwords (Argon2id), API tokens, the Authenticator's rules (lockout,
the directory's branches, deputies, OS users), authorisation by role and scope, and `oti-agent users`."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer import Typer
from typer.testing import CliRunner

from agent.cli.users import register
from agent.core.people import Identity
from agent.core.settings import load_all
from agent.errors import AgentError, AuthError, DirectoryUnavailable, Forbidden, LoginLocked
from agent.people import authz
from agent.people.accounts import Accounts
from agent.people.auth import INCORRECT, Authenticator
from agent.people.tokens import MAX_LIFETIME, Tokens
from agent.store import Store
from agent.store.schema import accounts, api_tokens

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
TOKEN = re.compile(r"^oti_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")
ANA_PW = "ana-clave-segura-1"
LUIS_PW = "luis-clave-segura-2"


def people_site(site, os_user: str | None = "root", **people):
    """A site with a UPS and the office's people: Ana (especialista IS, the host's `os_user`), María (jefa),
    Luis (no role of his own; deputy IS the day of T0), Pedro (disabled). Returns the config path."""
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), 161)
    site.extra["people"] = {
        "persons": [
            {"login": "ana", "name": "Ana Quispe", "email": "ana@entidad.example",
             "roles": ["especialista_is"], **({"os_user": os_user} if os_user else {})},
            {"login": "maria", "name": "María Torres", "roles": ["jefa"]},
            {"login": "luis", "name": "Luis Rojas"},
            {"login": "pedro", "name": "Pedro Díaz", "roles": ["especialista_bd"], "disabled": True},
        ],
        "deputies": [{"role": "especialista_is", "person": "luis", "from": "2026-11-26", "to": "2026-11-27",
                      "reason": "vacaciones de Ana"}],
        **people,
    }
    return site.write()


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def authenticator(config, clock, directory=None):
    settings = load_all(config)
    store = Store.for_config(settings.config)
    auth = Authenticator(settings, store, clock=clock, directory=directory)
    auth.accounts.set_password("ana", ANA_PW)
    auth.accounts.set_password("luis", LUIS_PW)
    auth.accounts.set_password("pedro", "pedro-clave-segura-3")
    return auth


@pytest.fixture
def auth(site):
    return authenticator(people_site(site), Clock())


# ---------------------------------------------------------------------- local accounts
def test_local_passwords_are_argon2id_refused_when_short_and_never_listed(auth):
    acc = auth.accounts
    with pytest.raises(AgentError, match="at least 10 characters"):
        acc.set_password("ana", "corta")
    stored = auth.store.rows(select(accounts).where(accounts.c.login == "ana"))[0]["password_hash"]
    assert stored.startswith("$argon2id$") and ANA_PW not in stored
    assert acc.verify("ana", ANA_PW) and acc.verify("ANA ", ANA_PW)
    assert not acc.verify("ana", ANA_PW + "x") and not acc.verify("nadie", ANA_PW)
    acc.disable("ana")
    assert not acc.verify("ana", ANA_PW)
    acc.enable("ana")
    assert acc.verify("ana", ANA_PW)
    assert {"login", "disabled", "created_at", "changed_at"} == set(acc.list()[0])
    with pytest.raises(AgentError, match="has no local password"):
        acc.disable("maria")


class CountingHasher(PasswordHasher):
    """argon2's own hasher, counting the verifications it is asked for."""

    calls = 0

    def verify(self, hash, password):  # noqa: A002 - argon2's parameter name
        CountingHasher.calls += 1
        return super().verify(hash, password)


def test_an_unknown_login_costs_a_verification_too_and_old_parameters_are_rehashed(auth):
    counting = Accounts(auth.store, hasher=CountingHasher())
    assert not counting.verify("nadie", "lo-que-sea-123")
    assert not counting.verify("../etc", "lo-que-sea-123")
    assert CountingHasher.calls == 2                     # the same Argon2 work as a real login
    weak = Accounts(auth.store, hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    weak.set_password("maria", "maria-clave-segura")
    before = auth.store.rows(select(accounts).where(accounts.c.login == "maria"))[0]["password_hash"]
    assert "m=8192" in before
    assert auth.accounts.verify("maria", "maria-clave-segura")         # today's parameters: rehashed
    after = auth.store.rows(select(accounts).where(accounts.c.login == "maria"))[0]["password_hash"]
    assert after != before and "m=65536" in after
    assert auth.accounts.verify("maria", "maria-clave-segura")


# ---------------------------------------------------------------------- tokens
def test_tokens_are_shown_once_stored_hashed_and_checked_for_expiry_and_revocation(site):
    clock = Clock()
    auth = authenticator(people_site(site), clock)
    tokens = Tokens(auth.store, clock)
    token = tokens.create("ana", "script de copias", ["read", "operate"], timedelta(days=30))
    assert TOKEN.match(token)
    token_id, secret = token[4:16], token[17:]
    dump = json.dumps(auth.store.rows(select(api_tokens)), default=str)
    assert secret not in dump and token_id in dump
    assert tokens.verify(token) == ("ana", frozenset({"read", "operate"}))
    listed = tokens.list("ana")[0]
    assert "secret_hash" not in listed and listed["last_used_at"] == T0 and listed["state"] == "active"
    for bad in (token[:-1], token + "x", token.replace("oti_", "oti-"), f"oti_{token_id}_{'A' * 43}", "",
                "oti_"):
        assert tokens.verify(bad) is None
    clock.now = T0 + timedelta(days=31)
    assert tokens.verify(token) is None and tokens.list()[0]["state"] == "expired"
    clock.now = T0
    tokens.revoke(token_id)
    assert tokens.verify(token) is None and tokens.list()[0]["state"] == "revoked"
    with pytest.raises(AgentError, match="at most 365 days"):
        tokens.create("ana", "x", ["read"], MAX_LIFETIME + timedelta(days=1))
    with pytest.raises(AgentError, match="not known; give one or more of read, operate, approve, admin"):
        tokens.create("ana", "x", ["todo"], timedelta(days=1))
    with pytest.raises(AgentError, match="no API token 'feedfeedfeed'"):
        tokens.revoke("feedfeedfeed")


# ---------------------------------------------------------------------- passwords, lockout
def test_unknown_login_and_wrong_password_say_the_same_and_secrets_stay_out_of_logs(auth, caplog):
    caplog.set_level(logging.DEBUG)
    answers = []
    for login, password in (("ana", "Secreto-Equivocado-1"), ("nadie", "Secreto-Equivocado-2")):
        with pytest.raises(AuthError) as err:
            auth.password(login, password, address="10.0.0.7", channel="web")
        answers.append(str(err.value))
    assert answers == [INCORRECT, INCORRECT]
    token = auth.tokens.create("ana", "x", ["read"], timedelta(days=1))
    with pytest.raises(AuthError) as err:
        auth.token(token[:-2] + "zz", address="10.0.0.7")
    assert token[17:] not in str(err.value)
    who = auth.password("ana", ANA_PW, address="10.0.0.7", channel="web")
    assert (who.login, who.source, who.channel, who.address) == ("ana", "local", "web", "10.0.0.7")
    for secret in ("Secreto-Equivocado", ANA_PW, token[17:]):
        assert secret not in caplog.text
    assert "failed login for an unknown login from 10.0.0.7" in caplog.text      # never the typed login


def test_too_many_failures_lock_a_login_and_an_address_until_the_window_passes(site):
    clock = Clock()
    auth = authenticator(people_site(site), clock)
    for i in range(5):                                   # five wrong passwords for ana, from five places
        with pytest.raises(AuthError):
            auth.password("ana", "equivocada-123", address=f"10.0.0.{i}")
        clock.now += timedelta(seconds=10)
    with pytest.raises(LoginLocked) as err:              # the right one, now: still locked
        auth.password("ana", ANA_PW, address="10.0.9.9")
    assert err.value.retry_after == 300 - 50
    assert auth.password("luis", LUIS_PW, address="10.0.9.9").login == "luis"   # others may log in
    clock.now = T0 + timedelta(seconds=301)              # the first failure left the window
    assert auth.password("ana", ANA_PW, address="10.0.9.9").login == "ana"
    for login in ("a1", "a2", "a3", "a4", "a5"):         # five logins tried from one address
        with pytest.raises(AuthError):
            auth.password(login, "x" * 12, address="10.0.0.66")
    with pytest.raises(LoginLocked):
        auth.password("luis", LUIS_PW, address="10.0.0.66")
    assert auth.password("luis", LUIS_PW, address="10.0.0.67").login == "luis"


def test_a_disabled_person_is_refused_with_a_right_password(auth):
    with pytest.raises(AuthError, match="deshabilitada"):
        auth.password("pedro", "pedro-clave-segura-3", address="10.0.0.1")
    with pytest.raises(AuthError, match=INCORRECT):       # a wrong one says nothing about it
        auth.password("pedro", "equivocada-123", address="10.0.0.1")


# ---------------------------------------------------------------------- the directory's branches
class FakeDirectoryForBranches:
    """Stands in for agent.people.directory.Directory only to drive the Authenticator's branches (the
    directory itself is tested against slapd elsewhere): `authenticate(login, password)` answers from a
    table, or raises DirectoryUnavailable when `down`."""

    def __init__(self, entries: dict, down: bool = False):
        self.entries, self.down = entries, down

    def authenticate(self, login: str, password: str):
        if self.down:
            raise DirectoryUnavailable("ldaps://ad.entidad.example:636: no answer in 5 s")
        found = self.entries.get((login, password))
        return found


class Entry:
    def __init__(self, login, name, email, roles):
        self.login, self.dn, self.name, self.email = login, f"uid={login},ou=people", name, email
        self.roles = frozenset(roles)


def test_directory_first_then_local_accounts_when_it_says_no_or_is_down(site):
    config = people_site(site)
    directory = FakeDirectoryForBranches({
        ("maria", "clave-del-ad-1"): Entry("maria", "María Torres", "maria@entidad.example", {"coordinador"}),
        ("rosa", "clave-del-ad-2"): Entry("rosa", "Rosa Vega", "rosa@entidad.example", {"gg"}),
        ("juan", "clave-del-ad-3"): Entry("juan", "Juan Pérez", None, set()),
    })
    auth = authenticator(config, Clock(), directory)
    maria = auth.password("maria", "clave-del-ad-1", address="10.0.0.1")
    assert maria.source == "directory" and maria.roles == {"jefa", "coordinador"}
    assert maria.email == "maria@entidad.example"
    rosa = auth.password("rosa", "clave-del-ad-2", address="10.0.0.1")          # known by the directory only
    assert rosa.roles == {"gg"} and auth.people.person("rosa").name == "Rosa Vega"
    with pytest.raises(AuthError, match="no figura entre las personas"):       # no role anywhere: nobody
        auth.password("juan", "clave-del-ad-3", address="10.0.0.1")
    ana = auth.password("ana", ANA_PW, address="10.0.0.1")                     # the directory says no: local
    assert ana.source == "local"
    directory.down = True
    assert auth.password("ana", ANA_PW, address="10.0.0.2").source == "local"  # down: the local password
    with pytest.raises(DirectoryUnavailable):
        auth.password("maria", "clave-del-ad-1", address="10.0.0.2")
    site.extra["people"]["local_accounts"] = False
    strict = authenticator(site.write(), Clock(), FakeDirectoryForBranches({}))
    with pytest.raises(AuthError, match=INCORRECT):
        strict.password("ana", ANA_PW, address="10.0.0.3")


def test_a_session_keeps_what_the_directory_said_across_a_restart_and_ends_on_time(site):
    from agent.api.sessions import Sessions

    clock, config = Clock(), people_site(site)
    directory = FakeDirectoryForBranches({
        ("maria", "clave-del-ad-1"): Entry("maria", "María Torres", None, {"coordinador"}),
        ("rosa", "clave-del-ad-2"): Entry("rosa", "Rosa Vega", "rosa@entidad.example", {"gg"})})
    auth = authenticator(config, clock, directory)
    sessions = Sessions(auth.store, auth, hours=100, clock=clock)
    cookies = {who: sessions.create(auth.password(who, pw, address="10.0.0.1"), "10.0.0.1")[0]
               for who, pw in (("maria", "clave-del-ad-1"), ("rosa", "clave-del-ad-2"), ("luis", LUIS_PW))}
    restarted = Authenticator(load_all(config), auth.store, clock=clock)      # the daemon started again
    again = Sessions(auth.store, restarted, hours=100, clock=clock)
    roles = {who: again.get(cookie, "10.0.0.9")[0].roles for who, cookie in cookies.items()}
    assert roles == {"maria": {"jefa", "coordinador"}, "rosa": {"gg"}, "luis": {"especialista_is"}}
    assert again.get(cookies["rosa"])[0].source == "directory"
    clock.now = T0 + timedelta(days=3)                   # Luis's days as deputy are over: asked again
    assert again.get(cookies["luis"])[0].roles == set()
    clock.now = T0 + timedelta(hours=100)                # the session's hours are up
    assert again.get(cookies["luis"]) is None and again.prune() == 3
    assert again.get("x" * 43) is None and again.get("") is None


# ---------------------------------------------------------------------- OS users, deputies, authorisation
def test_the_os_user_is_the_person_who_names_it(auth):
    ana = auth.os_user(0)
    assert (ana.login, ana.source, ana.channel, ana.address) == ("ana", "os", "cli", "local")
    with pytest.raises(AuthError, match="add os_user: nobody to the person in people"):
        auth.os_user(65534)
    with pytest.raises(AuthError, match="uid 4000123 has no name"):
        auth.os_user(4000123)


def test_roles_are_held_now_deputies_included_and_a_token_needs_its_scope(site):
    clock = Clock()
    auth = authenticator(people_site(site), clock)
    people = auth.people
    luis = auth.password("luis", LUIS_PW, address="10.0.0.1")
    assert luis.roles == {"especialista_is"}                       # deputy on T0
    assert authz.require(luis, people, ["especialista_is"], scope="operate", at=T0) == "encargado"
    ana = auth.os_user(0)
    assert authz.require(ana, people, ["jefa", "especialista_is"], scope="operate", at=T0) == "titular"
    later = T0 + timedelta(days=3)
    with pytest.raises(Forbidden, match=r"Especialista en Infraestructura y Soporte \(especialista_is\)"):
        authz.require(luis, people, ["especialista_is"], scope="operate", at=later)
    reader = auth.token(auth.tokens.create("ana", "tablero", ["read"], timedelta(days=1)), address="10.0.0.1")
    with pytest.raises(Forbidden, match="no tiene el alcance 'operate'"):
        authz.require(reader, people, ["especialista_is"], scope="operate", at=T0)
    authz.require_scope(reader, "read")
    admin = auth.token(auth.tokens.create("ana", "todo", ["admin"], timedelta(days=1)), address="10.0.0.1")
    assert authz.require(admin, people, ["especialista_is"], scope="approve", at=T0) == "titular"
    stranger = Identity("rosa", "Rosa Vega", None, frozenset({"gg"}), source="directory")
    assert authz.require(stranger, people, ["gg"], scope="approve", at=T0) == "titular"   # the directory's


# ---------------------------------------------------------------------- oti-agent users
def _cli():
    app = Typer()
    register(app)
    return app


def test_users_commands_set_passwords_and_make_list_and_revoke_tokens(site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    config = people_site(site)
    runner, app, c = CliRunner(), _cli(), ["-c", str(config)]
    result = runner.invoke(app, ["users", "passwd", "ana", *c], input="una-clave-nueva-1\n" * 2)
    assert result.exit_code == 0, result.output
    assert "una-clave-nueva-1" not in result.output
    result = runner.invoke(app, ["users", "passwd", "luis", "--password-stdin", *c],
                           input="otra-clave-nueva-2\n")
    assert result.exit_code == 0, result.output
    settings = load_all(config)
    store = Store.for_config(settings.config)
    assert Accounts(store).verify("ana", "una-clave-nueva-1")
    assert Accounts(store).verify("luis", "otra-clave-nueva-2")
    result = runner.invoke(app, ["users", "passwd", "nadie", "--password-stdin", *c], input="x" * 12 + "\n")
    assert isinstance(result.exception, AgentError)
    assert "'nadie' is not a person of the people registry" in str(result.exception)
    result = runner.invoke(app, ["users", "passwd", "ana", "--password-stdin", *c], input="corta\n")
    assert "at least 10 characters" in str(result.exception)
    result = runner.invoke(app, ["users", "token", "ana", "--name", "copias", "--scope", "read", "--scope",
                                 "operate", "--days", "30", *c])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert TOKEN.match(token) and "will not be shown again" in result.stderr
    assert Tokens(store).verify(token) == ("ana", frozenset({"read", "operate"}))
    listed = runner.invoke(app, ["users", "tokens", "ana", *c])
    assert token[4:16] in listed.stdout and "operate, read" in listed.stdout
    assert token[17:] not in listed.stdout
    result = runner.invoke(app, ["users", "revoke", token[4:16], *c])
    assert result.exit_code == 0 and Tokens(store).verify(token) is None
    assert runner.invoke(app, ["users", "disable", "ana", *c]).exit_code == 0
    assert not Accounts(store).verify("ana", "una-clave-nueva-1")
    listed = runner.invoke(app, ["users", "list", *c])
    assert "Ana Quispe" in listed.stdout and "disabled" in listed.stdout and "root" in listed.stdout
    assert runner.invoke(app, ["users", "enable", "ana", *c]).exit_code == 0
    assert Accounts(store).verify("ana", "una-clave-nueva-1")
