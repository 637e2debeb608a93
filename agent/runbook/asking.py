"""Asking people: when a run waits for a role, the holders get a mail with a signed single-use link, are
reminded, and when nobody answers in time the step's declared outcome applies (a No, or the question goes to
another role). The decision is told to whom the step says (GG's answer to the jefa).

Owner of the tables `run_waits` (who a waiting step asked, since when) and `approval_links`.
A link is only a way to find the decision page: it never decides by itself (a GET decides nothing), it is
bound to one run, step and person, it expires, and it is spent when the decision is made through it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, insert, select, update

from agent.core.people import Person
from agent.core.settings import Settings
from agent.errors import AuthError, MailError
from agent.notify import mail
from agent.notify.outbox import Outbox
from agent.runbook import template as templates
from agent.runbook.kinds import StepContext
from agent.runbook.model import Runbook, load
from agent.runbook.steps.people import ApprovalOptions
from agent.store import Store
from agent.store.schema import approval_links, run_waits

_LOGGER = logging.getLogger(__name__)
KEY_FILE = Path("var/oti-agent.key")


def _now() -> datetime:
    return datetime.now(UTC)


def signing_key(settings: Settings) -> bytes:
    """The key approval links are signed with: a file beside the store, made 0600 on first use."""
    path = settings.config.path(KEY_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


class Links:
    """Signed, expiring, single-use links to a decision page, one per run, step and person."""

    def __init__(self, store: Store, key: bytes, hours: float, clock: Callable[[], datetime] = _now):
        self.store, self.hours, self.clock = store, hours, clock
        self._signer = URLSafeTimedSerializer(key, salt="oti-agent approval link")

    def issue(self, run_id: str, step_id: str, login: str) -> str:
        """A new link token for this person's decision on this step."""
        nonce, now = secrets.token_hex(16), self.clock()
        with self.store.transaction() as conn:
            conn.execute(insert(approval_links).values(nonce=nonce, run_id=run_id, step_id=step_id, login=login,
                                                       created_at=now, expires_at=now + timedelta(hours=self.hours)))
        return self._signer.dumps({"n": nonce})

    def open(self, token: str, login: str | None = None) -> dict:
        """The run, step and person of a link still usable (by `login`, when given); AuthError otherwise."""
        try:
            nonce = self._signer.loads(token, max_age=int(self.hours * 3600) + 60)["n"]
        except SignatureExpired:
            raise AuthError("este enlace venció; pida uno nuevo o decida desde la consola") from None
        except (BadSignature, KeyError, TypeError):
            raise AuthError("enlace inválido") from None
        rows = self.store.rows(select(approval_links).where(approval_links.c.nonce == nonce))
        if not rows:
            raise AuthError("enlace inválido")
        row = rows[0]
        if row["used_at"] is not None:
            raise AuthError("este enlace ya se usó: cada enlace sirve una sola vez")
        if _aware(row["expires_at"]) <= self.clock():
            raise AuthError("este enlace venció; pida uno nuevo o decida desde la consola")
        if login is not None and login != row["login"]:
            raise AuthError("este enlace es de otra persona: inicie sesión como su destinatario")
        return row

    def spend(self, nonce: str) -> None:
        """The decision is being made through this link: it cannot be used again (AuthError when it was
        spent meanwhile — compare-and-set, so two uses at once never both pass)."""
        with self.store.transaction() as conn:
            done = conn.execute(update(approval_links).where(approval_links.c.nonce == nonce,
                                                             approval_links.c.used_at.is_(None))
                                .values(used_at=self.clock()))
        if done.rowcount != 1:
            raise AuthError("este enlace ya se usó: cada enlace sirve una sola vez")


class Asker:
    """Mails the holders of the role a step waits for, reminds them, and applies the outcome of silence."""

    def __init__(self, settings: Settings, store: Store, base_url: str, clock: Callable[[], datetime] = _now):
        self.settings, self.store, self.clock = settings, store, clock
        self.base_url = base_url.rstrip("/")
        self.links = Links(store, signing_key(settings), settings.config.people.link_hours, clock)

    # ---------------------------------------------------------------- called by the approval step
    async def ask(self, ctx: StepContext) -> None:
        """The step starts waiting: ask the holders of its role (deputies in force first)."""
        opts = options_of(ctx.runbook, ctx.step.id, ctx.trigger)
        unit = ctx.render(opts.unit) if opts.unit else None
        await asyncio.to_thread(self._ask, ctx.run_id, ctx.runbook, ctx.step.id, opts.role, unit, opts, ctx.params)

    async def decided(self, ctx: StepContext, decision: dict) -> None:
        """The step has its decision: stop asking, and tell whom the step says."""
        await asyncio.to_thread(self._decided, ctx.run_id, ctx.runbook, ctx.step.id, decision, ctx.params)

    # ---------------------------------------------------------------- called by the daemon's tick
    def tick(self) -> dict[str, int]:
        """Remind those asked, and apply the outcome of a wait that expired; return counts."""
        now, counts = self.clock(), {"reminded": 0, "expired": 0, "escalated": 0}
        for wait in self.store.rows(select(run_waits)):
            book = load(Path(self._run(wait["run_id"])["runbook_path"]))
            trigger = self._run(wait["run_id"]).get("trigger") or {}
            opts = options_of(book, wait["step_id"], trigger)
            if wait["expires_at"] is not None and _aware(wait["expires_at"]) <= now:
                counts[self._expire(wait, book, opts, trigger)] += 1
            elif opts.remind_every and now - _aware(wait["reminded_at"] or wait["since"]) >= timedelta(
                    seconds=opts.remind_every):
                self._remind(wait, book)
                counts["reminded"] += 1
        return counts

    def waiting(self, run_id: str, step_id: str) -> dict | None:
        """Who a waiting step asked, and whether it was escalated."""
        rows = self.store.rows(select(run_waits).where(run_waits.c.run_id == run_id, run_waits.c.step_id == step_id))
        if rows:
            rows[0]["asked"] = json.loads(rows[0]["asked"])
        return rows[0] if rows else None

    # ---------------------------------------------------------------- the work
    def _ask(self, run_id: str, book: Runbook, step_id: str, role: str, unit: str | None, opts: ApprovalOptions,
             params: dict, escalated: bool = False) -> list[str]:
        now, people = self.clock(), self.settings.people
        self._learn_from_directory(role, unit)
        holders = [p for p in people.holders(role, now, unit) if p.email]
        run = self._run(run_id)
        asked = [p.login for p in holders if p.login != run["started_by"]]
        for person in holders:
            if person.login != run["started_by"]:
                self._mail(run, book, step_id, person, role, opts, params, "aprobacion-solicitud")
        journal_detail = ", ".join(f"{p.name} ({p.login})" for p in holders if p.login in asked) or "nadie"
        self._event(run_id, step_id, "asked", f"{people.title(role)}: {journal_detail}")
        if not asked:
            _LOGGER.warning("run %s step %s waits for role %s and nobody with an e-mail holds it", run_id, step_id,
                            role)
        expires = now + timedelta(seconds=opts.expire_after) if opts.expire_after and not escalated else None
        with self.store.transaction() as conn:
            if escalated:
                conn.execute(update(run_waits).where(run_waits.c.run_id == run_id, run_waits.c.step_id == step_id)
                             .values(escalated_to=role, expires_at=None, reminded_at=now,
                                     asked=json.dumps(asked)))
            else:
                conn.execute(delete(run_waits).where(run_waits.c.run_id == run_id, run_waits.c.step_id == step_id))
                conn.execute(insert(run_waits).values(run_id=run_id, step_id=step_id, role=role, unit=unit,
                                                      asked=json.dumps(asked), since=now, reminders=0,
                                                      expires_at=expires))
        return asked

    def _learn_from_directory(self, role: str, unit: str | None) -> None:
        """The directory's members of the groups mapped to `role` join the registry (the jefa may never have
        logged in yet: she must still get her mail). The directory down: the registry's holders are asked."""
        section = self.settings.config.people.directory
        if section is None or unit is not None or not section.bind_dn:
            return
        from agent.errors import ConfigError, DirectoryUnavailable
        from agent.people.directory import Directory

        try:
            entries = Directory(section, self.settings.config.base_dir).holders(role)
        except (DirectoryUnavailable, ConfigError) as err:
            _LOGGER.warning("the directory could not say who holds %s (%s); asking the registry's holders", role,
                            err)
            return
        for e in entries:
            self.settings.people.learn(e.login, e.name, e.email, set(e.roles))

    def _decided(self, run_id: str, book: Runbook, step_id: str, decision: dict, params: dict) -> None:
        with self.store.transaction() as conn:
            conn.execute(delete(run_waits).where(run_waits.c.run_id == run_id, run_waits.c.step_id == step_id))
        opts = options_of(book, step_id, self._run(run_id).get("trigger") or {})
        run, now = self._run(run_id), self.clock()
        for role in opts.tell:
            for person in self.settings.people.holders(role, now):
                if person.email:
                    self._mail(run, book, step_id, person, role, opts, params, "aprobacion-resultado",
                               decision=decision, link=False)

    def _remind(self, wait: dict, book: Runbook) -> None:
        run, people = self._run(wait["run_id"]), self.settings.people
        opts = options_of(book, wait["step_id"], run.get("trigger") or {})
        for login in json.loads(wait["asked"]):
            person = people.person(login)
            if person and person.email:
                self._mail(run, book, wait["step_id"], person, wait["escalated_to"] or wait["role"], opts,
                           run["params"], "aprobacion-solicitud", reminder=wait["reminders"] + 1)
        with self.store.transaction() as conn:
            conn.execute(update(run_waits).where(run_waits.c.run_id == wait["run_id"],
                                                 run_waits.c.step_id == wait["step_id"])
                         .values(reminded_at=self.clock(), reminders=wait["reminders"] + 1))
        self._event(wait["run_id"], wait["step_id"], "reminded", f"recordatorio {wait['reminders'] + 1}")

    def _expire(self, wait: dict, book: Runbook, opts: ApprovalOptions, trigger: dict) -> str:
        """Nobody answered in time: a No, an approval the policy declared, or the question goes up."""
        from agent.runbook.journal import Journal

        run_id, step_id = wait["run_id"], wait["step_id"]
        hours = f"{opts.expire_after / 3600:g} h"
        outcome = ((trigger.get("emergency") or {}).get("approvals") or {}).get(step_id, {}).get("on_expiry")
        if (outcome or opts.on_expiry) == "escalate":
            role = ((trigger.get("emergency") or {}).get("approvals") or {}).get(step_id, {}).get("escalate_to") \
                or opts.escalate_to
            self._event(run_id, step_id, "escalated", f"sin respuesta en {hours}: se consulta a "
                                                       f"{self.settings.people.title(role)}")
            self._ask(run_id, book, step_id, role, None, opts, self._run(run_id)["params"], escalated=True)
            return "escalated"
        decision = "approved" if outcome == "approve" else "rejected"
        why = (f"sin respuesta en {hours}; la política {trigger.get('policy')} dispone que se apruebe"
               if decision == "approved" else f"sin respuesta en {hours}: se entiende que no")
        Journal(self.store).add_decision(run_id, step_id, "approval", "agente", decision, role=wait["role"],
                                         comment=why, channel="agent")
        with self.store.transaction() as conn:
            conn.execute(delete(run_waits).where(run_waits.c.run_id == run_id, run_waits.c.step_id == step_id))
        return "expired"

    def _mail(self, run: dict, book: Runbook, step_id: str, person: Person, role: str, opts: ApprovalOptions,
              params: dict, template: str, *, decision: dict | None = None, reminder: int = 0,
              link: bool = True) -> None:
        cfg, step = self.settings.config, book.step(step_id)
        url = (f"{self.base_url}/decidir/{self.links.issue(run['id'], step_id, person.login)}" if link else None)
        from agent.runbook.journal import Journal

        facts = Journal(self.store).facts(run["id"])
        justification = templates.render(opts.justification, params=params, run_id=run["id"], target=None,
                                         step=step, runbook=book, facts=facts) if opts.justification else \
            params.get("motivo", "")
        subject, body = mail.render(template, {
            "person": person, "role": role, "role_title": self.settings.people.title(role), "runbook": book,
            "step": step, "run": run, "params": params, "justification": justification, "link": url,
            "link_hours": cfg.people.link_hours, "plan": plan_summary(book), "decision": decision,
            "reminder": reminder, "starter": self._starter(run), "agent": cfg.agent,
            "decider": self._name(decision["by"]) if decision else None}, mail.templates_dir(cfg))
        source = f"ask:{run['id']}:{step_id}:{person.login}:{template}:{reminder}:{secrets.token_hex(2)}"
        try:                                   # at once: a person is waited for; mail down, the outbox keeps it
            Outbox(self.store, cfg).send([person.email], subject, body, source=source)
        except MailError as err:
            _LOGGER.info("run %s: the mail to %s waits in the outbox: %s", run["id"], person.login, err)

    def _starter(self, run: dict) -> str:
        return self._name(run["started_by"])

    def _name(self, login: str) -> str:
        person = self.settings.people.person(login) if login else None
        return f"{person.name} ({login})" if person else login

    def _run(self, run_id: str) -> dict:
        from agent.store import queries

        return queries.run_row(self.store, run_id) or {}

    def _event(self, run_id: str, step_id: str, event: str, detail: str) -> None:
        from agent.runbook.journal import Journal

        Journal(self.store).event(run_id, event, detail, step_id=step_id)


def options_of(book: Runbook, step_id: str, trigger: dict) -> ApprovalOptions:
    """An approval step's options, with what the policy that started the run says of it (its emergency
    rules: another expiry and outcome) laid over them."""
    base = dict(book.step(step_id).with_)
    over = ((trigger.get("emergency") or {}).get("approvals") or {}).get(step_id) or {}
    if over:
        base.update({k: v for k, v in over.items() if k in ("expire_after", "escalate_to") and v is not None})
        if over.get("on_expiry") in ("reject", "escalate"):
            base["on_expiry"] = over["on_expiry"]
        elif over.get("on_expiry") == "approve":       # the step's own escalation gives way; _expire approves
            base["on_expiry"] = "reject"
            base.pop("escalate_to", None)
    return ApprovalOptions.model_validate(base)


def plan_summary(book: Runbook) -> list[str]:
    """The runbook's steps as the mail lists them: activity and name."""
    return [f"act. {','.join(map(str, s.activities))}: {s.name}" for s in book.steps]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
