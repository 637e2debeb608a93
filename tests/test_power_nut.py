"""A power failure on the simulated datacenter (issue 16 item 1), end to end: a real upsd whose dummy-ups
dump the test rewrites (on battery, runtime falling, mains back, battery recharging), the daemon polling it
through NUT, ipmi_sim BMCs and sshd hosts. The staged shutdown starts when the runtime reaches its budget
and not before, in the emergency mode the policy writes down (the jefa's window to cancel, GG told after),
survives a kill -9 of the daemon without repeating a power command, and the return waits for stable mains
and a recharged battery, asks the jefa, and starts everything again through the startup's gates."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from agent.power.state import PowerStates
from agent.runbook.journal import Journal
from agent.store import Store
from tests.agentd import AgentDaemon
from tests.console import Person, set_passwords, text_of
from tests.operator import operate
from tests.peers.nut import PRIMARY, PRIMARY_PASSWORD, start_upsd

DUMP = Path(__file__).resolve().parent / "fixtures" / "recordings" / "nut" / \
    "Riello__Sentinel_SDL_6000-7__snmp-ups__2.2.2__01.dev"
VMS = ("vm-app", "vm-alfresco", "vm-intranet")


@pytest.fixture
def upsd(tmp_path_factory):
    peer = start_upsd(tmp_path_factory.mktemp("nut-power"), {"principal": DUMP})
    yield peer
    peer.stop()


def _config(dc, tmp_path, snmpsim, smtp_port, upsd) -> Path:
    """The datacenter's config, its servers fed by a NUT-managed UPS, with the power policy on."""
    config = dc.write_config(tmp_path, snmpsim.port, smtp_port)
    inv_path = tmp_path / "inventory.yaml"
    inv = yaml.safe_load(inv_path.read_text())
    hosts = inv["all"]["children"]["centro_de_datos"]["hosts"]
    for name, host in hosts.items():
        if host["oti_kind"] not in ("ups", "switch"):     # the network stays on the other UPS (last to go)
            host["oti_power"] = ["ups-nut"]
    hosts["ups-nut"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups", "oti_criticality": "critico",
                        "oti_nut": {"ups": "principal", "port": upsd.port, "credential": "nut"}}
    inv_path.write_text(yaml.safe_dump(inv, sort_keys=False))
    (tmp_path / "secrets" / "nut").write_text(PRIMARY_PASSWORD + "\n")
    cfg = yaml.safe_load(config.read_text())
    cfg["credentials"]["nut"] = {"nut": {"user": PRIMARY, "password": "file:secrets/nut"}}
    cfg["check_groups"].append({"name": "energia-nut", "interval": "2s", "timeout": "1s",
                                "targets": {"names": ["ups-nut"]}, "checks": [{"check": "nut"}]})
    cfg["power"] = {"enabled": True, "ups": ["ups-nut"], "notify": ["jefa"],
                    "shutdown": {"margin": "1m", "battery_floor": 0.05,
                                 "params": {"comando_apagado": dc.bin("fake-poweroff"),
                                            "comando_central": dc.bin("fake-poweroff")},
                                 "emergency": {"approvals": {"aprobacion-jefa": {"expire_after": "3s",
                                                                                 "on_expiry": "approve"}},
                                               "skip_approvals": ["aprobacion-gg"]}},
                    "startup": {"mains_stable_for": "3s", "battery_recharged": 0.8, "ask_first": True,
                                "params": {"comando_inicio_vm": dc.bin("fake-start-vm")}}}
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config


def _state(store: Store) -> tuple[str, float | None, str | None]:
    st = PowerStates(store).all().get("ups-nut")
    return (st.state, st.budget_s, st.run_id) if st else ("normal", None, None)


def _until(store, wanted: str, daemon, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while (now := _state(store))[0] != wanted:
        assert time.monotonic() < deadline, (now, daemon.tail())
        time.sleep(0.3)
    return now


def _metrics(daemon) -> str:
    with urllib.request.urlopen(f"{daemon.url}/metrics", timeout=5) as resp:
        return resp.read().decode()


def test_a_power_failure_shuts_down_on_the_budget_and_returns_through_the_gates(datacenter, snmpsim, smtp,
                                                                                 upsd, tmp_path):
    dc = datacenter
    dc.all_on()
    port, inbox = smtp
    inbox.messages.clear()
    config = _config(dc, tmp_path, snmpsim, port, upsd)
    store = Store("sqlite:///var/oti.db", tmp_path)
    journal = Journal(store)
    set_passwords(config, ("luis",))
    daemon = AgentDaemon(config).start()
    try:
        time.sleep(3)
        assert _state(store)[0] == "normal" and 'oti_power_state{ups="ups-nut",state="normal"} 1.0' in _metrics(daemon)

        # the mains fail: plenty of battery left
        upsd.set("principal", ups__status="OB DISCHRG", battery__runtime="7200", battery__charge="90.0",
                 input__voltage="0.0")
        _, budget, _ = _until(store, "on_battery", daemon)
        assert budget and 60 < budget < 7200, budget
        told = _mail(inbox, "en batería — autonomía 120 min")
        assert told[0]["To"] == "jefa@entidad.example"

        with Person(daemon, "luis") as luis:                 # the console's Estado page says so
            card = text_of(luis.get("/estado/cuerpo").text)
        assert "Política de energía: En batería" in card and "presupuesto del apagado" in card

        assert "FSD" not in upsd.status("principal")          # not before the agent's own order is done

        # the runtime falls, still above the budget: nothing starts
        upsd.set("principal", battery__runtime=str(int(budget + 300)), battery__charge="70.0")
        time.sleep(4)
        assert _state(store)[0] == "on_battery" and journal.runs(5) == []

        # at the budget: the emergency shutdown, nobody in the room
        upsd.set("principal", battery__runtime=str(int(budget - 30)), battery__charge="55.0")
        _, _, run_id = _until(store, "shutting_down", daemon)
        deadline = time.monotonic() + 30
        while not run_id:
            assert time.monotonic() < deadline, daemon.tail()
            time.sleep(0.2)
            run_id = _state(store)[2]
        # the agent dies in the middle of it; it comes back, and neither the state nor a command repeats
        deadline = time.monotonic() + 60
        while not any(a["step_id"] == "apagar-servidores-virtuales" for a in journal.actions(run_id)):
            assert time.monotonic() < deadline, [(k, v["status"], v["message"]) for k, v in journal.steps(run_id).items()
                                                 if v["status"] != "pending"] + [journal.run(run_id)["status"]]
            time.sleep(0.2)
        daemon.kill()
        daemon.start()
        run = _until_run(journal, run_id, daemon, 240)
        assert run["status"] == "successful", (run, daemon.tail())
        assert _until(store, "waiting_for_mains", daemon)[2] is None
        steps = journal.steps(run_id)
        assert steps["regla-emergencia"]["status"] == "successful"
        for person_step in ("preparar-equipos", "apagar-almacenamiento-y-cintas", "bajar-comunicaciones",
                            "apagar-comunicaciones", "apagar-aires-incendio-aniego"):
            assert steps[person_step]["status"] == "skipped", person_step     # nobody in the room: not waited for
        jefa = journal.decisions(run_id, "aprobacion-jefa", kind="approval")[-1]
        assert jefa["decision"] == "approved" and jefa["by"] == "agente"        # her 3 s window passed
        gg = journal.decisions(run_id, "aprobacion-gg", kind="approval")[-1]
        assert gg["by"] == "agente" and "dispensada" in (gg["comment"] or "")
        assert _mail(inbox, "Apagado de emergencia del Centro de Datos")[0]["To"] == "gg@entidad.example"  # after
        for name, bmc in dc.bmcs.items():
            assert bmc.commands() == ["set shutdown 1"], (name, bmc.commands())         # once, across the kill
        assert sorted(line for line in dc.power_log() if line.split()[1] in VMS) == sorted(
            f"poweroff {n}" for n in VMS)
        assert len([r for r in journal.runs(10) if r["runbook"] == "datacenter-shutdown"]) == 1
        # the staged shutdown done, NUT's upsmon takes over: the forced-shutdown flag, raised only now
        deadline = time.monotonic() + 20
        while "FSD" not in (upsd.status("principal") or ""):
            assert time.monotonic() < deadline, (upsd.status("principal"), daemon.tail())
            time.sleep(0.3)
        upsd.restart_upsd()            # upsmon powered the UPS off and the mains brought it back: no FSD now

        # mains back, battery low: wait; recharged and stable: the startup, after the jefa says so
        upsd.set("principal", ups__status="OL CHRG", battery__runtime="900", battery__charge="40.0",
                 input__voltage="230.0")
        time.sleep(5)
        assert _state(store)[0] == "waiting_for_mains"
        upsd.set("principal", battery__charge="95.0", battery__runtime="16000", ups__status="OL")
        _, _, startup = _until(store, "starting", daemon, 60)
        deadline = time.monotonic() + 30
        while not (startup := _state(store)[2]):
            assert time.monotonic() < deadline, daemon.tail()
            time.sleep(0.2)
        run2 = operate(daemon, None, {"jefa": "mariella"}, {"temperatura_sala_c": "24"}, run_id=startup,
                       hands=dc.person_does)
        assert journal.run(run2)["status"] == "successful", [(k, v["status"], v["message"]) for k, v in
                                                             journal.steps(run2).items() if v["status"] != "pending"]
        assert [d["by"] for d in journal.decisions(run2, "confirmar-retorno", kind="approval")] == ["mariella"]
        assert all(b.is_on() for b in dc.bmcs.values())
        _until(store, "normal", daemon, 30)
        assert 'oti_power_state{ups="ups-nut",state="normal"} 1.0' in _metrics(daemon)
    finally:
        upsd.set("principal", ups__status="OL", battery__charge="100.0", battery__runtime="16560")
        daemon.stop()


def _mail(inbox, words: str, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while not (found := [m for m, s in zip(inbox.messages, inbox.subjects(), strict=True) if words in s]):
        assert time.monotonic() < deadline, (words, inbox.subjects())
        time.sleep(0.2)
    return found


def _until_run(journal, run_id: str, daemon, timeout: float) -> dict:
    from agent.runbook.journal import TERMINAL

    deadline = time.monotonic() + timeout
    while (run := journal.run(run_id))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, (journal.steps(run_id), daemon.tail())
        time.sleep(0.3)
    return run
