"""Mail: render the Spanish templates and talk to the configured SMTP server (STARTTLS and login).

Only the outbox (`outbox.py`) sends: everything else queues a message there.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from agent.core.config import MailSection
from agent.core.secrets import library_text, resolve
from agent.errors import ConfigError, MailError

TEMPLATES = Path(__file__).resolve().parent / "templates"

def render(template: str, context: dict, templates_dir: Path | None = None) -> tuple[str, str]:
    """Render `<template>.txt.j2` (from `templates_dir` when it has one, else the shipped ones); its first
    line is `Asunto: ...`. Return (subject, body); a broken template is a ConfigError naming file and line."""
    folders = [str(templates_dir)] if templates_dir else []
    env = Environment(loader=FileSystemLoader([*folders, str(TEMPLATES)]), undefined=StrictUndefined,
                      autoescape=False, keep_trailing_newline=True)
    try:
        tmpl = env.get_template(f"{template}.txt.j2")
    except TemplateError as err:
        where = getattr(err, "filename", None) or f"{template}.txt.j2"
        line = getattr(err, "lineno", None)
        raise ConfigError(f"mail template {where}{':' + str(line) if line else ''}: {err}") from None
    try:
        text = tmpl.render(**context)
    except TemplateError as err:
        line = _template_line(err.__traceback__, tmpl.filename)
        raise ConfigError(f"mail template {tmpl.filename}{':' + str(line) if line else ''}: {err}") from None
    first, _, body = text.partition("\n")
    if not first.startswith("Asunto:"):
        raise ConfigError(f"mail template {tmpl.filename}: the first line must be 'Asunto: ...'")
    return first.removeprefix("Asunto:").strip(), body.lstrip("\n")


def templates_dir(config) -> Path | None:
    """The office's own mail templates folder of a config, if it names one."""
    return config.path(config.mail.templates_dir) if config.mail.templates_dir else None


def _template_line(tb, filename: str | None) -> int | None:
    """The template line an error was raised at (Jinja2 puts the template's own frames in the traceback)."""
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def recipients(mail: MailSection, roles: list[str]) -> list[str]:
    """Return the addresses of the given roles; raise ConfigError naming a role nobody configured."""
    missing = [r for r in roles if not mail.recipients.get(r)]
    if missing:
        raise ConfigError(f"mail.recipients has no address for role(s) {', '.join(missing)}")
    return list(dict.fromkeys(a for r in roles for a in mail.recipients[r]))


def _send(mail: MailSection, base_dir: Path, to: list[str], subject: str, body: str, cc: list[str] | None = None,
          html: str | None = None, attachments: list[str] | None = None) -> str:
    import mimetypes

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.sender, ", ".join(to), subject
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid(domain="oti-agent")
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for name in attachments or []:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise MailError(f"attachment {path}: {err.strerror}", server=False) from None
        kind = (mimetypes.guess_type(path.name)[0] or "application/octet-stream").split("/")
        msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=path.name)
    try:
        with smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout) as smtp:
            if mail.starttls:
                smtp.starttls(context=_tls_context())
            if mail.user and mail.password:
                smtp.login(mail.user, resolve(mail.password, base_dir=base_dir).get_secret_value())
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as err:
        raise MailError(f"smtp {mail.host}:{mail.port}: login as {mail.user} refused ({err.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as err:          # this message's addresses: the others can still go
        refused = "; ".join(f"{a}: {code} {reply.decode(errors='replace')}" for a, (code, reply) in err.recipients.items())
        raise MailError(f"smtp {mail.host}:{mail.port}: recipients refused: {refused}", server=False) from None
    except smtplib.SMTPDataError as err:                  # the server refused this message's content
        raise MailError(f"smtp {mail.host}:{mail.port}: message refused: {err.smtp_code} "
                        f"{err.smtp_error.decode(errors='replace')}", server=err.smtp_code < 500) from None
    except smtplib.SMTPException as err:
        raise MailError(f"smtp {mail.host}:{mail.port}: {library_text(err)}") from None
    except OSError as err:
        raise MailError(f"smtp {mail.host}:{mail.port}: {err.strerror or library_text(err)}") from None
    return msg["Message-ID"]


def _tls_context() -> ssl.SSLContext:
    # Offices run their own relay with an internal CA; OTI_SMTP_CAFILE names it. Without it the
    # system store is used; OTI_SMTP_INSECURE=1 (tests, a lab relay) skips verification.
    import os

    if os.environ.get("OTI_SMTP_INSECURE") == "1":
        return ssl._create_unverified_context()  # noqa: S323 - explicit opt-in for a lab relay
    return ssl.create_default_context(cafile=os.environ.get("OTI_SMTP_CAFILE"))


def send_now(mail: MailSection, base_dir: Path, to: list[str], subject: str, body: str,
             cc: list[str] | None = None, html: str | None = None, attachments: list[str] | None = None) -> str:
    """Send one message, blocking (the outbox's worker thread); return its Message-ID."""
    return _send(mail, base_dir, to, subject, body, cc, html, attachments)
