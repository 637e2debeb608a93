"""Who runs this command, for the commands that write the store themselves (custody movements, the access
log, and alerts when the daemon is down): the person of the registry this OS user is (`os_user`, else a
login equal to the user name) — the same mapping the daemon applies to its local socket. There is no
`--by`: a name typed by hand is not an identity."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime

from agent.core.people import OPERATORS, Identity
from agent.errors import AuthError
from agent.people.authz import require


def local_person(settings, roles=OPERATORS) -> Identity:
    """The person this OS user is, holding one of `roles` now; AuthError / Forbidden otherwise."""
    user = pwd.getpwuid(os.getuid()).pw_name
    person = settings.people.by_os_user(user)
    if person is None or person.disabled:
        raise AuthError(f"OS user {user!r} is nobody of the config's people: add `os_user: {user}` to the person "
                        "who works as this account")
    now = datetime.now(UTC)
    who = Identity(person.login, person.name, person.email,
                   frozenset(settings.people.roles_of(person.login, now)), "os", "cli", "local")
    require(who, settings.people, roles, scope="operate", at=now)
    return who
