"""The read model: every question documents, probes, the CLI (and later the API) ask the store.

Rows come back as dicts with times zone-aware (UTC) and states as `State`, never raw integers; a
database error is a StoreError (see `Store.rows`). Writes belong to the store and to each table's
owning domain module (alerts, backups, runbook journal, outbox, access log), never to a reader.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from agent.core.results import State
from agent.core.times import utc
from agent.store import schema as t
from agent.store import schema_assets as a

OPEN = ("open", "acknowledged")
GOOD_BACKUP = ("ok", "warning")
COMPLIANCE = "compliance_ok"


def _states(rows: list[dict], *keys: str) -> list[dict]:
    for r in rows:
        for k in keys:
            if r.get(k) is not None:
                r[k] = State(r[k])
    return rows


# ---------------------------------------------------------------------- monitoring
def check_statuses(store) -> list[dict]:
    """The last run of every (device, check): up, error, when."""
    return store.rows(select(t.check_status).order_by(t.check_status.c.device, t.check_status.c.check_name))


def latest(store, *, device: str | None = None, name: str | None = None) -> list[dict]:
    """The latest readings (optionally of one device, or one reading name), labels decoded."""
    q = select(t.latest_readings).order_by(t.latest_readings.c.device, t.latest_readings.c.reading)
    if device is not None:
        q = q.where(t.latest_readings.c.device == device)
    if name is not None:
        q = q.where(t.latest_readings.c.name == name)
    rows = _states(store.rows(q), "state")
    for r in rows:
        r["labels"] = dict(json.loads(r["labels"] or "[]"))
    return rows


def critical_readings(store) -> list[dict]:
    """Readings CRITICAL now, compliance verdicts aside (they are lines of their own)."""
    return [r for r in latest(store) if r["state"] == State.CRITICAL and r["name"] != COMPLIANCE]


def compliance_verdicts(store) -> list[dict]:
    """Each host's compliance verdict (`compliance_ok`), with its area and host labels."""
    return latest(store, name=COMPLIANCE)


def compliance_since(store) -> dict[tuple[str, str], datetime]:
    """(device, reading) -> when each compliance verdict last changed state (what it is since)."""
    c = t.state_changes.c
    q = (select(c.device, c.reading, func.max(c.at, type_=c.at.type).label("at"))
         .where(c.reading.like(COMPLIANCE + "{%"))
         .group_by(c.device, c.reading))
    return {(r["device"], r["reading"]): r["at"] for r in store.rows(q)}


def worst_state(store) -> dict[str, State]:
    """Each device's worst reading now; an UNKNOWN reading (no data) does not make a device worse."""
    out: dict[str, State] = {}
    for r in store.rows(select(t.latest_readings.c.device, t.latest_readings.c.state)):
        state, seen = State(r["state"]), out.get(r["device"], State.OK)
        out[r["device"]] = state if state != State.UNKNOWN and state > seen else seen
    return out


def availability(store, first_day: str, end_day: str) -> dict[str, tuple[int, int]]:
    """(runs, answered runs) of each device over the days [first_day, end_day), YYYY-MM-DD."""
    out: dict[str, tuple[int, int]] = {}
    for r in store.rows(select(t.uptime_days).where(and_(t.uptime_days.c.day >= first_day, t.uptime_days.c.day < end_day))):
        runs_, up = out.get(r["device"], (0, 0))
        out[r["device"]] = (runs_ + r["runs"], up + r["up_runs"])
    return out


# ---------------------------------------------------------------------- alerts
def alerts_list(store, status: tuple[str, ...] | None = OPEN, ids: list[int] | None = None) -> list[dict]:
    """Alerts, oldest first: by status (None: all) or by id."""
    q = select(t.alerts).order_by(t.alerts.c.opened_at, t.alerts.c.id)
    if ids is not None:
        q = q.where(t.alerts.c.id.in_(ids))
    elif status is not None:
        q = q.where(t.alerts.c.status.in_(status))
    return _states(store.rows(q), "severity", "state")


def alerts_during(store, since: datetime, until: datetime) -> list[dict]:
    """Alerts alive at some moment of [since, until): opened before its end, not resolved before its start."""
    return _states(store.rows(select(t.alerts).where(and_(
        t.alerts.c.opened_at < utc(until), or_(t.alerts.c.resolved_at.is_(None), t.alerts.c.resolved_at >= utc(since))))
        .order_by(t.alerts.c.opened_at, t.alerts.c.id)), "severity", "state")


def alerts_opened(store, since: datetime, until: datetime) -> list[dict]:
    """Alerts opened in [since, until)."""
    return _states(store.rows(select(t.alerts).where(and_(t.alerts.c.opened_at >= utc(since),
                                                         t.alerts.c.opened_at < utc(until)))
                              .order_by(t.alerts.c.opened_at, t.alerts.c.id)), "severity", "state")


def alert_events(store, alert_ids: list[int], event: str | None = None) -> dict[int, list[dict]]:
    """The events of some alerts, oldest first, by alert id."""
    q = select(t.alert_events).where(t.alert_events.c.alert_id.in_(alert_ids)).order_by(t.alert_events.c.id)
    if event is not None:
        q = q.where(t.alert_events.c.event == event)
    out: dict[int, list[dict]] = {i: [] for i in alert_ids}
    for r in store.rows(q):
        out[r["alert_id"]].append(r)
    return out


def quiet_devices(store, now: datetime) -> set[str]:
    """Devices that record but do not alarm: in a running runbook's maintenance, or silenced until after now."""
    found = {r["device"] for r in store.rows(select(t.maintenance.c.device))}
    return found | {r["device"] for r in store.rows(select(t.silences.c.device).where(t.silences.c.until > utc(now)))}


def vendor_escalated(alert: dict, events: list[dict], vendor_email: str | None) -> bool:
    """Whether an alert was escalated to its device's vendor: an incidente, not an evento (activities 8–10)."""
    return bool(vendor_email) and any(vendor_email in (e["detail"] or "") for e in events if e["event"] == "notified")


# ---------------------------------------------------------------------- backups, tapes, custody
def backup_runs(store, since: datetime | None = None, until: datetime | None = None,
                asset: str | None = None, *, newest_first: bool = False, limit: int | None = None) -> list[dict]:
    """Backup runs started in [since, until), oldest first (or the newest `limit` first); errors decoded."""
    order = (t.backup_runs.c.started_at.desc(), t.backup_runs.c.id.desc()) if newest_first else \
        (t.backup_runs.c.started_at, t.backup_runs.c.id)
    q = select(t.backup_runs).order_by(*order)
    if since is not None:
        q = q.where(t.backup_runs.c.started_at >= utc(since))
    if until is not None:
        q = q.where(t.backup_runs.c.started_at < utc(until))
    if asset is not None:
        q = q.where(t.backup_runs.c.asset == asset)
    if limit is not None:
        q = q.limit(limit)
    rows = store.rows(q)
    for r in rows:
        r["errors"] = json.loads(r["errors"]) if r["errors"] else []
    return rows


def last_good_backup(store, asset: str) -> dict | None:
    """The asset's newest backup that ended well (ended_at, bytes), or None."""
    found = store.rows(select(t.backup_runs.c.ended_at, t.backup_runs.c.bytes).where(and_(
        t.backup_runs.c.asset == asset, t.backup_runs.c.status.in_(GOOD_BACKUP)))
        .order_by(t.backup_runs.c.ended_at.desc()).limit(1))
    return found[0] if found else None


def tape_list(store) -> list[dict]:
    """Every tape of the inventory, by label."""
    return store.rows(select(t.tapes).order_by(t.tapes.c.label))


def tape_boxes_list(store) -> dict[str, dict]:
    """Every custody box with the tapes in it now."""
    boxes = {r["box"]: {**r, "tapes": []} for r in store.rows(select(t.tape_boxes).order_by(t.tape_boxes.c.box))}
    for r in store.rows(select(t.tape_box_items).where(t.tape_box_items.c.removed_at.is_(None))
                        .order_by(t.tape_box_items.c.label)):
        boxes[r["box"]]["tapes"].append(r["label"])
    return boxes


def jobs_by_tape(store) -> dict[str, list[str]]:
    """For each tape, the backups it holds: 'asset (dd/mm/yyyy, job N)'."""
    out: dict[str, list[str]] = {}
    for r in store.rows(select(t.backup_runs).where(t.backup_runs.c.volumes.is_not(None))
                        .order_by(t.backup_runs.c.started_at)):
        for label in filter(None, (r["volumes"] or "").split(",")):
            out.setdefault(label, []).append(f"{r['asset']} ({r['started_at']:%d/%m/%Y}, job {r['job_id']})")
    return out


def custody_movements(store, box: str | None = None, since: datetime | None = None,
                      until: datetime | None = None) -> list[dict]:
    """Custody movements, oldest first (of one box, or in a period)."""
    q = select(t.custody_movements).order_by(t.custody_movements.c.at, t.custody_movements.c.id)
    if box is not None:
        q = q.where(t.custody_movements.c.box == box)
    if since is not None:
        q = q.where(t.custody_movements.c.at >= utc(since))
    if until is not None:
        q = q.where(t.custody_movements.c.at < utc(until))
    return store.rows(q)


def restore_list(store) -> list[dict]:
    """Every restore recorded (the bitácora de restauración, Anexo 06), oldest first."""
    return store.rows(select(t.restores).order_by(t.restores.c.at, t.restores.c.id))


# ---------------------------------------------------------------------- access log
ACCESS_ENTERED = ("requested", "authorised")      # a refused entry is nobody who went in


def access_entries(store, first_day: str, end_day: str,
                   statuses: tuple[str, ...] | None = ACCESS_ENTERED) -> list[dict]:
    """Entries to the datacenter on the days [first_day, end_day), YYYY-MM-DD, by day and time in: those
    the monthly report transcribes (not the refused ones) unless `statuses` says (None: every one)."""
    q = select(t.access_log).where(and_(t.access_log.c.day >= first_day, t.access_log.c.day < end_day))
    if statuses is not None:
        q = q.where(t.access_log.c.status.in_(statuses))
    return store.rows(q.order_by(t.access_log.c.day, t.access_log.c.time_in, t.access_log.c.id))


def access_pending(store) -> list[dict]:
    """Entries waiting for the jefa's authorisation, oldest first."""
    return store.rows(select(t.access_log).where(t.access_log.c.status == "requested")
                      .order_by(t.access_log.c.day, t.access_log.c.time_in, t.access_log.c.id))


def access_entry(store, entry_id: int) -> dict | None:
    found = store.rows(select(t.access_log).where(t.access_log.c.id == entry_id))
    return found[0] if found else None


# ---------------------------------------------------------------------- outbox
def outbox_messages(store, *, status: tuple[str, ...] | None = ("queued",), source: str | None = None,
                    ids: list[int] | None = None) -> list[dict]:
    """Messages by status (queued, sent, failed, withdrawn; None: all), oldest first; lists decoded."""
    q = select(t.outbox).order_by(t.outbox.c.id)
    if status is not None:
        q = q.where(t.outbox.c.status.in_(status))
    if ids is not None:
        q = q.where(t.outbox.c.id.in_(ids))
    if source is not None:
        q = q.where(t.outbox.c.source == source)
    rows = store.rows(q)
    for r in rows:
        r["to"], r["cc"] = json.loads(r["to"]), json.loads(r["cc"] or "[]")
        r["attachments"] = json.loads(r["attachments"] or "[]")
    return rows


# ---------------------------------------------------------------------- runbook runs
def run_row(store, run_id: str) -> dict | None:
    found = store.rows(select(t.runs).where(t.runs.c.id == run_id))
    if not found:
        return None
    found[0]["params"] = json.loads(found[0]["params"])
    found[0]["trigger"] = json.loads(found[0]["trigger"]) if found[0].get("trigger") else {}
    return found[0]


def run_list(store, limit: int = 20, statuses: set[str] | None = None) -> list[dict]:
    q = select(t.runs).order_by(t.runs.c.created_at.desc()).limit(limit)
    if statuses is not None:
        q = q.where(t.runs.c.status.in_(sorted(statuses)))
    return store.rows(q)


def run_step_rows(store, run_id: str) -> dict[str, dict]:
    return {r["step_id"]: r for r in store.rows(select(t.run_steps).where(t.run_steps.c.run_id == run_id))}


def run_action_rows(store, run_id: str, step_id: str | None = None) -> list[dict]:
    q = select(t.run_actions).where(t.run_actions.c.run_id == run_id).order_by(t.run_actions.c.started_at)
    if step_id is not None:
        q = q.where(t.run_actions.c.step_id == step_id)
    return store.rows(q)


def run_decision_rows(store, run_id: str, step_id: str | None = None, kind: str | None = None,
                      superseded: bool = False) -> list[dict]:
    """A run's decisions, oldest first; those of rounds sent back only when asked (`superseded`)."""
    q = select(t.run_decisions).where(t.run_decisions.c.run_id == run_id).order_by(t.run_decisions.c.id)
    if not superseded:
        q = q.where(t.run_decisions.c.superseded.is_(False))
    if step_id is not None:
        q = q.where(t.run_decisions.c.step_id == step_id)
    if kind is not None:
        q = q.where(t.run_decisions.c.kind == kind)
    rows = store.rows(q)
    for r in rows:
        r["values"] = json.loads(r["values"]) if r["values"] else {}
    return rows


def run_event_rows(store, run_id: str, event: str | None = None, after: int = 0,
                   step_id: str | None = None) -> list[dict]:
    """A run's journal events in order (only those after id `after`: a client following a run)."""
    q = select(t.run_events).where(t.run_events.c.run_id == run_id, t.run_events.c.id > after)
    if event is not None:
        q = q.where(t.run_events.c.event == event)
    if step_id is not None:
        q = q.where(t.run_events.c.step_id == step_id)
    return store.rows(q.order_by(t.run_events.c.id))


def maintenance_devices(store) -> set[str]:
    return {r["device"] for r in store.rows(select(t.maintenance.c.device))}


# ---------------------------------------------------------------------- the HTTP API (agent/api/routes)
def store_version(store) -> int:
    """The schema version the store is at (the health check's one query)."""
    return int(store.scalar(select(func.max(t.schema_version.c.version))) or 0)


# ---------------------------------------------------------------------- automation: schedules and policies
# (read side of agent/runbook/schedules.py and agent/runbook/policies.py)
def schedule_run_rows(store, schedule: str | None = None, limit: int = 100) -> list[dict]:
    """A schedule's occurrences (or all schedules'), newest first: due_at, outcome, run_id."""
    q = (select(t.schedule_runs).order_by(t.schedule_runs.c.due_at.desc(), t.schedule_runs.c.schedule)
         .limit(limit))
    if schedule is not None:
        q = q.where(t.schedule_runs.c.schedule == schedule)
    return store.rows(q)


def policy_episode_rows(store, policy: str | None = None, *, open_only: bool = False,
                        limit: int = 100) -> list[dict]:
    """A policy's episodes (or all policies'), newest first: device, since, started_at, ended_at, run_id,
    reason; `open_only`: those not ended."""
    q = select(t.policy_episodes).order_by(t.policy_episodes.c.id.desc()).limit(limit)
    if policy is not None:
        q = q.where(t.policy_episodes.c.policy == policy)
    if open_only:
        q = q.where(t.policy_episodes.c.ended_at.is_(None))
    return store.rows(q)


# ---------------------------------------------------------------- runs the daemon carries out: who was asked
def run_wait_rows(store, run_id: str | None = None) -> list[dict]:
    """The steps waiting for a role, with whom they asked (a JSON list of logins, decoded)."""
    q = select(t.run_waits)
    if run_id is not None:
        q = q.where(t.run_waits.c.run_id == run_id)
    rows = store.rows(q)
    for r in rows:
        r["asked"] = json.loads(r["asked"]) if r["asked"] else []
    return rows


def network_events(store, since: datetime, until: datetime) -> list[dict]:
    """The network equipment's syslog events of a period (configuration, ports, VPN), oldest first."""
    return store.rows(select(t.network_events).where(and_(t.network_events.c.at >= utc(since),
                                                          t.network_events.c.at < utc(until)))
                      .order_by(t.network_events.c.at, t.network_events.c.id))



# ---------------------------------------------------------------- IT assets (S.04.04.01.01_P)
def asset_rows(store, table: str, ids: list | None = None) -> list[dict]:
    """The rows of an asset table by key: 'licences' (Anexo 1), 'warranties', 'maintenance_records' (Anexo 2),
    'service_records' (Anexo 3); or those of some keys (ITEM, device, N.º)."""
    found = {t.name: t for t in (a.licences, a.warranties, a.maintenance_records, a.service_records)}[table]
    key = found.primary_key.columns.values()[0]
    return store.rows(select(found).order_by(key) if ids is None else select(found).where(key.in_(ids)).order_by(key))


def renewal_rows(store, since: datetime, until: datetime) -> list[dict]:
    """Licences and warranties renewed in [since, until), oldest first."""
    c = a.asset_renewals.c
    return store.rows(select(a.asset_renewals).where(c.at >= utc(since), c.at < utc(until)).order_by(c.at, c.id))


def power_state_rows(store) -> dict[str, dict]:
    """The power policy's latched state per UPS (agent/power/state.py writes it)."""
    from agent.store.schema_power import power_states

    return {r["ups"]: r for r in store.rows(select(power_states))}


def journal_anchors(store, day: str, now: datetime, config) -> list[dict]:
    """The heads of the hash-chained journals for the office's `day` (the daily checklist prints them): fixed,
    and signed with `integrity.signing_key` when there is one, the first time they are asked for — the one
    write a reader makes, so a checklist built again prints the same anchors (agent/store/chain.py)."""
    from agent.store import chain, chain_sign

    signer = chain_sign.signer_for(config.integrity, config.base_dir)
    return [{**a, "name": chain.NAMES_ES[a["chain"]], "text": chain.anchor_string(a["chain"], a["seq"], a["hash"])}
            for a in chain.anchor(store, day, now, signer)]
