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

from agent.alerts import escalation
from agent.core.results import State
from agent.core.settings import Settings
from agent.errors import AlertError
from agent.monitoring.silence import NAME as SILENCE
from agent.notify import alertmanager
from agent.notify.glpi_tickets import Helpdesk
from agent.notify.outbox import Outbox
from agent.store import Store, chain, queries
from agent.store.queries import OPEN
from agent.store.schema import alert_events, alerts, silences

_LOGGER = logging.getLogger(__name__)
BAD = (State.WARNING, State.CRITICAL)
ENDS_ON_ANSWER = (f"{SILENCE}{{",)        # `check_answered{check=...}`: the alert ends the moment it answers
NOTES = ("comment", "vendor_reply")      # events a person adds to an alert's history (AlertBook.comment)


class AlertBook:
    """The alerts of one store."""

    def __init__(self, settings: Settings, store: Store, clock=None):
        self.settings, self.store = settings, store
        self.cfg = settings.config.alerts
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outbox = Outbox(store, settings.config, self.clock)
        self.helpdesk = Helpdesk(store, settings.config, self.clock)       # GLPI tickets (off by default)

    # ------------------------------------------------------------------ from state changes
    def process(self, changes) -> list[int]:
        """Open, update or settle alerts from a batch of state changes; return the alerts touched."""
        now = self.clock().astimezone(UTC)
        quiet = queries.quiet_devices(self.store, now)
        touched = []
        with chain.transaction(self.store, "alert_events") as conn:
            for c in changes:
                if c.from_state is None and c.to_state == State.OK:
                    continue                                   # a reading seen for the first time, fine
                row = conn.execute(select(alerts).where(and_(
                    alerts.c.device == c.device, alerts.c.reading == c.reading, alerts.c.status.in_(OPEN)))).first()
                if row is None:
                    if c.to_state in BAD and c.device not in quiet:
                        touched.append(self._open(conn, c, now))
                    continue
                self._update(conn, row, c, now)
                touched.append(row.id)
        return touched

    def _open(self, conn, c, now: datetime) -> int:
        alert_id = conn.execute(insert(alerts).values(
            device=c.device, reading=c.reading, check_name=c.check, severity=int(c.to_state), state=int(c.to_state),
            value=c.value, text=c.text, message=c.message, status="open", opened_at=now, changed_at=now, changes=1,
            flapping=False, steps_sent=0)).inserted_primary_key[0]
        self._event(conn, alert_id, "opened", f"{c.reading} {State(c.to_state).name}: "
                                              f"{c.message or c.text or c.value}", now=now)
        return alert_id

    def _update(self, conn, row, c, now: datetime) -> None:
        """A change of a reading with an open alert: worse, recovering, stale (UNKNOWN: no recovery), flapping."""
        values = dict(state=int(c.to_state), changed_at=now, changes=row.changes + 1)
        if c.to_state in BAD:
            values.update(value=c.value, text=c.text, message=c.message, ok_since=None,
                          severity=max(row.severity, int(c.to_state)))
            if int(c.to_state) > row.severity:
                self._event(conn, row.id, "worse", f"{State(c.to_state).name}: {c.message or c.value}", now=now)
        elif c.to_state == State.OK and row.ok_since is None:
            values["ok_since"] = now
        if c.to_state == State.OK and c.reading.startswith(ENDS_ON_ANSWER):   # it answers: the silence is over
            values.update(status="resolved", resolved_at=now, resolved_by="oti-agent", comment="responde de nuevo")
            self._event(conn, row.id, "resolved", "el equipo responde de nuevo", by="oti-agent", now=now)
        recent = conn.execute(select(alert_events.c.id).where(and_(
            alert_events.c.alert_id == row.id, alert_events.c.event == "change",
            alert_events.c.at >= now - timedelta(seconds=self.cfg.flap_window)))).all()
        self._event(conn, row.id, "change", State(c.to_state).name, now=now)
        if not row.flapping and len(recent) + 1 >= self.cfg.flap_changes:
            values["flapping"] = True
            self._event(conn, row.id, "flapping", f"{len(recent) + 1} cambios en "
                                                  f"{self.cfg.flap_window / 60:g} min", now=now)
        conn.execute(update(alerts).where(alerts.c.id == row.id).values(**values))

    # ------------------------------------------------------------------ time passing
    def tick(self) -> dict[str, int]:
        """Resolve what settled, escalate what is due, deliver the outbox; return counts."""
        now = self.clock().astimezone(UTC)
        resolved = self._resolve_settled(now)
        notified = self._escalate(now)
        sent, pending = self.outbox.flush()
        counts = {"resolved": resolved, "notified": notified, "sent": sent, "pending": pending}
        if self.helpdesk.enabled:
            counts["tickets"] = self.helpdesk.flush()[0]
        if self.cfg.alertmanager:
            counts["forwarded"] = self._forward(now)
        return counts

    def _forward(self, now: datetime) -> int:
        """Push open alerts, and those resolved since the last push, to Alertmanager."""
        since = now - timedelta(seconds=max(self.cfg.tick * 4, 60))
        rows = self.list(status=OPEN) + [a for a in self.list(status=("resolved",))
                                         if a["resolved_at"] and a["resolved_at"] >= since]
        return alertmanager.push(self.cfg.alertmanager, alertmanager.payload(rows, self.settings.inventory.by_name),
                                 auth=self.cfg.alertmanager_auth, base_dir=self.settings.config.base_dir)

    def _resolve_settled(self, now: datetime) -> int:
        limit = now - timedelta(seconds=self.cfg.resolve_after)
        with chain.transaction(self.store, "alert_events") as conn:
            rows = conn.execute(select(alerts.c.id).where(and_(
                alerts.c.status.in_(OPEN), alerts.c.ok_since.is_not(None), alerts.c.ok_since <= limit))).all()
            for (alert_id,) in rows:
                conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                    status="resolved", resolved_at=now, resolved_by="oti-agent"))
                self._event(conn, alert_id, "resolved", f"normal desde hace {self.cfg.resolve_after / 60:g} min",
                            by="oti-agent", now=now)
        for (alert_id,) in rows:
            escalation.ticket_solved(self.helpdesk, alert_id, "oti-agent", "la lectura volvió a la normalidad")
        return len(rows)

    def _escalate(self, now: datetime) -> int:
        """Send every escalation step due now (S.04.04.01.03_P activities 8–9); return how many went."""
        inventory = self.settings.inventory.by_name
        count = 0
        for row in self.list(status=("open",)):
            device = inventory.get(row["device"])
            policy = escalation.policy_for(self.cfg.policies, row, device.kind if device else "")
            if policy is None:
                continue
            steps = escalation.due(policy, row, now)
            for i in steps:
                events = escalation.notify(self.settings, self.outbox, row, policy, i, device, now)
                events += escalation.open_ticket(self.helpdesk, row, policy, i, device)
                for event, detail in events:
                    self._log_event(row["id"], event, detail, now)
                count += any("[outbox" in detail for _, detail in events)
            if steps:
                with chain.transaction(self.store, "alert_events") as conn:
                    conn.execute(update(alerts).where(alerts.c.id == row["id"]).values(
                        steps_sent=max(row["steps_sent"], max(steps) + 1), last_notified_at=now))
        return count

    # ------------------------------------------------------------------ people
    def ack(self, alert_id: int, by: str, comment: str | None = None) -> dict:
        """Acknowledge: someone is on it; escalation stops."""
        row = self.get(alert_id)
        if row["status"] != "open":
            raise AlertError(f"alert {alert_id} is {row['status']}, not open")
        now = self.clock().astimezone(UTC)
        with chain.transaction(self.store, "alert_events") as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                status="acknowledged", acked_by=by, acked_at=now, comment=comment))
            self._event(conn, alert_id, "acknowledged", comment, by=by, now=now)
        return self.get(alert_id)

    def escalate(self, alert_id: int, by: str, comment: str | None = None) -> dict:
        """Send the next escalation step now, by hand (activity 8: the specialist cannot solve it); an
        acknowledged alert is escalated too — someone is on it and asks for the next level."""
        row = self.get(alert_id)
        if row["status"] == "resolved":
            raise AlertError(f"alert {alert_id} is resolved; there is nothing to escalate")
        device = self.settings.inventory.by_name.get(row["device"])
        policy = escalation.policy_for(self.cfg.policies, row, device.kind if device else "")
        if policy is None:
            raise AlertError(f"alert {alert_id}: no escalation policy of alerts.policies applies to it")
        index = min(row["steps_sent"], len(policy.steps) - 1)
        now = self.clock().astimezone(UTC)
        self._log_event(row["id"], "escalated", f"a mano por {by}" + (f": {comment}" if comment else ""), now)
        for event, detail in escalation.notify(self.settings, self.outbox, row, policy, index, device, now) + \
                escalation.open_ticket(self.helpdesk, row, policy, index, device):
            self._log_event(row["id"], event, detail, now)
        with chain.transaction(self.store, "alert_events") as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                steps_sent=max(row["steps_sent"], index + 1), last_notified_at=now))
        return self.get(alert_id)

    def resolve(self, alert_id: int, by: str, comment: str | None = None) -> dict:
        """Close an alert by hand (the cause was dealt with)."""
        row = self.get(alert_id)
        if row["status"] == "resolved":
            raise AlertError(f"alert {alert_id} was already resolved on {row['resolved_at']:%d/%m/%Y %H:%M}")
        now = self.clock().astimezone(UTC)
        with chain.transaction(self.store, "alert_events") as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                status="resolved", resolved_by=by, resolved_at=now, comment=comment or row["comment"]))
            self._event(conn, alert_id, "resolved", comment, by=by, now=now)
        escalation.ticket_solved(self.helpdesk, alert_id, by, comment)
        return self.get(alert_id)

    def silence(self, device: str, seconds: float, by: str, reason: str) -> datetime:
        """Keep a device quiet for a while (its readings still recorded); return until when."""
        if device not in self.settings.inventory.by_name:
            raise AlertError(f"no device {device!r} in the inventory")
        now = self.clock().astimezone(UTC)
        until = now + timedelta(seconds=seconds)
        with chain.transaction(self.store, "alert_events") as conn:
            conn.execute(insert(silences).values(device=device, until=until, reason=reason, by=by, created_at=now))
        return until

    def comment(self, alert_id: int, by: str, text: str, event: str = "comment") -> dict:
        """Add a note to an alert's history: a comment, or the vendor's answer (`vendor_reply`, activity 10)."""
        if event not in NOTES:
            raise AlertError(f"an alert note is one of {', '.join(NOTES)}, not {event!r}")
        if not text or not text.strip():
            raise AlertError(f"alert {alert_id}: an empty note says nothing; write what was answered or done")
        self.get(alert_id)
        with chain.transaction(self.store, "alert_events") as conn:
            event_id = self._event(conn, alert_id, event, text.strip(), by=by, now=self.clock().astimezone(UTC))
        if event == "vendor_reply":
            escalation.ticket_note(self.helpdesk, alert_id, event_id, by, text.strip())
        return self.get(alert_id)

    def silenced(self) -> list[dict]:
        """The silences in force now, soonest to end first: device, until, reason, by, created_at."""
        now = self.clock().astimezone(UTC)
        return self.store.rows(select(silences).where(silences.c.until > now).order_by(silences.c.until))

    # ------------------------------------------------------------------ reading
    def get(self, alert_id: int) -> dict:
        """One alert; an AlertError pointing at `oti-agent alerts` when there is none."""
        found = self.list(ids=[alert_id])
        if not found:
            raise AlertError(f"no alert {alert_id}; see `oti-agent alerts`")
        return found[0]

    def list(self, status: tuple[str, ...] | None = OPEN, ids: list[int] | None = None) -> list[dict]:
        """Alerts, oldest first: by status (None: all) or by id."""
        return queries.alerts_list(self.store, status, ids)

    def events(self, alert_id: int) -> list[dict]:
        """An alert's history, oldest first."""
        return queries.alert_events(self.store, [alert_id])[alert_id]

    def _log_event(self, alert_id: int, event: str, detail: str | None, now: datetime) -> None:
        with chain.transaction(self.store, "alert_events") as conn:
            self._event(conn, alert_id, event, detail, now=now)

    @staticmethod
    def _event(conn, alert_id: int, event: str, detail: str | None, by: str | None = None, now=None) -> int:
        return chain.insert(conn, alert_events, alert_id=alert_id, event=event, detail=detail, by=by,
                            at=now or datetime.now(UTC))
