"""The inventory's devices with whether they answer, and one device's latest readings."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from agent.api.deps import Ctx, Reader
from agent.store import queries

router = APIRouter(prefix="/api/v1", tags=["devices"])


class Device(BaseModel):
    """A device of the inventory and how it is now."""

    name: str
    kind: str
    criticality: str
    site: str
    address: str
    state: str | None = Field(description="its worst reading now: OK, WARNING, CRITICAL; null: no readings")
    up: bool | None = Field(description="whether every check answered its last run; null: never polled")


class ReadingNow(BaseModel):
    """A reading's latest value."""

    reading: str
    name: str
    labels: dict[str, str]
    value: float | None
    text: str | None
    unit: str
    state: str
    message: str | None
    updated_at: datetime


class CheckRun(BaseModel):
    """The last run of one check on the device."""

    check: str
    up: bool
    error: str | None
    last_run: datetime
    failing_since: datetime | None


class DeviceDetail(Device):
    """A device with its latest readings and checks."""

    readings: list[ReadingNow]
    checks: list[CheckRun]


def _up(ctx) -> dict[str, bool]:
    """Whether each device's checks all answered: the daemon's memory when it runs, else the store."""
    out: dict[str, bool] = {}
    if ctx.snapshot is not None:
        results, _counters = ctx.snapshot.view()
        for r in results:
            out[r.device] = out.get(r.device, True) and r.up
        return out
    for s in queries.check_statuses(ctx.store):
        out[s["device"]] = out.get(s["device"], True) and bool(s["up"])
    return out


def _device(d, worst, up) -> dict:
    state = worst.get(d.name)
    return dict(name=d.name, kind=d.kind, criticality=d.criticality, site=d.site, address=d.address,
                state=state.name if state is not None else None, up=up.get(d.name))


@router.get("/devices", response_model=list[Device])
def devices(who: Reader, ctx: Ctx) -> list[Device]:
    """Every device of the inventory, in its kind's order, with its state and whether it answers."""
    worst, up = queries.worst_state(ctx.store), _up(ctx)
    return [Device(**_device(d, worst, up)) for d in ctx.settings.inventory]


@router.get("/devices/{name}", response_model=DeviceDetail, responses={404: {}})
def device(name: str, who: Reader, ctx: Ctx) -> DeviceDetail:
    """One device: its latest readings and the last run of each of its checks."""
    found = ctx.settings.inventory.by_name.get(name)
    if found is None:
        raise HTTPException(404, f"no device {name!r} in the inventory")
    readings = [ReadingNow(reading=r["reading"], name=r["name"], labels=r["labels"], value=r["value"],
                           text=r["text"], unit=r["unit"], state=r["state"].name, message=r["message"],
                           updated_at=r["updated_at"]) for r in queries.latest(ctx.store, device=name)]
    checks = [CheckRun(check=s["check_name"], up=s["up"], error=s["error"], last_run=s["last_run"],
                       failing_since=s["failing_since"])
              for s in queries.check_statuses(ctx.store) if s["device"] == name]
    return DeviceDetail(**_device(found, queries.worst_state(ctx.store), _up(ctx)), readings=readings,
                        checks=checks)
