"""May this identity do that: a role of the registry (titular or deputy, on that date, of that unit) and,
for a token, the scope the action needs. Asked by action, never by page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from agent.core.people import Identity, People
from agent.errors import Forbidden
from agent.people.tokens import SCOPES, expand


def require_scope(identity: Identity, scope: str) -> None:
    """Forbidden when the identity is a token without `scope` (a person's own login has every scope)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if identity.scopes is not None and scope not in expand(identity.scopes):
        given = ", ".join(sorted(identity.scopes)) or "none"
        raise Forbidden(f"el token de {identity.login} no tiene el alcance '{scope}' (tiene: {given}); cree "
                        f"uno con `oti-agent users token {identity.login} --scope {scope}`")


def require(identity: Identity, people: People, roles: Iterable[str], *, scope: str, at: datetime,
            unit: str | None = None) -> str:
    """How the identity holds one of `roles` at `at` ('titular' or 'encargado'); Forbidden naming the roles
    needed (and, for a token, the missing scope)."""
    roles = sorted(roles) if isinstance(roles, set | frozenset) else list(roles)   # a set: a stable message
    if not roles:
        raise ValueError("require() needs at least one role; use require_scope() for a scope alone")
    require_scope(identity, scope)
    # the directory's roles at login count besides the registry's; for the others the registry says, at `at`
    also = identity.roles if identity.source == "directory" else frozenset()
    for role in roles:
        how = people.holds(identity.login, role, at, unit, also=also)
        if how:
            return how
    needed = ", ".join(f"{people.title(r)} ({r})" for r in roles)
    of_unit = f" de la unidad {unit}" if unit else ""
    raise Forbidden(f"{identity.describe()} no tiene el rol que esto pide{of_unit}: {needed}")
