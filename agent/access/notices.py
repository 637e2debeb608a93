"""The requester told the jefa's decision (activity 7 of S.04.03.02_P flow 1), through the outbox.

One template per decision (`acceso-autorizado`, `acceso-denegado`, an office may replace them in
`mail.templates_dir`), rendered in the office's zone and queued under a key of the request's own, so a
decision asked twice mails once. The mail goes now when it can; otherwise it waits in the outbox for the
daemon's next flush (the decision stands either way). The jefa's mail role, when configured, gets a copy.
"""

from __future__ import annotations

import logging
from datetime import date

from agent.errors import MailError
from agent.notify import mail
from agent.notify.outbox import Outbox

_LOGGER = logging.getLogger(__name__)
TEMPLATES = {"authorised": "acceso-autorizado", "refused": "acceso-denegado"}


def tell_requester(settings, store, request: dict, room_name: str, clock=None) -> int:
    """Queue (and try to deliver) the decision's mail to the requester; return the outbox message's id."""
    cfg = settings.config
    moved = (request["day"], request["time_from"], request["time_to"]) != (
        request["asked_day"], request["asked_from"], request["asked_to"])
    subject, body = mail.render(TEMPLATES[request["status"]], {
        "request": request, "room": room_name, "moved": moved, "office": cfg.reports.office,
        "day": f"{date.fromisoformat(request['day']):%d/%m/%Y}",
        "asked_day": f"{date.fromisoformat(request['asked_day']):%d/%m/%Y}"}, mail.templates_dir(cfg))
    box = Outbox(store, cfg, clock)
    copy = list(cfg.mail.recipients.get("jefa", []))
    message = box.enqueue([request["email"]], subject, body, cc=copy,
                          source=f"access-request:{request['id']}:{request['status']}", unique=True)
    try:
        box.deliver(message)
    except MailError as err:
        _LOGGER.warning("access request %s: the decision's mail waits in the outbox: %s", request["id"], err)
    return message
