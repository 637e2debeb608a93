"""The helpdesk's table (S.04.04.02_P): every call to GLPI the agent makes, stored before it goes out.

Part of the one schema (it shares `agent/store/schema.py`'s metadata); its only writer besides the store is
`agent/notify/glpi_tickets.py`. A row's `source` is what the call is about (`alert:12`, `run:ID:step`), unique:
asking again for the same call finds the row, so a retried or resumed step never opens two tickets. The rows
that open a ticket map an alert or a run to its GLPI ticket; a ticket that started a runbook names the run.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from agent.store.schema import metadata

helpdesk_calls = Table(
    "helpdesk_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(256), nullable=False, unique=True),   # alert:12, alert:12:reply:40, run:ID:step...
    Column("ticket_source", String(256), nullable=False, index=True),  # the `source` of the call that opened
    #                                                               the ticket (itself, for an open)
    Column("kind", String(16), nullable=False),                   # open | followup | solve | close | attach | start
    Column("payload", Text, nullable=False),                      # JSON: name, content, category, path...
    Column("ticket_id", Integer, index=True),                     # GLPI's ticket id, once known
    Column("item_id", Integer),                                   # what GLPI gave the call (followup, document)
    Column("run_id", String(64)),                                 # the run a ticket started (kind start)
    Column("status", String(16), nullable=False),                 # queued | sending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
)
