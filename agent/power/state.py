"""The power policy's state per UPS, latched in the store: the only writer of `power_states`.

A restart of the agent reads where each UPS was (on battery since 02:10, shutting down with run X, waiting
for the mains since 05:40) and goes on from there: it never starts a second shutdown for the same
episode, and the mains' stable-for clock keeps counting from when the input came back."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from agent.core.times import aware, utc
from agent.store import Store
from agent.store.schema_power import power_states

NORMAL, ON_BATTERY, SHUTTING_DOWN, WAITING_FOR_MAINS, STARTING = (
    "normal", "on_battery", "shutting_down", "waiting_for_mains", "starting")
STATES = (NORMAL, ON_BATTERY, SHUTTING_DOWN, WAITING_FOR_MAINS, STARTING)
LABELS = {NORMAL: "Normal", ON_BATTERY: "En batería", SHUTTING_DOWN: "Apagando",
          WAITING_FOR_MAINS: "Esperando energía comercial", STARTING: "Encendiendo"}


@dataclass(frozen=True)
class PowerState:
    """Where one UPS's policy is."""

    ups: str
    state: str = NORMAL
    since: datetime | None = None
    run_id: str | None = None
    mains_since: datetime | None = None
    budget_s: float | None = None
    detail: str = ""

    def moved(self, state: str, now: datetime, detail: str, **values) -> PowerState:
        """The next state, from `now` (run, mains clock and budget cleared unless given)."""
        base = {"run_id": None, "mains_since": None, "budget_s": None}
        return replace(self, state=state, since=now, detail=detail, **{**base, **values})


class PowerStates:
    """Read and latch the state of every UPS."""

    def __init__(self, store: Store):
        self.store = store

    def all(self) -> dict[str, PowerState]:
        rows = self.store.rows(select(power_states))
        return {r["ups"]: PowerState(r["ups"], r["state"], aware(r["since"]), r["run_id"], aware(r["mains_since"]),
                                     r["budget_s"], r["detail"] or "") for r in rows}

    def save(self, st: PowerState) -> None:
        values = {"state": st.state, "since": utc(st.since or datetime.now(UTC)), "run_id": st.run_id,
                  "mains_since": utc(st.mains_since) if st.mains_since else None, "budget_s": st.budget_s,
                  "detail": st.detail, "updated_at": datetime.now(UTC)}
        with self.store.transaction() as conn:
            done = conn.execute(update(power_states).where(power_states.c.ups == st.ups).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(power_states).values(ups=st.ups, **values))
