"""Expiry notices of licences and warranties (S.04.04.01.01_P flow 1, activities 14–15 and 31–32: verify what
is about to end in the OTI's master and tell the unit, so it considers renewing): the only writer of
`expiry_notices`.

Once a day (`renewals.notice_time`, and once when the daemon starts) every licence of the master and every
device's warranty still `vigente` is compared with `renewals.notice_days`: when its TERMINO is that many
days away or fewer, one alert is raised in the alert book — once per threshold and end date; when the
agent first looks at something already past several thresholds, only the nearest is raised — so the
normal escalation (alerts.policies) mails it and people acknowledge it as any other alert. The nearest
threshold is CRITICAL, the others WARNING; a nearer notice supersedes the one before it. A renewal (a later
TERMINO) or a unit's decision not to renew, recorded in the console, resolves the item's open notices at
once; the daily look also resolves any whose item moved on.

A licence's alert has the device `licencias` (the master is not an inventory device); a warranty's is its
device, so its vendor and escalation by kind apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from agent.assets.fields import dmy
from agent.core.results import State
from agent.errors import AgentError
from agent.store import StateChange, queries
from agent.store.schema_assets import expiry_notices

_LOGGER = logging.getLogger(__name__)
CHECK = "assets.expiry"
LICENCES = "licencias"
READING = "vencimiento"
KIND_ES = {"licence": "licencia", "warranty": "garantia"}
_LABEL = re.compile(r'(\w+)="([^"]*)"')
MANUAL = "S.04.04.01.01_P, flujo 1, actividades 14–15 y 31–32"


@dataclass(frozen=True)
class Term:
    """Something that ends: a licence of the master or a device's warranty."""

    kind: str            # licence | warranty
    item: str            # the licence's ITEM, or the device
    name: str            # as a person reads it
    ends: date
    device: str          # the alert's device

    def reading(self, threshold: int) -> str:
        return f'{READING}{{tipo="{KIND_ES[self.kind]}",item="{self.item}",umbral="{threshold}"}}'


def terms(store) -> list[Term]:
    """Every licence and warranty still followed (vigente, with an end date)."""
    found = [Term("licence", str(r["id"]), f"{r['software']} (ITEM {r['id']})", date.fromisoformat(r["ends"]),
                  LICENCES) for r in queries.asset_rows(store, "licences") if r["status"] == "vigente" and r["ends"]]
    return found + [Term("warranty", r["device"], f"Garantía de {r['device']} ({r['vendor']})",
                         date.fromisoformat(r["ends"]), r["device"])
                    for r in queries.asset_rows(store, "warranties") if r["status"] == "vigente"]


def due(found: list[Term], today: date, thresholds: list[int], noticed: set[tuple]) -> list[tuple[Term, int, list]]:
    """(term, the nearest threshold it has reached, every threshold it has reached) for each term whose nearest
    threshold has not been noticed for its end date yet. `thresholds` are in descending order."""
    out = []
    for term in found:
        crossed = [d for d in thresholds if (term.ends - today).days <= d]
        if crossed and (term.kind, term.item, term.ends.isoformat(), crossed[-1]) not in noticed:
            out.append((term, crossed[-1], crossed))
    return out


def wording(term: Term, today: date) -> tuple[str, str]:
    """(the alert's text, its message) in Spanish."""
    left = (term.ends - today).days
    when = (f"vence el {dmy(term.ends.isoformat())}" if left >= 0 else f"venció el {dmy(term.ends.isoformat())}")
    span = f"en {left} días" if left > 1 else "mañana" if left == 1 else "hoy" if left == 0 else f"hace {-left} días"
    return (f"{term.name} {when}",
            f"{term.name} {when} ({span}). Verifique el maestro de la OTI y notifique a la unidad usuaria para "
            f"que considere la renovación ({MANUAL}).")


def labels(reading: str) -> dict[str, str]:
    """The labels of an expiry reading: tipo, item, umbral."""
    return dict(_LABEL.findall(reading.partition("{")[2]))


class ExpiryWatch:
    """The daily look at the master and the warranties, raising notices in an alert book."""

    def __init__(self, settings, store, book, clock=None):
        self.settings, self.store, self.book = settings, store, book
        self.clock = clock or (lambda: datetime.now(UTC))

    def _today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.settings.config.agent.timezone)).date()

    def _notices(self) -> list[dict]:
        return self.store.rows(select(expiry_notices))

    def run(self) -> dict[str, int]:
        """Raise the notices due today, resolve those whose item moved on; return counts."""
        now = self.clock().astimezone(UTC)
        today, found = self._today(now), terms(self.store)
        noticed = {(n["kind"], n["item"], n["ends"], n["threshold"]) for n in self._notices()}
        thresholds = list(self.settings.config.renewals.notice_days)
        raised = 0
        for term, threshold, crossed in due(found, today, thresholds, noticed):
            text, message = wording(term, today)
            severity = State.CRITICAL if threshold == thresholds[-1] else State.WARNING
            opened = self.book.process([StateChange(term.device, term.reading(threshold), CHECK, State.OK, severity,
                                                    float((term.ends - today).days), text, message, now)])
            if not opened:        # its device is quiet now (a runbook's maintenance, a silence): tomorrow again
                continue
            self._record(term, threshold, crossed, opened[0], now, noticed)
            self._resolve(term.kind, term.item, "oti-agent", f"sustituida por el aviso de {threshold} días",
                          keep=opened[0])
            raised += 1
        return {"raised": raised, "cleared": self._moved_on(found)}

    def _record(self, term: Term, threshold: int, crossed: list[int], alert_id: int, now: datetime,
                noticed: set[tuple]) -> None:
        ends = term.ends.isoformat()
        with self.store.transaction() as conn:
            for d in crossed:
                if (term.kind, term.item, ends, d) not in noticed:
                    conn.execute(insert(expiry_notices).values(kind=term.kind, item=term.item, ends=ends, threshold=d,
                                                               alert_id=alert_id if d == threshold else None, at=now))

    def _open(self, kind: str | None = None, item: str | None = None) -> list[tuple[dict, dict]]:
        """The open expiry alerts (of one item), with their labels."""
        rows = [(a, labels(a["reading"])) for a in queries.alerts_list(self.store, queries.OPEN)
                if a["check_name"] == CHECK and a["reading"].startswith(READING + "{")]
        return [(a, lab) for a, lab in rows
                if kind is None or (lab.get("tipo") == KIND_ES[kind] and lab.get("item") == item)]

    def _resolve(self, kind: str, item: str, by: str, why: str, keep: int | None = None) -> int:
        done = 0
        for alert, _ in self._open(kind, item):
            if alert["id"] != keep:
                self.book.resolve(alert["id"], by, why)
                done += 1
        return done

    def clear(self, kind: str, item: str, by: str, why: str) -> int:
        """Resolve an item's open notices now (a renewal or a decision recorded in the console by `by`)."""
        return self._resolve(kind, item, by, why)

    def _moved_on(self, found: list[Term]) -> int:
        """Resolve open notices whose item was renewed, is no longer followed, or is gone."""
        current = {(t.kind, t.item): t for t in found}
        raised_for = {n["alert_id"]: n["ends"] for n in self._notices() if n["alert_id"] is not None}
        done = 0
        for alert, lab in self._open():
            kind = next((k for k, v in KIND_ES.items() if v == lab.get("tipo")), None)
            term = current.get((kind, lab.get("item")))
            if term is None:
                why = "ya no se sigue su vencimiento (no se renovará, de baja o eliminada)"
            elif alert["id"] in raised_for and raised_for[alert["id"]] != term.ends.isoformat():
                why = f"renovada hasta el {dmy(term.ends.isoformat())}"
            else:
                continue
            self.book.resolve(alert["id"], "oti-agent", why)
            done += 1
        return done


def schedule(scheduler, daemon) -> None:
    """The daily look, in the daemon's scheduler: at renewals.notice_time (office time) and once at start."""
    watch = ExpiryWatch(daemon.settings, daemon.store, daemon.alerts)
    hour, minute = map(int, daemon.settings.config.renewals.notice_time.split(":"))

    async def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                counts = await asyncio.to_thread(watch.run)
            except AgentError as err:
                _LOGGER.error("renewals: the expiry look failed: %s (tried again at %s)", err,
                              daemon.settings.config.renewals.notice_time)
                return
            if any(counts.values()):
                _LOGGER.info("renewals: %s", " ".join(f"{k}={v}" for k, v in counts.items()))

    scheduler.add_job(run, "cron", hour=hour, minute=minute, id="renewals", max_instances=1, coalesce=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=5))   # once the API answers
