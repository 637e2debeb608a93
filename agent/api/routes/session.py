"""Logging in and out with a password (a session cookie for the browser), and who am I."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from agent.api.deps import Ctx, Who, client_address, sessions
from agent.api.sessions import COOKIE, clear_cookie, set_cookie
from agent.core.people import Identity, People

router = APIRouter(prefix="/api/v1", tags=["session"])


class Credentials(BaseModel):
    """A login and its password (the directory's or the local one)."""

    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RoleHeld(BaseModel):
    """A role and how it is held now."""

    role: str
    title: str
    held: str = Field(description="titular, or encargado (a deputy in force)")


class WhoAmI(BaseModel):
    """The person asking, as the agent knows them."""

    login: str
    name: str
    email: str | None
    roles: list[RoleHeld]
    channel: str = Field(description="web (a session), api (a token), cli (the local socket)")
    source: str = Field(description="directory, local (password), token, os (the local socket's user)")
    scopes: list[str] | None = Field(None, description="a token's scopes; null: what the roles allow")


class LoggedIn(WhoAmI):
    """The person, and the CSRF value to send (X-CSRF-Token) with every POST made with the cookie."""

    csrf: str


def whoami(identity: Identity, people: People, at: datetime) -> WhoAmI:
    """The WhoAmI of an identity, roles with their titles."""
    also = identity.roles if identity.source == "directory" else frozenset()
    held = people.roles_of(identity.login, at, also)
    return WhoAmI(login=identity.login, name=identity.name, email=identity.email,
                  roles=[RoleHeld(role=r, title=people.title(r), held=held.get(r, "titular"))
                         for r in sorted(identity.roles)],
                  channel=identity.channel, source=identity.source,
                  scopes=None if identity.scopes is None else sorted(identity.scopes))


@router.post("/login", response_model=LoggedIn, responses={401: {}, 429: {}, 503: {}})
def login(body: Credentials, request: Request, response: Response, ctx: Ctx) -> LoggedIn:
    """Log in with a password; the answer sets the session cookie (HttpOnly) and gives its CSRF value."""
    address = client_address(request)
    who = ctx.auth.password(body.login, body.password, address=address, channel="web")
    value, csrf = sessions(request).create(who, address)
    set_cookie(response, value, secure=request.url.scheme == "https",
               hours=ctx.settings.config.people.session_hours)
    return LoggedIn(**whoami(who, ctx.people, ctx.clock()).model_dump(), csrf=csrf)


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request, who: Who) -> Response:
    """End the session of the cookie (a token is revoked with `oti-agent users revoke` instead)."""
    cookie = request.cookies.get(COOKIE)
    if cookie and who.channel == "web":
        sessions(request).delete(cookie)
    response = Response(status_code=204)
    clear_cookie(response, secure=request.url.scheme == "https")
    return response


@router.get("/whoami", response_model=WhoAmI)
def get_whoami(who: Who, ctx: Ctx) -> WhoAmI:
    """Who the agent takes the caller for: login, name, roles held now, channel and source."""
    return whoami(who, ctx.people, ctx.clock())
