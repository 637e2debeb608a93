"""The FastAPI application: /api/v1 (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs), /metrics as
Prometheus scrapes it, errors as JSON {"error": message}, and the security headers every answer carries."""

from __future__ import annotations

import math
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from agent.api.context import ApiContext
from agent.api.routes import ROUTERS
from agent.api.routes.health import agent_version
from agent.api.sessions import Sessions
from agent.errors import (
    AgentError,
    AlertError,
    AuthError,
    BackupError,
    ConfigError,
    DaemonUnavailable,
    DirectoryUnavailable,
    Forbidden,
    LoginLocked,
    PluginNotFound,
    RunbookError,
    StoreError,
)

DOCS = "/api/v1/docs"
DESCRIPTION = ("The HTTP API of oti-agent: the datacenter's devices, alerts, backups, tapes and documents. "
               "Authenticate with `Authorization: Bearer oti_...` (a token made with "
               "`oti-agent users token`), or with the session cookie POST /api/v1/login sets.")
STATUS = {LoginLocked: 429, DirectoryUnavailable: 503, AuthError: 401, Forbidden: 403, PluginNotFound: 404,
          AlertError: 409, BackupError: 409, RunbookError: 409, ConfigError: 400, StoreError: 503,
          DaemonUnavailable: 503, AgentError: 400}
DOCS_CSP = ("default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; style-src "
            "https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(ctx: ApiContext, extra_routers: Iterable[APIRouter] = ()) -> FastAPI:
    """The daemon's HTTP application over its services (`extra_routers`: routes other modules add)."""
    app = FastAPI(title="oti-agent", version=agent_version(), openapi_url="/api/v1/openapi.json",
                  docs_url=DOCS, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  description=DESCRIPTION)
    app.state.ctx = ctx
    app.state.sessions = Sessions(ctx.store, ctx.auth, ctx.settings.config.people.session_hours, ctx.clock)
    app.add_exception_handler(AgentError, _agent_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)
    if ctx.metrics is not None:           # Prometheus scrapes it as it always did: no authentication
        app.router.routes.append(Route("/metrics", _Asgi(ctx.metrics), methods=["GET", "HEAD"],
                                       include_in_schema=False))
    app.add_middleware(SecurityHeaders)
    return app


class _Asgi:
    """An ASGI app as a route's endpoint (a plain function would be taken for a request handler)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


async def _agent_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((STATUS[k] for k in type(exc).__mro__ if k in STATUS), 400)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="oti-agent"'
    if isinstance(exc, LoginLocked):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


class SecurityHeaders:
    """Every answer: nosniff, no framing, referrers only to this site, not cached; HTML also a strict CSP:
    scripts and styles only from this site's files (the console has no inline script or style)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path") == DOCS

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                # same-origin, not no-referrer: under no-referrer a browser posts a form with `Origin: null`
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cache-Control", "no-store")
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = DOCS_CSP if docs else CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)


CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
