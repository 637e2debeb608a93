"""Tables of the store, as they are now (`migrations.py` brings an older store to this shape)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

latest_readings = Table(
    "latest_readings", metadata,
    Column("device", String(128), primary_key=True),
    Column("reading", String(512), primary_key=True),      # name{labels}
    Column("check_name", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("labels", Text, nullable=False),                # JSON list of [label, value]
    Column("value", Float),
    Column("text", Text),
    Column("state", Integer, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("message", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

state_changes = Table(
    "state_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(128), nullable=False),
    Column("reading", String(512), nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("from_state", Integer),                         # NULL: first time seen
    Column("to_state", Integer, nullable=False),
    Column("value", Float),
    Column("text", Text),
    Column("message", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_state_changes_device_at", "device", "at"),
    Index("ix_state_changes_at", "at"),
)

check_status = Table(
    "check_status", metadata,
    Column("device", String(128), primary_key=True),
    Column("check_name", String(64), primary_key=True),
    Column("up", Boolean, nullable=False),
    Column("error", Text),
    Column("error_kind", String(16)),
    Column("duration_s", Float, nullable=False),
    Column("last_run", DateTime(timezone=True), nullable=False),
    Column("runs_total", Integer, nullable=False, default=0),
    Column("errors_total", Integer, nullable=False, default=0),
    Column("failing_since", DateTime(timezone=True)),      # when its current run of failures began (v7)
)


runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("runbook", String(128), nullable=False),
    Column("runbook_path", Text, nullable=False),
    Column("runbook_digest", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("params", Text, nullable=False),                # JSON
    Column("status", String(32), nullable=False),          # pending running awaiting_* successful completed_with_failures failed canceled
    Column("started_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("pid", Integer),
    Column("message", Text),
    Column("trigger", Text),                               # JSON: why it started (person, schedule, policy)
)

run_steps = Table(
    "run_steps", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("step_id", String(128), primary_key=True),
    Column("status", String(32), nullable=False),          # pending running awaiting_* successful failed skipped canceled timeout
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("message", Text),
)

run_actions = Table(
    "run_actions", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("step_id", String(128), primary_key=True),
    Column("target", String(128), primary_key=True),       # '' for steps without targets
    Column("status", String(32), nullable=False),          # started done failed
    Column("attempt", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("by", String(128)),
    Column("message", Text),
)

run_decisions = Table(
    "run_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),            # approval | confirm | resolve
    Column("role", String(64)),
    Column("by", String(128), nullable=False),
    Column("decision", String(16), nullable=False),        # approved rejected confirmed retry skip done abort
    Column("comment", Text),
    Column("values", Text),                                # JSON readings a person entered
    Column("at", DateTime(timezone=True), nullable=False),
    Column("channel", String(16)),                         # web email cli api agent (a policy, an expiry)
    Column("address", String(64)),                         # where the person acted from
    Column("held_as", String(32)),                         # titular | encargado
    Column("superseded", Boolean, nullable=False, default=False, server_default=false()),   # a round sent back to reschedule
    Index("ix_run_decisions_run", "run_id", "step_id"),
)

run_events = Table(
    "run_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("step_id", String(128)),
    Column("target", String(128)),
    Column("event", String(32), nullable=False),
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_run_events_run", "run_id", "id"),
)

maintenance = Table(
    "maintenance", metadata,
    Column("device", String(128), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
)


backup_runs = Table(
    "backup_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset", String(128), nullable=False),
    Column("slot", DateTime(timezone=True)),               # the scheduled time it answers; NULL when run by hand
    Column("attempt", Integer, nullable=False),
    Column("trigger", String(16), nullable=False),         # schedule | manual
    Column("backend", String(64), nullable=False),
    Column("job_name", String(128), nullable=False),
    Column("job_id", String(64)),
    Column("level", String(16), nullable=False),           # Full | Incremental | Differential
    Column("status", String(16), nullable=False),          # running ok warning failed canceled error
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("files", Integer, nullable=False, default=0),
    Column("volumes", Text),                               # comma-separated tape labels
    Column("errors", Text),                                # JSON list of the job's error lines
    Column("message", Text),
    Index("ix_backup_runs_asset", "asset", "started_at"),
    Index("ix_backup_runs_slot", "asset", "slot"),
)

tapes = Table(
    "tapes", metadata,
    Column("label", String(64), primary_key=True),         # the volume's label = its barcode
    Column("backend", String(64), nullable=False),
    Column("pool", String(64)),
    Column("status", String(16), nullable=False),          # append full used error recycled scratch read_only
    Column("backend_status", String(32)),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("first_written", DateTime(timezone=True)),
    Column("last_written", DateTime(timezone=True)),
    Column("retention_until", DateTime(timezone=True)),
    Column("slot", Integer),
    Column("location", String(16), nullable=False),        # biblioteca oficina custodia
    Column("box", String(64)),
    Column("synced_at", DateTime(timezone=True), nullable=False),
)

tape_boxes = Table(
    "tape_boxes", metadata,
    Column("box", String(64), primary_key=True),           # the custody box number
    Column("seal", String(64)),                            # precinto de seguridad
    Column("status", String(16), nullable=False),          # preparada enviada en_oficina
    Column("company", String(128)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("returned_at", DateTime(timezone=True)),
    Column("note", Text),
)

tape_box_items = Table(
    "tape_box_items", metadata,
    Column("box", String(64), primary_key=True),
    Column("label", String(64), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True)),
)

custody_movements = Table(
    "custody_movements", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("box", String(64), nullable=False),
    Column("movement", String(32), nullable=False),        # preparada enviada solicitada_emergencia recibida
    Column("tapes", Text),                                 # labels in the box at that moment
    Column("seal", String(64)),
    Column("by", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
    Index("ix_custody_box", "box", "at"),
)


restores = Table(
    "restores", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),          # the restore runbook's run
    Column("requester", String(128), nullable=False),      # Solicitante: the requesting unit
    Column("asset", String(128), nullable=False),
    Column("server", String(128)),
    Column("requested_date", String(10), nullable=False),  # the date asked for, YYYY-MM-DD
    Column("backup_date", DateTime(timezone=True)),        # when the backup restored was made
    Column("jobs", String(256)),                           # the backend's job ids restored
    Column("restore_name", String(256)),
    Column("files", Integer, nullable=False, default=0),
    Column("directories", Integer, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False),          # completado fallido sin_copia
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)


alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(128), nullable=False),
    Column("reading", String(256), nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("severity", Integer, nullable=False),           # the worst State seen: 1 WARNING, 2 CRITICAL
    Column("state", Integer, nullable=False),              # the reading's state now
    Column("value", Float),
    Column("text", Text),
    Column("message", Text),
    Column("status", String(16), nullable=False),          # open acknowledged resolved
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("ok_since", DateTime(timezone=True)),
    Column("changes", Integer, nullable=False, default=1),
    Column("flapping", Boolean, nullable=False, default=False),
    Column("steps_sent", Integer, nullable=False, default=0),
    Column("last_notified_at", DateTime(timezone=True)),
    Column("acked_by", String(128)),
    Column("acked_at", DateTime(timezone=True)),
    Column("resolved_by", String(128)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("comment", Text),
    Index("ix_alerts_key", "device", "reading", "status"),
)

alert_events = Table(
    "alert_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=False),
    Column("event", String(32), nullable=False),           # opened worse notified flapping acknowledged resolved
    Column("detail", Text),
    Column("by", String(128)),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_alert_events_alert", "alert_id", "id"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("to", Text, nullable=False),                    # JSON list of addresses
    Column("cc", Text),                                    # JSON list of addresses
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("html", Text),                                  # an HTML alternative of the body
    Column("attachments", Text),                           # JSON list of archived files to attach
    Column("source", String(64)),                          # e.g. alert:12
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("message_id", String(256)),
    Column("status", String(16), nullable=False, server_default="queued"),   # queued sent failed withdrawn (v6)
    Column("next_at", DateTime(timezone=True)),            # not tried again before (a message's own failure, v8)
    Column("claimed_by", String(128)),                     # host:pid:start of the process sending it (v10)
)

silences = Table(
    "silences", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(128), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("reason", Text),
    Column("by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


uptime_days = Table(
    "uptime_days", metadata,
    Column("device", String(128), primary_key=True),
    Column("check_name", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),           # YYYY-MM-DD, a day of the office (agent.timezone)
    Column("runs", Integer, nullable=False, default=0),
    Column("up_runs", Integer, nullable=False, default=0),
)

access_log = Table(
    "access_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("day", String(10), nullable=False),             # Fecha de ingreso, YYYY-MM-DD
    Column("name", String(256), nullable=False),           # Nombre y apellidos
    Column("id_number", String(32), nullable=False),       # Identificación / DNI
    Column("company", String(256), nullable=False),        # Entidad / proveedor
    Column("activity", Text, nullable=False),              # Actividad realizada
    Column("time_in", String(5), nullable=False),          # Hora de ingreso, HH:MM
    Column("time_out", String(5)),                         # Hora de salida
    Column("recorded_by", String(128), nullable=False),    # who recorded it: "Name (login)"
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the jefa's authorisation (activity 7): requested → authorised | refused, by whom ("Name (login)"), as
    # titular or encargado, when, with her comment
    Column("status", String(16), nullable=False, server_default="requested"),
    Column("decided_by", String(128)),
    Column("decided_as", String(16)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_comment", Text),
    Column("request_id", Integer),                         # the authorised request it is the visit of (v12)
)


network_events = Table(      # S.04.03.02_P flow 3: what the network equipment's syslog said that matters
    "network_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(128), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),   # the sender's time, else the arrival
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("category", String(16), nullable=False),        # configuracion | puerto | vpn
    Column("vendor", String(32), nullable=False),
    Column("user", String(128)),
    Column("port", String(128)),
    Column("detail", Text, nullable=False),                # the message text (cut at 1000 characters)
)

pending_updates = Table(
    "pending_updates", metadata,
    Column("host", String(128), primary_key=True),
    Column("item", String(256), primary_key=True),         # a package or update still missing on the host
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)


# the tables of people (accounts, tokens, sessions) and of the daemon's runs (asking, schedules, policies)
from agent.store.schema_people import (  # noqa: E402, F401 - re-exported; they share the metadata above
    accounts,
    api_tokens,
    approval_links,
    login_failures,
    policy_episodes,
    run_waits,
    schedule_runs,
    web_sessions,
)

