"""Activity 6 of S.04.04.01.03_P: the jefa is told by mail when monitoring is installed and answering on
equipment that had none (a device added to the inventory, a check added to a group): one mail per polling
cycle, naming every device and check that answered for the first time."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.notify import mail
from agent.notify.outbox import Outbox

TEMPLATE = "monitoreo-instalado"


def tell_installed(settings, store, first: list[tuple[str, str]], now: datetime | None = None) -> int | None:
    """Queue the mail to the jefa for these (device, check) pairs; return the message id, None when there is
    nobody to tell (no mail configured, or no address for the jefa)."""
    cfg = settings.config
    if not first or cfg.mail is None:
        return None
    to = mail.recipients(cfg.mail, ["jefa"])
    if not to:
        return None
    devices = settings.inventory.by_name
    rows = [{"device": d, "check": c, "kind": devices[d].kind if d in devices else "",
             "address": devices[d].address if d in devices else ""} for d, c in sorted(first)]
    subject, body = mail.render(TEMPLATE, {"rows": rows, "agent": cfg.agent, "office": cfg.reports.office},
                                mail.templates_dir(cfg))
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    box = Outbox(store, cfg)
    message = box.enqueue(to, subject, body, source=f"monitoreo-instalado:{stamp}:{len(rows)}")
    box.flush()
    return message
