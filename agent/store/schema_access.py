"""The tables of flow 1 of S.04.03.02_P before and after the door's form (`access_log`, in schema.py).

Part of the one schema (they share `agent/store/schema.py`'s metadata). `access_requests` is written only by
`agent/access/requests.py`: a provider's or a staff member's request to enter on a date and time window
(activity 5), the new date the specialist coordinated (6), the jefa's decision (7). `access_reviews` is written
only by `agent/access/log.py`: each time the specialist looked at the room's state as the visitor was leaving
(activity 9), what the agent showed, and whether there were problems (the entry stays open) or not (the time
out is recorded in the same transaction).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from agent.store.schema import metadata

access_requests = Table(
    "access_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),           # Nombre y apellidos
    Column("id_number", String(32), nullable=False),       # Identificación / DNI ("CE ...", "Pasaporte ...")
    Column("company", String(256), nullable=False),        # Entidad / proveedor
    Column("email", String(256), nullable=False),          # where the decision is mailed
    Column("activity", Text, nullable=False),              # the work to do inside
    Column("room", String(128), nullable=False),           # "centro-datos" or a cuarto de comunicaciones
    Column("day", String(10), nullable=False, index=True),  # the window asked for (or coordinated), YYYY-MM-DD
    Column("time_from", String(5), nullable=False),        # HH:MM, office's zone
    Column("time_to", String(5), nullable=False),
    Column("asked_day", String(10), nullable=False),       # the window first asked for (kept when moved)
    Column("asked_from", String(5), nullable=False),
    Column("asked_to", String(5), nullable=False),
    # requested (waiting for the jefa) → observed (no availability: waiting for a new date, activity 6) →
    # requested again → authorised | refused
    Column("status", String(16), nullable=False),
    Column("recorded_by", String(128), nullable=False),    # who recorded the mail's request: "Name (login)"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("observed_by", String(128)),                    # the jefa's "no availability" (activity 5, No)
    Column("observed_at", DateTime(timezone=True)),
    Column("observation", Text),
    Column("proposed_by", String(128)),                    # the specialist's new date and time (activity 6)
    Column("proposed_at", DateTime(timezone=True)),
    Column("proposal_note", Text),
    Column("decided_by", String(128)),                     # the jefa's decision (activity 7)
    Column("decided_as", String(16)),                      # titular | encargado
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_comment", Text),
    Column("conflicts", Text),                             # JSON: what the agent showed her when she decided
)

access_reviews = Table(
    "access_reviews", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, nullable=False, index=True),   # access_log.id
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(128), nullable=False),             # the specialist: "Name (login)"
    Column("outcome", String(16), nullable=False),         # sin_problemas | problema
    Column("observation", Text),                           # the problem seen (or a remark)
    Column("alerts", Text, nullable=False),                # JSON: the room's active alerts the agent showed
    Column("time_out", String(5)),                         # the time out recorded with a "sin problemas"
)
