"""Mail to the tape custody company (activities 7, 13 and 19): a box handed over, a box asked back.

One template per movement (`custodia-envio`, `custodia-solicitud`), rendered in the office's zone
and queued in the outbox under a key of its own, so a retried step sends the same message once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agent.errors import MailError
from agent.notify import mail
from agent.notify.outbox import Outbox

TEMPLATES = {"enviada": "custodia-envio", "solicitada": "custodia-solicitud"}


def tell_company(settings, store, movement: str, box: dict, by: str, *, source: str, reason: str | None = None,
                 withdraw_on_failure: bool = False, now: datetime | None = None) -> str:
    """Mail the custody company about a box; return the Message-ID.

    With `withdraw_on_failure` (the CLI: nothing is recorded when the mail cannot go) an undelivered
    message is taken out of the outbox; otherwise it stays queued for the next attempt."""
    cfg = settings.config
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(cfg.agent.timezone))
    subject, body = mail.render(TEMPLATES[movement], {
        "box": box, "by": by, "reason": reason, "company": cfg.backups.custody.company, "today": today},
        mail.templates_dir(cfg))
    outbox = Outbox(store, cfg)
    message = outbox.enqueue(mail.recipients(cfg.mail, [cfg.backups.custody.recipients]), subject, body,
                             source=source, unique=True)
    try:
        return outbox.deliver(message)
    except MailError:
        if withdraw_on_failure:
            outbox.withdraw(message, "la empresa de resguardo no pudo ser notificada; no se registró el movimiento")
        raise
