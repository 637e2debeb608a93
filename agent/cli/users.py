"""`oti-agent users …`: people's local passwords and API tokens, administered on the agent's host.

These write the store directly, as `useradd` writes /etc/passwd: whoever can run them as the agent's user
(or root) already holds the store. The person must be in the people registry (the config's people
section or its people file); the registry, not these commands, says who holds which role.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from agent.cli.show import DataTable, esc, styled
from agent.errors import AgentError

out = Console()
err = Console(stderr=True)
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file")]
users_app = typer.Typer(no_args_is_help=True, help="Local passwords and API tokens of the people registry.")
STATE_STYLE = {"active": "green", "expired": "dim", "revoked": "red"}


def _open(config: Path):
    from agent.core.settings import load_all
    from agent.store import Store

    settings = load_all(config)
    return settings, Store.for_config(settings.config)


def _person(settings, login: str, config: Path):
    person = settings.people.person(login)
    if person is None:
        raise AgentError(f"{login!r} is not a person of the people registry; add them to people.persons in "
                         f"{config} (or its people file) first")
    return person


@users_app.command("list")
def users_list(config: ConfigOpt = Path("config.yaml")) -> None:
    """The people of the registry: roles, OS user, local password, active tokens."""
    from agent.people.accounts import Accounts
    from agent.people.tokens import Tokens

    settings, store = _open(config)
    local = {a["login"]: a for a in Accounts(store).list()}
    tokens: dict[str, int] = {}
    for t in Tokens(store).list():
        tokens[t["login"]] = tokens.get(t["login"], 0) + (t["state"] == "active")
    table = DataTable()
    for col in ("login", "name", "roles", "os user", "registry", "local password", "tokens"):
        table.add_column(col, overflow="fold")
    for p in settings.people.persons():
        account = local.get(p.login)
        password = "-" if account is None else styled("disabled", "red") if account["disabled"] else "set"
        registry = styled("disabled", "red") if p.disabled else "active"
        table.add_row(p.login, p.name, ", ".join(p.roles), p.os_user or "", registry, password,
                      str(tokens.get(p.login, 0)))
    out.print(table)


@users_app.command("passwd")
def users_passwd(login: str, config: ConfigOpt = Path("config.yaml"),
                 password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                              help="read it from the first line of stdin")]
                 = False) -> None:
    """Set a person's local password (asked twice, not shown; at least 10 characters)."""
    from agent.people.accounts import Accounts

    settings, store = _open(config)
    person = _person(settings, login, config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    Accounts(store).set_password(person.login, password)
    if not settings.config.people.local_accounts:
        err.print("[yellow]warning[/yellow] people.local_accounts is false: this password is not accepted "
                  "until it is true")
    out.print(f"local password of {esc(person.login)} set")


@users_app.command("add")
def users_add(login: str, config: ConfigOpt = Path("config.yaml"),
              password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                           help="read it from the first line of stdin")]
              = False) -> None:
    """Give a person of the registry a local account (refused if they have one: use passwd)."""
    from agent.errors import AgentError
    from agent.people.accounts import Accounts

    settings, store = _open(config)
    person = _person(settings, login, config)
    if Accounts(store).exists(person.login):
        raise AgentError(f"{person.login} already has a local password; change it with `oti-agent users passwd "
                         f"{person.login}`")
    users_passwd(person.login, config, password_stdin)


@users_app.command("disable")
def users_disable(login: str, config: ConfigOpt = Path("config.yaml")) -> None:
    """Refuse a person's local password (tokens stay: revoke them too if needed)."""
    from agent.people.accounts import Accounts

    settings, store = _open(config)
    Accounts(store).disable(_person(settings, login, config).login)
    out.print(f"local password of {esc(login)} disabled")


@users_app.command("enable")
def users_enable(login: str, config: ConfigOpt = Path("config.yaml")) -> None:
    """Accept a person's local password again."""
    from agent.people.accounts import Accounts

    settings, store = _open(config)
    Accounts(store).enable(_person(settings, login, config).login)
    out.print(f"local password of {esc(login)} enabled")


@users_app.command("token")
def users_token(login: str,
                name: Annotated[str, typer.Option("--name", help="what it is for, e.g. 'backup script'")],
                scope: Annotated[list[str], typer.Option("--scope", help="read, operate, approve or admin "
                                                         "(repeat for several)")],
                days: Annotated[int, typer.Option("--days", help="how long it lives (at most 365)")] = 90,
                config: ConfigOpt = Path("config.yaml")) -> None:
    """Make an API token for a person; it is printed once and cannot be shown again."""
    from agent.people.tokens import Tokens

    settings, store = _open(config)
    person = _person(settings, login, config)
    token = Tokens(store).create(person.login, name, scope, timedelta(days=days))
    typer.echo(token)
    err.print(f"token for {esc(person.login)} ({esc(', '.join(sorted(set(scope))))}, {days} days) — it will "
              "not be shown again: keep it where the script reads it", highlight=False)


@users_app.command("tokens")
def users_tokens(login: Annotated[str | None, typer.Argument(help="only this person's")] = None,
                 config: ConfigOpt = Path("config.yaml")) -> None:
    """List API tokens (never their secrets): id, person, name, scopes, state, expiry, last use."""
    from agent.people.tokens import Tokens

    settings, store = _open(config)
    if login is not None:
        login = _person(settings, login, config).login
    tz = ZoneInfo(settings.config.agent.timezone)
    table = DataTable()
    for col in ("id", "login", "name", "scopes", "state", "expires", "last used"):
        table.add_column(col, overflow="fold")
    for t in Tokens(store).list(login):
        used = f"{t['last_used_at'].astimezone(tz):%d/%m/%Y %H:%M}" if t["last_used_at"] else "never"
        table.add_row(t["id"], t["login"], t["name"], ", ".join(t["scopes"]),
                      styled(t["state"], STATE_STYLE.get(t["state"], "")),
                      f"{t['expires_at'].astimezone(tz):%d/%m/%Y}", used)
    out.print(table)


@users_app.command("revoke")
def users_revoke(token_id: Annotated[str, typer.Argument(help="the token's id, as `users tokens` lists it")],
                 config: ConfigOpt = Path("config.yaml")) -> None:
    """Revoke an API token: it is refused from now on."""
    from agent.people.tokens import Tokens

    _settings, store = _open(config)
    t = Tokens(store).revoke(token_id)
    out.print(f"token {esc(t['id'])} of {esc(t['login'])} ({esc(t['name'])}) revoked")


def register(app: typer.Typer) -> None:
    """Add the `users` commands to the CLI."""
    app.add_typer(users_app, name="users")
