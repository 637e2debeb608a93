"""The power policy's latched state, one row per UPS it watches (issue 16).

Part of the one schema (it shares `agent/store/schema.py`'s metadata). Written only by
`agent/power/state.py`: the state (normal / on_battery / shutting_down / waiting_for_mains / starting),
since when, the run the policy started in that state, when the mains came back (the stable-for clock
survives a restart), the budget it judged the shutdown by, and why.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, String, Table, Text

from agent.store.schema import metadata

power_states = Table(
    "power_states", metadata,
    Column("ups", String(128), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("run_id", String(64)),                   # the shutdown or startup run of this state
    Column("mains_since", DateTime(timezone=True)),  # waiting_for_mains: the input normal since then
    Column("budget_s", Float),                      # the shutdown's budget when the UPS went on battery
    Column("detail", Text),                         # why, in Spanish (the console shows it)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
