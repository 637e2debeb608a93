"""PolicyWatcher on a real store: a policy starts its runbook once per episode of a condition (a UPS on battery), survives restarts, ignores flapping and silent devices, and renders its parameters from the event as data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from agent.core.automation import PolicySpec
from agent.core.inventory import Device, Inventory
from agent.core.results import CheckResult, Reading, State
from agent.errors import ConfigError, RunbookError
from agent.runbook.policies import PolicyWatcher, reason, render_params
from agent.store import Store, queries
from tests.test_automation import LIMA, lima, policy


@pytest.fixture
def store(tmp_path):
    s = Store("sqlite:///var/oti.db", tmp_path)
    yield s
    s.close()

INVENTORY = Inventory([Device(name="ups-01", address="10.0.0.1", oti_kind="ups"),
                       Device(name="ups-02", address="10.0.0.2", oti_kind="ups"),
                       Device(name="ac-01", address="10.0.0.3", oti_kind="ac")])
ON_BATTERY = """
name: ups-en-bateria
runbook: apagado_ordenado
params: {equipo: "{{ device }}", motivo: "{{ reason }}", minutos: 5}
devices: {kinds: [ups]}
condition: {reading: ups_output_source, equals: battery}
for: 5m
clear_after: 5m
"""


def source(text: str | None, device: str = "ups-01", at: datetime | None = None, error: str | None = None):
    readings = [] if text is None else [Reading("ups_output_source", None, State.OK, text=text, kind="info"),
                                        Reading("ups_battery_runtime_seconds", 1800.0, unit="seconds")]
    return CheckResult("snmp.ups", device, at or lima(2026, 3, 2, 10), 0.1, readings, error=error,
                       error_kind="timeout" if error else None)


class PolicyStarter:
    def __init__(self, fail: Exception | None = None):
        self.calls: list[tuple[str, str, dict]] = []
        self.fail = fail

    def __call__(self, spec: PolicySpec, device: str, event: dict) -> str:
        if self.fail:
            raise self.fail
        self.calls.append((spec.name, device, event))
        return f"run-{len(self.calls)}"


def watcher(store, starter, *texts: str) -> PolicyWatcher:
    return PolicyWatcher([policy(t) for t in texts or (ON_BATTERY,)], INVENTORY, store, starter,
                         clock=lambda: lima(2026, 3, 2, 0, 0), tz=LIMA)


def feed(w: PolicyWatcher, minute: int, text: str | None, device: str = "ups-01", error: str | None = None):
    return w.observe([source(text, device, error=error)], lima(2026, 3, 2, 10, minute))


def test_a_policy_starts_once_after_for_and_not_again_in_the_episode(store):
    starter = PolicyStarter()
    w = watcher(store, starter)
    assert feed(w, 2, "battery") == [("ups-en-bateria", "ups-01", "opened")]
    assert feed(w, 5, "battery") == []
    assert feed(w, 7, "battery") == [("ups-en-bateria", "ups-01", "started")]
    assert feed(w, 9, "battery") == [] and feed(w, 20, "battery") == []
    (name, device, event), = starter.calls
    assert (name, device) == ("ups-en-bateria", "ups-01")
    assert event == {"device": "ups-01", "reading": "ups_output_source", "value": None, "text": "battery",
                     "since": lima(2026, 3, 2, 10, 2), "policy": "ups-en-bateria",
                     "reason": "ups-01: ups_output_source = battery desde 10:02 (5 min)"}
    row, = queries.policy_episode_rows(store, "ups-en-bateria")
    assert (row["since"], row["started_at"], row["ended_at"], row["run_id"]) == (
        lima(2026, 3, 2, 10, 2), lima(2026, 3, 2, 10, 7), None, "run-1")
    assert row["reason"] == event["reason"]


def test_a_restart_during_an_episode_does_not_start_again(store):
    starter = PolicyStarter()
    first = watcher(store, starter)
    feed(first, 0, "battery")
    feed(first, 5, "battery")
    restarted = watcher(store, starter)
    assert restarted.open_episodes() == {("ups-en-bateria", "ups-01"): True}
    assert feed(restarted, 8, "battery") == [] and feed(restarted, 30, "battery") == []
    assert len(starter.calls) == 1


def test_a_restart_before_the_start_counts_for_from_the_episode_row(store):
    starter = PolicyStarter()
    feed(watcher(store, starter), 0, "battery")
    restarted = watcher(store, starter)
    assert feed(restarted, 3, "battery") == []
    assert feed(restarted, 5, "battery") == [("ups-en-bateria", "ups-01", "started")]
    assert starter.calls[0][2]["since"] == lima(2026, 3, 2, 10, 0)


def test_the_episode_ends_after_clear_after_and_a_new_one_starts_again(store):
    starter = PolicyStarter()
    w = watcher(store, starter)
    feed(w, 0, "battery")
    feed(w, 5, "battery")
    assert feed(w, 6, "line") == [] and feed(w, 9, "battery") == []       # back before clear_after: same one
    assert feed(w, 10, "line") == [] and feed(w, 14, "line") == []
    assert feed(w, 15, "line") == [("ups-en-bateria", "ups-01", "ended")]
    assert feed(w, 16, "line") == []
    assert feed(w, 30, "battery") == [("ups-en-bateria", "ups-01", "opened")]
    assert feed(w, 35, "battery") == [("ups-en-bateria", "ups-01", "started")]
    assert len(starter.calls) == 2
    rows = queries.policy_episode_rows(store, "ups-en-bateria")
    assert [(r["ended_at"], r["run_id"]) for r in rows] == [(None, "run-2"),
                                                            (lima(2026, 3, 2, 10, 15), "run-1")]
    assert queries.policy_episode_rows(store, open_only=True)[0]["run_id"] == "run-2"


def test_a_flapping_condition_shorter_than_for_never_starts(store):
    starter = PolicyStarter()
    w = watcher(store, starter)
    for minute in range(0, 40, 4):           # 3 minutes on battery, 1 on line, over and over
        feed(w, minute, "battery")
        feed(w, minute + 3, "line")
    assert starter.calls == []
    assert len(queries.policy_episode_rows(store)) == 1     # one episode: never clear for 5 minutes


def test_a_device_that_does_not_answer_neither_starts_nor_ends_an_episode(store):
    starter = PolicyStarter()
    w = watcher(store, starter)
    feed(w, 0, "battery")
    assert feed(w, 6, None, error="timeout after 5s") == []
    assert w.observe([source(None, at=lima(2026, 3, 2, 10, 6))], lima(2026, 3, 2, 10, 7)) == []  # no reading
    assert starter.calls == []
    assert feed(w, 8, "battery") == [("ups-en-bateria", "ups-01", "started")]
    feed(w, 10, "line")
    assert feed(w, 20, None, error="timeout") == [] and w.open_episodes()
    assert feed(w, 21, "line") == [("ups-en-bateria", "ups-01", "ended")]


def test_only_the_selected_devices_are_watched(store):
    starter = PolicyStarter()
    w = watcher(store, starter, ON_BATTERY.replace("{kinds: [ups]}", "{names: [ups-02]}"))
    feed(w, 0, "battery", device="ups-01")
    feed(w, 0, "battery", device="ac-01")
    assert feed(w, 0, "battery", device="ups-02") == [("ups-en-bateria", "ups-02", "opened")]
    with pytest.raises(ConfigError, match="policy 'ups-en-bateria': devices: unknown device"):
        watcher(store, starter, ON_BATTERY.replace("{kinds: [ups]}", "{names: [ups-99]}"))


def test_numeric_and_state_conditions(store):
    starter = PolicyStarter()
    low = ON_BATTERY.replace("{reading: ups_output_source, equals: battery}",
                             "{reading: ups_battery_runtime_seconds, below: 600}")
    low = low.replace("for: 5m", "for: 0")
    w = watcher(store, starter, low)
    runtime = Reading("ups_battery_runtime_seconds", 420.0, State.CRITICAL, "seconds")
    at = lima(2026, 3, 2, 10, 0)
    assert w.observe([CheckResult("snmp.ups", "ups-01", at, 0.1, [runtime])], at)[0][2] == "started"
    assert starter.calls[0][2]["reason"] == ("ups-01: ups_battery_runtime_seconds = 420 (menor que 600) "
                                             "desde 10:00 (0 min)")
    spec = policy(ON_BATTERY.replace("equals: battery", "state: critical"))
    assert spec.condition.holds(runtime) is True
    assert spec.condition.holds(Reading("ups_output_source", None, State.UNKNOWN)) is None
    assert policy(ON_BATTERY).condition.holds(Reading("ups_output_source", None, text="Battery ")) is True
    assert policy(ON_BATTERY).condition.holds(Reading("ups_output_source", None)) is None


def test_a_room_heating_faster_than_a_rate_starts_the_heat_rule(store):
    # issue 16's heat rule: the return air rising more than 1 °C a minute between two polls
    starter = PolicyStarter()
    heat = ON_BATTERY.replace("{reading: ups_output_source, equals: battery}",
                              "{reading: ac_return_air_temperature_celsius, rises_faster_than: 1.0}")
    w = watcher(store, starter, heat.replace("for: 5m", "for: 0").replace("{kinds: [ups]}", "{kinds: [ac]}"))
    t0 = lima(2026, 3, 2, 10, 0)

    def poll(minutes: float, celsius: float):
        at = t0 + timedelta(minutes=minutes)
        reading = Reading("ac_return_air_temperature_celsius", celsius, State.OK, "celsius")
        return w.observe([CheckResult("snmp", "ac-01", at, 0.1, [reading])], at)

    assert poll(0, 22.0) == []                      # one value: no rate yet
    assert poll(1, 22.6) == []                      # 0.6 °C/min: a warm room, not a failure
    assert poll(2, 23.1) == []
    assert poll(2.5, 24.0)[0][2] == "started"        # 1.8 °C/min
    assert "(sube más de 1 por minuto)" in starter.calls[0][2]["reason"]


def test_a_start_that_fails_is_recorded_once_in_the_episode(store):
    starter = PolicyStarter(fail=RunbookError("runbook apagado_ordenado: paso aprobar_jefa no existe"))
    w = watcher(store, starter)
    feed(w, 0, "battery")
    assert feed(w, 5, "battery") == [("ups-en-bateria", "ups-01", "failed")]
    assert feed(w, 6, "battery") == []
    row, = queries.policy_episode_rows(store)
    assert row["run_id"] is None and "no se pudo iniciar apagado_ordenado: runbook apagado_ordenado: paso" \
        in row["reason"]


def test_the_reason_names_the_day_when_the_episode_began_before_today():
    spec = policy(ON_BATTERY)
    text = reason(spec, "ups-01", Reading("ups_output_source", None, text="battery"),
                  lima(2026, 3, 1, 23, 58), lima(2026, 3, 2, 0, 3), LIMA)
    assert text == "ups-01: ups_output_source = battery desde 2026-03-01 23:58 (5 min)"


def test_params_are_rendered_from_the_event_as_data():
    spec = policy(ON_BATTERY)
    event = {"device": "ups-01", "reading": "ups_output_source", "value": None, "text": "{{ 7 * 7 }}",
             "since": lima(2026, 3, 2, 10), "policy": spec.name, "reason": "ups-01: {{ 7 * 7 }}"}
    assert render_params(spec, event) == {"equipo": "ups-01", "motivo": "ups-01: {{ 7 * 7 }}", "minutos": 5}


@pytest.mark.parametrize("template", ["{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                                      "{{ device.__class__.__init__.__globals__ }}"])
def test_a_template_injection_is_refused_by_the_sandbox(template):
    spec = policy(ON_BATTERY.replace('"{{ device }}"', repr(template)))
    event = {"device": "ups-01", "reading": "r", "value": None, "text": None, "since": None, "policy": "p",
             "reason": ""}
    with pytest.raises(ConfigError, match="policy .ups-en-bateria.: params.equipo: template refused.*unsafe"):
        render_params(spec, event)
