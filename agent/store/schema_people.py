"""Tables of people (local accounts, API tokens, web sessions, failed logins) and of the runs the daemon
carries out (who was asked, single-use links, schedule occurrences, policy episodes). Part of the one
schema: `agent/store/schema.py` re-exports them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text

from agent.store.schema import metadata

# ---------------------------------------------------------------- people: accounts, tokens, sessions
accounts = Table(
    "accounts", metadata,                                  # local passwords (the directory's are not here)
    Column("login", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),         # Argon2id, with its parameters
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", String(16), primary_key=True),            # the public half, shown in listings
    Column("login", String(64), nullable=False),
    Column("name", String(128), nullable=False),           # what it is for ("backup script")
    Column("secret_hash", String(64), nullable=False),     # sha256 of the secret half
    Column("scopes", Text, nullable=False),                # JSON list
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

login_failures = Table(
    "login_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_login_failures_at", "at"),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),       # sha256 of the cookie's value
    Column("login", String(64), nullable=False),
    Column("identity", Text, nullable=False),              # JSON: name, e-mail, roles, source at login
    Column("csrf", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# ---------------------------------------------------------------- runs in the daemon: asking people, schedules
run_waits = Table(
    "run_waits", metadata,                                 # a step waiting for a role: who was asked, when
    Column("run_id", String(64), primary_key=True),
    Column("step_id", String(128), primary_key=True),
    Column("role", String(64), nullable=False),
    Column("unit", String(64)),
    Column("asked", Text, nullable=False),                 # JSON list of logins mailed
    Column("since", DateTime(timezone=True), nullable=False),
    Column("reminded_at", DateTime(timezone=True)),
    Column("reminders", Integer, nullable=False, default=0),
    Column("expires_at", DateTime(timezone=True)),
    Column("escalated_to", String(64)),
)

approval_links = Table(
    "approval_links", metadata,                            # each mailed link, usable once
    Column("nonce", String(32), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("login", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

schedule_runs = Table(
    "schedule_runs", metadata,                             # a schedule's occurrences: started once each
    Column("schedule", String(128), primary_key=True),
    Column("due_at", DateTime(timezone=True), primary_key=True),
    Column("run_id", String(64)),
    Column("outcome", String(32), nullable=False),         # started skipped_overlap skipped_holiday
    Column("message", Text),                               # why a start failed
)

policy_episodes = Table(
    "policy_episodes", metadata,                           # a policy's condition holding: one run per episode
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("policy", String(128), nullable=False),
    Column("device", String(128), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),   # when the condition started to hold
    Column("started_at", DateTime(timezone=True)),               # when the runbook was started
    Column("ended_at", DateTime(timezone=True)),
    Column("run_id", String(64)),
    Column("reason", Text),
    Index("ix_policy_episodes_open", "policy", "device", "ended_at"),
)
