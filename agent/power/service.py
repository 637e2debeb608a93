"""The power policy inside the daemon: how it starts runs, reads their status and mails its notices."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from agent.errors import AgentError
from agent.power.policy import PowerPolicy, metrics_text

_LOGGER = logging.getLogger(__name__)
TICK_S = 5.0


def build(settings, store, runs) -> PowerPolicy:
    """The policy, with the daemon's run service and outbox (a ConfigError names what is wrong)."""
    from agent.notify import mail
    from agent.notify.outbox import Outbox

    cfg = settings.config

    def start_run(runbook: str, params: dict, trigger: dict) -> str:
        return runs.start(runbook, params, None, trigger=trigger)

    def run_status(run_id: str) -> str | None:
        run = runs.journal.run(run_id)
        return run["status"] if run else None

    def tell(groups: list[str], subject: str, body: str, source: str) -> None:
        # mail.recipients for shared mailboxes, else the people who hold the role today (deputies included)
        to = mail.recipients(cfg.mail, [g for g in groups if cfg.mail.recipients.get(g)])
        to += [p.email for g in groups if not cfg.mail.recipients.get(g)
               for p in settings.people.holders(g, datetime.now(UTC)) if p.email and p.email not in to]
        if to:
            Outbox(store, cfg).enqueue(to, subject, body, source=source, unique=True)
            policy.mail_waiting = True          # the next tick (seconds away) delivers it, not the alerts' tick

    policy = PowerPolicy(settings, store, start_run, run_status, tell)
    return policy


def attach(daemon, scheduler) -> None:
    """Follow the policy's runs every few seconds and publish its state on /metrics."""
    from agent.notify.outbox import Outbox

    policy: PowerPolicy = daemon.power
    if not policy.ups:
        return
    daemon.snapshot.extra.append(lambda: metrics_text(policy))

    async def tick() -> None:
        try:
            await asyncio.to_thread(policy.tick)
            for ups in sorted(policy.fsd_due):
                policy.fsd_due.discard(ups)
                await _forced_shutdown(daemon, ups)
            if policy.mail_waiting:
                policy.mail_waiting = False
                await asyncio.to_thread(Outbox(daemon.store, daemon.settings.config).flush)
        except AgentError as err:
            _LOGGER.error("power policy: %s", err)

    scheduler.add_job(tick, "interval", seconds=TICK_S, id="power-policy", max_instances=1, coalesce=True)


async def _forced_shutdown(daemon, ups: str) -> None:
    """Raise FSD on a UPS managed by NUT (a UPS read by SNMP has no upsmon to hand over to)."""
    from agent.transports.nut import credentials_of, set_forced_shutdown

    device = daemon.settings.inventory.by_name.get(ups)
    if device is None or getattr(device, "nut", None) is None:
        return
    user, password = credentials_of(device, daemon.ctx)
    if user is None:
        _LOGGER.error("power %s: FSD not raised: its oti_nut has no credential (it needs `upsmon primary`)", ups)
        return
    try:
        answer = await set_forced_shutdown(device.address, device.nut, user, password)
    except AgentError as err:
        _LOGGER.error("power %s: FSD not raised through NUT: %s", ups, err)
        return
    _LOGGER.info("power %s: staged shutdown done; FSD raised through NUT (%s): upsmon takes it from here", ups, answer)
