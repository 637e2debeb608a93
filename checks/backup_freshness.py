"""The `backup_freshness` check: is each asset's last good backup within its periodicity?

It reads the store (the backup service records every run there), not the backend: an asset backed
up daily is stale when its last good backup is older than a day plus `backups.grace`. One reading
set per asset whose server is the checked device (by inventory name or address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.core import assets as assets_mod
from agent.core.assets import Asset
from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import ConfigError
from agent.store import queries
from checks.base import Check, ProbeContext


@dataclass
class Freshness:
    """What the store says of one asset's backups."""

    asset: Asset
    last_good: datetime | None
    last_bytes: int
    grace_s: float


class BackupFreshnessCheck(Check):
    """Check the age of each asset's last good backup against its periodicity."""

    description = "age of the last good backup of each asset on this server, against its periodicity"

    async def collect(self, device: Device, ctx: ProbeContext) -> list[Freshness]:
        cfg = ctx.config
        if cfg.backups.matrix is None:
            raise ConfigError("backup_freshness: the config has no backups.matrix")
        matrix = ctx.service("backups.assets", lambda: assets_mod.load(cfg.path(cfg.backups.matrix)))
        mine = [a for a in matrix.assets if a.server in (device.name, device.address)]
        if not mine:
            return []
        return await ctx.blocking(_read, ctx.store(), mine, cfg.backups.grace)

    def evaluate(self, raw: list[Freshness], device: Device, previous: Mapping[str, State]) -> list[Reading]:
        out = []
        now = datetime.now(UTC)
        for f in raw:
            gap = f.asset.periodicity.max_gap().total_seconds()
            labels = (("asset", f.asset.id),)
            if f.last_good is None:
                out.append(Reading("backup_age_seconds", None, State.CRITICAL, "seconds", labels,
                                   message=f"{f.asset.name}: sin copia de respaldo registrada",
                                   help="age of the asset's last good backup"))
                continue
            age = (now - f.last_good).total_seconds()
            # stale after one period plus the grace; CRITICAL once a second period is missed too
            state = (State.OK if age <= gap + f.grace_s else State.WARNING if age <= 2 * gap + f.grace_s
                     else State.CRITICAL)
            message = "" if state == State.OK else (
                f"{f.asset.name}: última copia buena hace {age / 86400:.1f} días "
                f"(periodicidad {f.asset.periodicity.describe().lower()})")
            out += [Reading("backup_age_seconds", age, state, "seconds", labels, message=message,
                            help="age of the asset's last good backup"),
                    Reading("backup_last_success_timestamp_seconds", f.last_good.timestamp(), unit="seconds",
                            labels=labels, help="when the asset's last good backup ended"),
                    Reading("backup_last_size_bytes", float(f.last_bytes), unit="bytes", labels=labels,
                            help="size of the asset's last good backup")]
        return out


def _read(store, mine: list[Asset], grace_s: float) -> list[Freshness]:
    out = []
    for a in mine:
        good = queries.last_good_backup(store, a.id)
        out.append(Freshness(a, good["ended_at"] if good else None, good["bytes"] if good else 0, grace_s))
    return out
