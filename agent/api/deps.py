"""FastAPI dependencies: who is asking, whether they may, and the CSRF check of cookie requests.

Who is asking, in order: an `Authorization: Bearer oti_...` token (an explicit credential wins), the OS
user at the other end of the local socket (its peer credentials, which agent/api/server.py puts in the
request as "oti.peer"), the session cookie. A token is never taken from a query string (it would land in logs and histories).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from agent.api.context import ApiContext
from agent.api.sessions import COOKIE, Sessions
from agent.core.people import OPERATORS, Identity
from agent.errors import AuthError, Forbidden
from agent.people import authz

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
# what OpenAPI documents as the ways in (the local socket's OS user is not an HTTP scheme)
_BEARER = HTTPBearer(auto_error=False, scheme_name="token", description="an API token: oti_<id>_<secret>")
_COOKIE = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="session",
                       description="the cookie POST /api/v1/login sets; POSTs also send X-CSRF-Token")


def context(request: Request) -> ApiContext:
    """The daemon's services, as create_app was given them."""
    return request.app.state.ctx


def sessions(request: Request) -> Sessions:
    """The web sessions (agent.api.sessions.Sessions) of the app."""
    return request.app.state.sessions


def client_address(request: Request) -> str:
    """Where the request comes from: the client's IP address, or "local" for the UNIX socket."""
    client = request.scope.get("client")
    if request.scope.get("oti.peer") is not None or not client:
        return "local"
    return str(client[0])


async def identity(request: Request,
                   _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
                   _session: Annotated[str | None, Depends(_COOKIE)] = None) -> Identity:
    """The person asking (AuthError, HTTP 401, when nobody could be established)."""
    ctx, address = context(request), client_address(request)
    header = request.headers.get("authorization")
    peer = request.scope.get("oti.peer")
    if header is not None:              # a token given is who acts, even on the socket (a script run by root)
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("send the API token as `Authorization: Bearer oti_...`")
        return await run_in_threadpool(ctx.auth.token, value.strip(), address=address,
                                       channel="cli" if peer is not None else "api")
    if peer is not None:
        return await run_in_threadpool(ctx.auth.os_user, peer[1], channel="cli")
    cookie = request.cookies.get(COOKIE)
    if cookie:
        found = await run_in_threadpool(sessions(request).get, cookie, address)
        if found is None:
            raise AuthError("la sesión venció o se cerró; inicie sesión de nuevo")
        who, csrf = found
        request.state.csrf = csrf
        if request.method in UNSAFE:
            await check_csrf(request, csrf)
        return who
    raise AuthError("se necesita iniciar sesión o un token de API (Authorization: Bearer oti_...)")


async def check_csrf(request: Request, expected: str) -> None:
    """Forbidden unless the request echoes the session's CSRF value (header X-CSRF-Token, or the form
    field csrf_token)."""
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(FORMS):
        given = (await request.form()).get("csrf_token")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("falta el código CSRF de la sesión (cabecera X-CSRF-Token o campo csrf_token), o no "
                        "corresponde; recargue la página")


def require_roles(*roles: str, scope: str = "read"):
    """A dependency: the person asking, if they hold one of `roles` now (none given: anyone) and, for a
    token, `scope`. How the role is held ('titular', 'encargado') is left in request.state.held."""

    async def dependency(request: Request, who: Annotated[Identity, Depends(identity)]) -> Identity:
        ctx = context(request)
        if roles:
            request.state.held = authz.require(who, ctx.people, roles, scope=scope, at=ctx.clock())
        else:
            authz.require_scope(who, scope)
        return who

    return dependency


Who = Annotated[Identity, Depends(identity)]
Reader = Annotated[Identity, Depends(require_roles(scope="read"))]
Operator = Annotated[Identity, Depends(require_roles(*sorted(OPERATORS), scope="operate"))]
Ctx = Annotated[ApiContext, Depends(context)]
