"""Alerts: born from a reading's state change, escalated by policy, acknowledged or resolved by people.

S.04.04.01.03_P, activities 7–9: the daily review of alerts, escalation to the vendor with the jefa
informed. An alert is one (device, reading) going WARNING or CRITICAL; while it is open, more
changes of the same reading update it instead of opening another. It ends when the reading has
been OK for `resolve_after`. A reading that changes state `flap_changes` times within
`flap_window` is flapping: reported once, then quiet until it settles. Devices in maintenance
(a running shutdown or startup) or silenced record their readings but raise nothing.

Escalation: the first policy matching the alert's severity and device kind gives steps, each
`after` some time since the alert opened, to mail roles and optionally the device's vendor (with
the jefa in copy); the last step repeats every `repeat` while nobody acknowledges. Every mail goes
through the outbox, and every notification, acknowledgement and resolution is an event — the
history the monitoring report is built from.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, insert, select, update

from agent import mail
from agent.config import EscalationPolicy
from agent.errors import AgentError
from agent.outbox import Outbox
from agent.results import State
from agent.settings import Settings
from agent.store import Store
from agent.store.schema import alert_events, alerts, maintenance, silences
from agent.store.times import aware

_LOGGER = logging.getLogger(__name__)
SEVERITY = {State.WARNING: "warning", State.CRITICAL: "critical"}
SEVERITY_ES = {1: "ADVERTENCIA", 2: "CRÍTICO"}
OPEN = ("open", "acknowledged")


class AlertError(AgentError):
    """An alert that does not exist, or cannot be acknowledged or resolved as asked."""


class AlertBook:
    """The alerts of one store."""

    def __init__(self, settings: Settings, store: Store, clock=None):
        self.settings, self.store = settings, store
        self.cfg = settings.config.alerts
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outbox = Outbox(store, settings.config, self.clock)

    # ------------------------------------------------------------------ from state changes
    def process(self, changes) -> list[int]:
        """Open, update or settle alerts from a batch of state changes; return the alerts touched."""
        now = self.clock().astimezone(UTC)
        quiet = self._quiet(now)
        touched = []
        with self.store.engine.begin() as conn:
            for c in changes:
                if c.from_state is None and c.to_state == State.OK:
                    continue                                   # a reading seen for the first time, fine
                row = conn.execute(select(alerts).where(and_(
                    alerts.c.device == c.device, alerts.c.reading == c.reading, alerts.c.status.in_(OPEN)))).first()
                bad = c.to_state in (State.WARNING, State.CRITICAL)
                if row is None:
                    if not bad or c.device in quiet:
                        continue
                    alert_id = conn.execute(insert(alerts).values(
                        device=c.device, reading=c.reading, check_name=c.check, severity=int(c.to_state),
                        state=int(c.to_state), value=c.value, text=c.text, message=c.message, status="open",
                        opened_at=now, changed_at=now, changes=1, flapping=False, steps_sent=0)).inserted_primary_key[0]
                    self._event(conn, alert_id, "opened", f"{c.reading} {State(c.to_state).name}: "
                                                          f"{c.message or c.text or c.value}", now=now)
                    touched.append(alert_id)
                    continue
                values = dict(state=int(c.to_state), changed_at=now, changes=row.changes + 1)
                if bad:
                    values.update(value=c.value, text=c.text, message=c.message, ok_since=None,
                                  severity=max(row.severity, int(c.to_state)))
                    if int(c.to_state) > row.severity:
                        self._event(conn, row.id, "worse", f"{State(c.to_state).name}: {c.message or c.value}", now=now)
                elif row.ok_since is None:
                    values["ok_since"] = now
                recent = conn.execute(select(alert_events.c.id).where(and_(
                    alert_events.c.alert_id == row.id, alert_events.c.event == "change",
                    alert_events.c.at >= now - timedelta(seconds=self.cfg.flap_window)))).all()
                self._event(conn, row.id, "change", State(c.to_state).name, now=now)
                if not row.flapping and len(recent) + 1 >= self.cfg.flap_changes:
                    values["flapping"] = True
                    self._event(conn, row.id, "flapping", f"{len(recent) + 1} cambios en "
                                                          f"{self.cfg.flap_window / 60:g} min", now=now)
                conn.execute(update(alerts).where(alerts.c.id == row.id).values(**values))
                touched.append(row.id)
        return touched

    def _quiet(self, now: datetime) -> set[str]:
        """Devices that record but do not alarm: in a running runbook's maintenance, or silenced."""
        with self.store.engine.connect() as conn:
            devices = {r.device for r in conn.execute(select(maintenance.c.device))}
            devices |= {r.device for r in conn.execute(select(silences.c.device).where(silences.c.until > now))}
        return devices

    # ------------------------------------------------------------------ time passing
    def tick(self) -> dict[str, int]:
        """Resolve what settled, escalate what is due, deliver the outbox; return counts."""
        now = self.clock().astimezone(UTC)
        resolved = self._resolve_settled(now)
        notified = self._escalate(now)
        sent, pending = self.outbox.flush()
        counts = {"resolved": resolved, "notified": notified, "sent": sent, "pending": pending}
        if self.cfg.alertmanager:
            counts["forwarded"] = self._forward(now)
        return counts

    def _forward(self, now: datetime) -> int:
        """Push open alerts, and those resolved since the last push, to Alertmanager (API v2).

        Alertmanager forgets an alert it is not told about again within its resolve_timeout, so the
        open ones are re-sent every tick; a resolved one goes once more with its endsAt. A failure is
        logged and retried next tick: the mail escalation does not depend on it."""
        import httpx

        inventory = self.settings.inventory.by_name
        since = now - timedelta(seconds=max(self.cfg.tick * 4, 60))
        rows = self.list(status=OPEN) + [a for a in self.list(status=("resolved",))
                                         if a["resolved_at"] and a["resolved_at"] >= since]
        payload = []
        for a in rows:
            device = inventory.get(a["device"])
            labels = {"alertname": a["reading"].split("{")[0], "device": a["device"], "reading": a["reading"],
                      "severity": "critical" if a["severity"] >= 2 else "warning", "source": "oti-agent",
                      "kind": device.kind if device else "", "site": device.site if device else ""}
            item = {"labels": {k: v for k, v in labels.items() if v},
                    "annotations": {"summary": f"{a['device']}: {a['reading']} "
                                               f"{a['text'] or ('' if a['value'] is None else a['value'])}".strip(),
                                    "description": a["message"] or "", "alert_id": str(a["id"]),
                                    "status": a["status"]},
                    "startsAt": a["opened_at"].isoformat()}
            if a["status"] == "resolved":
                item["endsAt"] = a["resolved_at"].isoformat()
            payload.append(item)
        if not payload:
            return 0
        try:
            resp = httpx.post(self.cfg.alertmanager.rstrip("/") + "/api/v2/alerts", json=payload, timeout=10)
            resp.raise_for_status()
        except httpx.HTTPError as err:
            _LOGGER.warning("alertmanager %s: %s", self.cfg.alertmanager, err)
            return 0
        return len(payload)

    def _resolve_settled(self, now: datetime) -> int:
        limit = now - timedelta(seconds=self.cfg.resolve_after)
        with self.store.engine.begin() as conn:
            rows = conn.execute(select(alerts.c.id).where(and_(
                alerts.c.status.in_(OPEN), alerts.c.ok_since.is_not(None), alerts.c.ok_since <= limit))).all()
            for (alert_id,) in rows:
                conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                    status="resolved", resolved_at=now, resolved_by="oti-agent"))
                self._event(conn, alert_id, "resolved", f"normal desde hace {self.cfg.resolve_after / 60:g} min",
                            by="oti-agent", now=now)
        return len(rows)

    def _escalate(self, now: datetime) -> int:
        inventory = self.settings.inventory.by_name
        count = 0
        for row in self.list(status=("open",)):
            device = inventory.get(row["device"])
            policy = self._policy(row, device.kind if device else "")
            if policy is None:
                continue
            if row["flapping"] and row["steps_sent"] > 0:
                continue                                       # told once that it flaps; quiet until it settles
            opened = row["opened_at"]
            due = [i for i, step in enumerate(policy.steps)
                   if i >= row["steps_sent"] and opened + timedelta(seconds=step.after) <= now]
            repeat = (not due and row["steps_sent"] == len(policy.steps) and policy.repeat
                      and row["last_notified_at"] + timedelta(seconds=policy.repeat) <= now)
            for i in due + ([len(policy.steps) - 1] if repeat else []):
                self._notify(row, policy, i, device, now)
                count += 1
            if due or repeat:
                with self.store.engine.begin() as conn:
                    conn.execute(update(alerts).where(alerts.c.id == row["id"]).values(
                        steps_sent=max(row["steps_sent"], (due[-1] + 1) if due else row["steps_sent"]),
                        last_notified_at=now))
        return count

    def _policy(self, row: dict, kind: str) -> EscalationPolicy | None:
        severity = "critical" if row["severity"] >= int(State.CRITICAL) else "warning"
        for policy in self.cfg.policies:
            if severity in policy.severities and (not policy.kinds or kind in policy.kinds):
                return policy
        return None

    def _notify(self, row: dict, policy: EscalationPolicy, index: int, device, now: datetime) -> None:
        step = policy.steps[index]
        cfg = self.settings.config
        if step.when != "siempre":
            from zoneinfo import ZoneInfo

            from agent.calendar_pe import in_office_hours

            working = in_office_hours(now.astimezone(ZoneInfo(cfg.agent.timezone)), self.cfg.office_hours)
            if working != (step.when == "horario_oficina"):
                self._log_event(row["id"], "skipped", f"paso {index + 1}: solo "
                                                      f"{step.when.replace('_', ' ')}", now)
                return
        to = mail.recipients(cfg.mail, step.to) if step.to else []
        template = "alerta"
        if step.vendor:
            if device is None or device.vendor is None or not device.vendor.email:
                self._log_event(row["id"], "notified", f"paso {index + 1}: {row['device']} no tiene correo de "
                                                       "proveedor (oti_vendor.email)", now)
            else:
                to = [device.vendor.email, *to]
                template = "alerta-proveedor"
        if not to:
            return
        cc = mail.recipients(cfg.mail, step.cc) if step.cc else []
        if row["flapping"]:
            template = "alerta-oscilacion"
        tz = self.settings.config.agent.timezone
        subject, body = mail.render(template, {
            "alert": row, "device": device, "step": index + 1, "policy": policy.name,
            "severity": SEVERITY_ES.get(row["severity"], str(row["severity"])),
            "opened": _local(row["opened_at"], tz), "agent": cfg.agent,
            "vendor": device.vendor if device is not None else None}, mail.templates_dir(cfg))
        message = self.outbox.enqueue(to, subject, body, cc, source=f"alert:{row['id']}")
        self._log_event(row["id"], "notified", f"paso {index + 1} ({policy.name}): {', '.join(to)}"
                                               + (f" cc {', '.join(cc)}" if cc else "") + f" [outbox {message}]", now)

    # ------------------------------------------------------------------ people
    def ack(self, alert_id: int, by: str, comment: str | None = None) -> dict:
        """Acknowledge: someone is on it; escalation stops."""
        row = self.get(alert_id)
        if row["status"] != "open":
            raise AlertError(f"alert {alert_id} is {row['status']}, not open")
        now = self.clock().astimezone(UTC)
        with self.store.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                status="acknowledged", acked_by=by, acked_at=now, comment=comment))
            self._event(conn, alert_id, "acknowledged", comment, by=by, now=now)
        return self.get(alert_id)

    def resolve(self, alert_id: int, by: str, comment: str | None = None) -> dict:
        """Close an alert by hand (the cause was dealt with)."""
        row = self.get(alert_id)
        if row["status"] == "resolved":
            raise AlertError(f"alert {alert_id} was already resolved on {row['resolved_at']:%d/%m/%Y %H:%M}")
        now = self.clock().astimezone(UTC)
        with self.store.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                status="resolved", resolved_by=by, resolved_at=now, comment=comment or row["comment"]))
            self._event(conn, alert_id, "resolved", comment, by=by, now=now)
        return self.get(alert_id)

    def silence(self, device: str, seconds: float, by: str, reason: str) -> datetime:
        """Keep a device quiet for a while (its readings still recorded); return until when."""
        if device not in self.settings.inventory.by_name:
            raise AlertError(f"no device {device!r} in the inventory")
        now = self.clock().astimezone(UTC)
        until = now + timedelta(seconds=seconds)
        with self.store.engine.begin() as conn:
            conn.execute(insert(silences).values(device=device, until=until, reason=reason, by=by, created_at=now))
        return until

    # ------------------------------------------------------------------ reading
    def get(self, alert_id: int) -> dict:
        found = self.list(ids=[alert_id])
        if not found:
            raise AlertError(f"no alert {alert_id}; see `oti-agent alerts`")
        return found[0]

    def list(self, status: tuple[str, ...] | None = OPEN, ids: list[int] | None = None) -> list[dict]:
        q = select(alerts).order_by(alerts.c.opened_at, alerts.c.id)
        if ids is not None:
            q = q.where(alerts.c.id.in_(ids))
        elif status is not None:
            q = q.where(alerts.c.status.in_(status))
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            for k in ("opened_at", "changed_at", "ok_since", "last_notified_at", "acked_at", "resolved_at"):
                r[k] = aware(r[k])
        return rows

    def events(self, alert_id: int) -> list[dict]:
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                select(alert_events).where(alert_events.c.alert_id == alert_id).order_by(alert_events.c.id))]
        for r in rows:
            r["at"] = aware(r["at"])
        return rows

    def _log_event(self, alert_id: int, event: str, detail: str | None, now: datetime) -> None:
        with self.store.engine.begin() as conn:
            self._event(conn, alert_id, event, detail, now=now)

    @staticmethod
    def _event(conn, alert_id: int, event: str, detail: str | None, by: str | None = None, now=None) -> None:
        conn.execute(insert(alert_events).values(alert_id=alert_id, event=event, detail=detail, by=by,
                                                 at=now or datetime.now(UTC)))


def _local(when: datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M")
