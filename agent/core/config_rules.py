"""Rules of the config that a field's type cannot say: values the run time would choke on, and
checks across fields. Each failure is a located Problem (or, inside a model, a ValueError that
pydantic locates), so `oti-agent config check` lists it with the rest instead of `serve` or
`report` crashing on it later.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agent.core.secrets import references, unresolvable
from agent.core.yamlfile import line_of
from agent.errors import Problem

if TYPE_CHECKING:
    from agent.core.config import AgentConfig

STORES = ("sqlite", "postgresql")
"""The SQLAlchemy dialects the store's migrations and upserts are written for."""
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def timezone(value: str) -> str:
    """An IANA time zone this machine knows (`report daily` and every schedule compute in it)."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):      # ZoneInfoNotFoundError is a KeyError; '', paths: ValueError
        raise ValueError(f"unknown time zone {value!r}: give an IANA name such as America/Lima "
                         "(the names in /usr/share/zoneinfo; package tzdata)") from None
    return value


def listen_address(value: str) -> str:
    """An IP address (v4 or v6, without brackets) or a host name, as the HTTP server binds it."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    # a name whose last label is all digits (999.1.1.1) is a mistyped address, not a host name (RFC 1123)
    if 0 < len(value) <= 253 and all(_LABEL.match(x) for x in labels) and not labels[-1].isdigit():
        return value
    raise ValueError("not an IP address nor a host name (examples: 127.0.0.1, 0.0.0.0, ::1, agente.example)")


def store_url(value: str) -> str:
    """A SQLAlchemy URL of a supported dialect whose driver is installed, holding no password.
    The URL is never repeated in a message: it may hold the very password refused here."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError("not a SQLAlchemy URL (examples: sqlite:///var/oti-agent.db, "
                         "postgresql+psycopg://oti@db-host/oti)") from None
    if url.get_backend_name() not in STORES:
        raise ValueError(f"the store must be one of {', '.join(STORES)}, not {url.get_backend_name()!r} "
                         "(examples: sqlite:///var/oti-agent.db, postgresql+psycopg://oti@db-host/oti)")
    if url.password is not None:
        raise ValueError("a password in the store URL is a secret written in the config (and shown by every "
                         "store error): remove it; PostgreSQL reads it from the file PGPASSFILE names "
                         "(~/.pgpass by default) or from PGPASSWORD")
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ValueError(f"SQLAlchemy has no driver {url.drivername!r}: use sqlite:/// or "
                         "postgresql+psycopg://") from None
    except ImportError as err:
        raise ValueError(f"the driver of {url.drivername!r} is not installed (module {err.name}): install "
                         "it, or use postgresql+psycopg:// (psycopg 3, which oti-agent installs)") from None
    return value


def no_userinfo(value: str | None, auth_key: str) -> str | None:
    """A URL without `user:password@`: there the password would be logged and could not be a reference."""
    if value is not None and "@" in urlsplit(value).netloc:
        raise ValueError("a user or password in the URL would be shown in logs and cannot be a secret "
                         f"reference: remove 'user:password@' and set {auth_key} (username and password, or "
                         "bearer_token, each '${ENV_VAR}' or 'file:PATH')")
    return value


def problems(config: AgentConfig, file: str, lines: dict[tuple, int]) -> list[Problem]:
    """The cross-field rules of a validated config, for every command."""
    return _escalation_problems(config, file, lines) + _timing_problems(config, file, lines)


def strict_problems(config: AgentConfig, file: str, lines: dict[tuple, int]) -> list[Problem]:
    """What `config check` and `serve` ask beyond what every command needs: every secret resolvable here and
    now (the other commands resolve one only when they use it, so they run without the daemon's
    environment)."""
    return secret_problems(config, file, lines)


def secret_problems(config: AgentConfig, file: str, lines: dict[tuple, int]) -> list[Problem]:
    """Every secret reference of the config that cannot be resolved here and now (a variable unset, a
    file missing, unreadable or empty), named by its reference; a value is never shown."""
    out = []
    for loc, ref in references(config):
        why = unresolvable(ref, base_dir=config.base_dir)
        if why:
            out.append(Problem(file, _dotted(loc), line_of(lines, loc), why))
    return out


def _escalation_problems(config: AgentConfig, file: str, lines: dict[tuple, int]) -> list[Problem]:
    """Every role an escalation step names must have addresses in mail.recipients."""
    out = []
    for pi, policy in enumerate(config.alerts.policies):
        for si, step in enumerate(policy.steps):
            for key in ("to", "cc"):
                for role in getattr(step, key):
                    if role not in config.mail.recipients:
                        loc = ("alerts", "policies", pi, "steps", si, key)
                        out.append(Problem(file, _dotted(loc), line_of(lines, loc),
                                           f"unknown role {role!r}: mail.recipients has "
                                           f"{', '.join(config.mail.recipients) or 'no roles'}"))
    return out


def _timing_problems(config: AgentConfig, file: str, lines: dict[tuple, int]) -> list[Problem]:
    """A group's timeout (and each check's) must be below its interval: the group runs again only when its
    slowest probe ends, so a dead device waited for a whole interval delays every device of the group."""
    out = []
    for gi, group in enumerate(config.check_groups):
        at = ("check_groups", gi)
        timeouts = [(at + ("timeout",), group.timeout)]
        timeouts += [(at + ("checks", ci, "timeout"), c.timeout)
                     for ci, c in enumerate(group.checks) if c.timeout is not None]
        for loc, timeout in timeouts:
            if timeout < group.interval:
                continue
            written = loc in lines
            where = loc if written else at + ("interval",)      # a default timeout: the interval is too short
            out.append(Problem(file, _dotted(where), line_of(lines, where),
                               f"timeout ({timeout:g}s{'' if written else ', the default'}) is not below "
                               f"the interval ({group.interval:g}s): the group would be polled late, each "
                               "run waiting for the last one's dead devices; set timeout below "
                               f"{group.interval:g}s (half of it leaves room for retries) or raise interval"))
    return out


def _dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)
