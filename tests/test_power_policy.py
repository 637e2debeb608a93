"""The power policy's state machine (issue 16 item 1) on an injected clock and a real store: the staged
shutdown starts when the UPS's runtime falls to its budget, not before; once per episode, also across a
restart; the mains must be stable and the battery recharged before the startup; several UPS each concern
the devices they feed. The UPS readings are what the SNMP profiles and NUT give (tests/test_power_nut.py
drives the same policy from a real upsd in the daemon)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.core.results import CheckResult, Reading
from agent.core.settings import load_all
from agent.errors import ConfigError
from agent.power.policy import PowerPolicy, metrics_text
from agent.runbook.journal import Journal
from agent.runbook.model import find, load
from agent.store import Store
from tests.conftest import dedent

T0 = datetime(2027, 3, 4, 2, 0, tzinfo=UTC)
SHUTDOWN = """
    id: apagado-prueba
    title: Apagado de prueba
    procedure: prueba
    params:
      emergencia: {type: bool, default: false}
      motivo: {default: ""}
      reglas_emergencia: {default: ""}
    steps:
      - {id: apagar, activity: 9, name: Apaga, kind: record, with: {text: "{{ params.motivo }}"}, estimate: 10m}
"""
STARTUP = """
    id: encendido-prueba
    title: Encendido de prueba
    procedure: prueba
    params:
      confirmar_inicio: {type: bool, default: false}
    steps:
      - {id: encender, activity: 17, name: Enciende, kind: record, with: {text: "enciende"}}
"""


class World:
    """The policy with starters that record real runs in the journal, and a clock the test moves."""

    def __init__(self, site, tmp_path, power=None, **hosts):
        folder = tmp_path / "runbooks"
        folder.mkdir(exist_ok=True)
        (folder / "apagado-prueba.yaml").write_text(dedent(SHUTDOWN))
        (folder / "encendido-prueba.yaml").write_text(dedent(STARTUP))
        site.extra["runbooks_dir"] = "runbooks"
        site.hosts.update(hosts or {"ups-01": {"ansible_host": "127.0.0.1", "oti_kind": "ups"},
                                    "srv-01": {"ansible_host": "127.0.0.2", "oti_kind": "server_physical"}})
        site.extra["power"] = {"enabled": True, "notify": ["jefa"],
                               "shutdown": {"runbook": "apagado-prueba", "margin": "5m"},
                               "startup": {"runbook": "encendido-prueba", "mains_stable_for": "10m",
                                           "battery_recharged": 0.8, "ask_first": True}, **(power or {})}
        self.settings = load_all(site.write())
        self.store = Store(self.settings.config.store.url, self.settings.config.base_dir)
        self.store.migrate()
        self.journal = Journal(self.store)
        self.started: list[tuple[str, dict, dict]] = []
        self.told: list[tuple[list[str], str, str, str]] = []
        self.now = T0
        self.policy = self.restart()

    def restart(self) -> PowerPolicy:
        """A new policy on the same store: what the daemon builds when it starts again."""
        self.policy = PowerPolicy(self.settings, self.store, self._start, self._status, self._tell,
                                  clock=lambda: self.now)
        return self.policy

    def _start(self, runbook, params, trigger):
        book = load(find(runbook, self.settings.config.path(self.settings.config.runbooks_dir)))
        self.started.append((runbook, params, trigger))
        return self.journal.create_run(book, params, "agente:policy", [s.id for s in book.steps], [], trigger)

    def _status(self, run_id):
        return self.journal.run(run_id)["status"]

    def _tell(self, groups, subject, body, source):
        if any(t[3] == source for t in self.told):       # the outbox's `unique` source: told once
            return
        self.told.append((groups, subject, body, source))

    def ups(self, source: str, runtime_min: float | None, charge: float, low: bool = False, device="ups-01",
            after: timedelta = timedelta(minutes=1)):
        """The UPS answers a poll `after` later with these readings; return the moves."""
        self.now += after
        readings = [Reading("ups_output_source", None, text=source),
                    Reading("ups_battery_charge_ratio", charge),
                    Reading("ups_battery_status", None, text="batteryLow" if low else "batteryNormal")]
        if runtime_min is not None:
            readings.append(Reading("ups_battery_runtime_seconds", runtime_min * 60))
        return self.policy.observe([CheckResult("snmp", device, self.now, 0.1, readings)])

    def finish(self, run_id: str, status: str = "successful"):
        self.journal.set_run(run_id, status)
        self.now += timedelta(seconds=5)
        return self.policy.tick()


def test_the_shutdown_starts_when_the_runtime_reaches_the_budget_not_before(site, tmp_path):
    w = World(site, tmp_path)
    assert w.ups("normal", 60, 1.0) == []
    assert w.ups("battery", 40, 0.9) == [("ups-01", "on_battery")]
    notice = w.told[-1]
    assert notice[0] == ["jefa"] and "autonomía 40 min" in notice[1]
    assert "17 min" in notice[2]          # the budget: the plan's 10 min + the jefa's 2 min window + 5 min margin
    st = w.policy.state_of("ups-01")
    assert st.budget_s == pytest.approx(600 + 120 + 300)
    for runtime in (35, 25, 18):          # above the budget: nothing starts
        assert w.ups("battery", runtime, 0.8) == []
    assert w.started == []
    assert w.ups("battery", 17, 0.7) == [("ups-01", "shutting_down")]
    runbook, params, trigger = w.started[0]
    assert runbook == "apagado-prueba" and params["emergencia"] is True
    assert "autonomía 17 min ≤ presupuesto del apagado 17 min" in params["motivo"]
    assert "aprobacion-jefa: si nadie responde en 2 min se aprueba" in params["reglas_emergencia"]
    assert "aprobacion-gg: dispensada" in params["reglas_emergencia"]
    assert trigger["emergency"]["skip_approvals"] == ["aprobacion-gg"] and sorted(trigger["scope"]) == ["srv-01", "ups-01"]
    for _ in range(3):                    # the run goes on: never a second one
        w.ups("battery", 10, 0.5)
    assert len(w.started) == 1
    text = metrics_text(w.policy)
    assert 'oti_power_state{ups="ups-01",state="shutting_down"} 1.0' in text
    assert 'oti_power_state{ups="ups-01",state="normal"} 0.0' in text


def test_a_restart_keeps_the_state_and_the_return_waits_for_stable_mains_and_charge(site, tmp_path):
    w = World(site, tmp_path)
    w.ups("battery", 30, 0.9)
    w.ups("battery", 5, 0.3, low=True)
    run_id = w.policy.state_of("ups-01").run_id
    w.restart()                                          # the agent restarts during the shutdown
    assert w.policy.state_of("ups-01").state == "shutting_down" and w.policy.state_of("ups-01").run_id == run_id
    w.ups("battery", 4, 0.25)
    assert len(w.started) == 1
    assert w.finish(run_id) == [("ups-01", "waiting_for_mains")]
    w.ups("normal", None, 0.3)                           # mains back: the clock starts
    w.ups("battery", None, 0.3)                          # a dip: it starts again
    w.ups("normal", None, 0.4)
    w.restart()                                          # the stable-for clock survives a restart too
    w.ups("normal", None, 0.6, after=timedelta(minutes=9))
    assert w.ups("normal", None, 0.7, after=timedelta(minutes=2)) == []   # stable, but not recharged
    assert w.ups("normal", None, 0.85, after=timedelta(minutes=5)) == [("ups-01", "starting")]
    runbook, params, trigger = w.started[-1]
    assert runbook == "encendido-prueba" and params == {"confirmar_inicio": True}
    assert "energía comercial estable" in trigger["reason"]
    assert w.finish(w.policy.state_of("ups-01").run_id) == [("ups-01", "normal")]


def test_mains_back_before_the_budget_is_normal_again_and_told(site, tmp_path):
    w = World(site, tmp_path)
    w.ups("battery", 30, 0.9)
    assert w.ups("normal", 30, 0.9) == [("ups-01", "normal")]
    assert "energía comercial restablecida" in w.told[-1][1]
    assert w.started == []
    assert w.ups("battery", 30, 0.9) == [("ups-01", "on_battery")]     # a new episode, told again
    assert len([t for t in w.told if "en batería" in t[1]]) == 2


def test_an_agent_stopped_between_the_latch_and_the_start_starts_the_run_once(site, tmp_path):
    w = World(site, tmp_path)
    w.ups("battery", 30, 0.9)
    broken = w.policy.start_run
    w.policy.start_run = lambda *a: (_ for _ in ()).throw(KeyboardInterrupt())   # it dies right after the latch
    with pytest.raises(KeyboardInterrupt):
        w.ups("battery", 3, 0.2)
    assert w.policy.state_of("ups-01").state == "shutting_down" and w.policy.state_of("ups-01").run_id is None
    w.policy.start_run = broken
    w.restart()
    w.ups("battery", 3, 0.2)
    w.ups("battery", 2, 0.2)
    assert len(w.started) == 1 and w.policy.state_of("ups-01").run_id


def test_each_ups_concerns_the_devices_it_feeds_and_a_wrong_chain_is_refused(site, tmp_path):
    hosts = {"ups-a": {"ansible_host": "127.0.0.1", "oti_kind": "ups"},
             "ups-b": {"ansible_host": "127.0.0.3", "oti_kind": "ups"},
             "srv-a": {"ansible_host": "127.0.0.2", "oti_kind": "server_physical", "oti_power": ["ups-a"]},
             "srv-b": {"ansible_host": "127.0.0.4", "oti_kind": "server_physical", "oti_power": ["ups-b"]},
             "srv-ab": {"ansible_host": "127.0.0.5", "oti_kind": "server_physical", "oti_power": ["ups-a", "ups-b"]}}
    w = World(site, tmp_path, **hosts)
    w.ups("battery", 30, 0.9, device="ups-b")
    w.ups("battery", 1, 0.1, device="ups-b")
    assert w.policy.state_of("ups-a").state == "normal"
    assert sorted(w.started[0][2]["scope"]) == ["srv-ab", "srv-b", "ups-b"]

    site.hosts["srv-b"]["oti_power"] = ["ups-z"]
    with pytest.raises(ConfigError, match="oti_power names no UPS of the inventory: srv-b → ups-z"):
        World(site, tmp_path, **site.hosts)


def test_the_jefas_no_within_her_window_cancels_and_no_second_shutdown_starts_in_the_episode(site, tmp_path):
    w = World(site, tmp_path)
    w.ups("battery", 30, 0.9)
    w.ups("battery", 5, 0.3)
    run_id = w.policy.state_of("ups-01").run_id
    w.journal.add_decision(run_id, "apagar", "approval", "mariella", "rejected", role="jefa")
    assert w.finish(run_id, "failed") == [("ups-01", "on_battery")]
    st = w.policy.state_of("ups-01")
    assert "cancelado por la Jefa" in st.detail and st.run_id == run_id
    for runtime in (4, 3, 2):                     # still on battery, below the budget: she decided
        w.ups("battery", runtime, 0.2)
    assert len(w.started) == 1
    assert w.ups("normal", 2, 0.2) == [("ups-01", "normal")]      # the mains back: a new episode may start one
    w.ups("battery", 30, 0.9)
    w.ups("battery", 5, 0.3)
    assert len(w.started) == 2
