"""GET /api/v1/health: whether the daemon answers and its store can be read. No authentication."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agent.api.deps import Ctx
from agent.errors import StoreError
from agent.store import queries

router = APIRouter(prefix="/api/v1", tags=["health"])


def agent_version() -> str:
    """The installed oti-agent's version."""
    try:
        return version("oti-agent")
    except PackageNotFoundError:
        return "unknown"


class Health(BaseModel):
    """The daemon answers; `store` says whether its store can be read (HTTP 503 when not)."""

    status: str
    version: str
    store: bool
    schema_version: int | None = None
    role: str = "leader"                 # two agents on one store: "leader" acts, "standby" polls and serves
    leader: str | None = None            # on the standby: which agent leads


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(ctx: Ctx):
    """Whether the daemon and its store answer (for load balancers and monitors)."""
    try:
        schema = queries.store_version(ctx.store)
    except StoreError:
        return JSONResponse(Health(status="error", version=agent_version(), store=False).model_dump(),
                            status_code=503)
    leader = ctx.runs.standby() if ctx.runs is not None else None
    return Health(status="ok", version=agent_version(), store=True, schema_version=schema,
                  role="standby" if leader else "leader", leader=leader)
