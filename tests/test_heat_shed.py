"""The heat rule (issue 16 item 1): a precision AC stops (its SNMP card reports the unit off) and the
policy sheds the least critical servers first — vm-intranet and hv-02 go off, the critical ones stay on —
after the jefa's window to cancel has passed. On the simulated datacenter: snmpsim, ipmi_sim, sshd."""

from __future__ import annotations

import time

import yaml

from agent.runbook.journal import TERMINAL, Journal
from agent.store import Store


def test_a_failed_ac_sheds_the_non_critical_servers_and_keeps_the_critical_ones(datacenter, snmpsim, smtp,
                                                                                tmp_path, agentd):
    dc = datacenter
    dc.all_on()
    config = dc.write_config(tmp_path, snmpsim.port, smtp[0])
    cfg = yaml.safe_load(config.read_text())
    cfg["check_groups"][0]["interval"] = "2s"
    cfg["check_groups"][0]["timeout"] = "1s"
    cfg["policies"] = [{"name": "calor", "runbook": "heat-shed", "devices": {"kinds": ["ac"]},
                        "condition": {"reading": "ac_system_state", "not_equals": "on"}, "for": "2s",
                        "params": {"motivo": "{{ reason }}", "comando_apagado": dc.bin("fake-poweroff")},
                        "emergency": {"approvals": {"conformidad-jefa": {"expire_after": "3s",
                                                                         "on_expiry": "approve"}}}}]
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    daemon = agentd(config)
    journal = Journal(Store("sqlite:///var/oti.db", tmp_path))
    time.sleep(5)
    assert journal.runs(5) == []                       # the AC runs: nothing starts
    dc.ac_power(False)                                 # the unit stops
    deadline = time.monotonic() + 60
    while not (runs := [r for r in journal.runs(5) if r["runbook"] == "heat-shed"]):
        assert time.monotonic() < deadline, daemon.tail()
        time.sleep(0.3)
    run_id = runs[0]["id"]
    deadline = time.monotonic() + 180
    while (run := journal.run(run_id))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, (journal.steps(run_id), daemon.tail())
        time.sleep(0.3)
    dc.ac_power(True)
    assert run["status"] == "successful", journal.steps(run_id)
    assert "aap-01: ac_system_state" in run["params"]["motivo"]
    assert [line.split()[1] for line in dc.power_log()] == ["vm-intranet"]          # only the non-critical VM
    assert dc.bmcs["hv-02"].commands() == ["set shutdown 1"]                         # and physical server
    assert all(dc.bmcs[n].commands() == [] for n in ("hv-01", "ora-prod", "ora-dg"))
    assert dc.sshd_up("vm-app") and dc.sshd_up("vm-alfresco")
    jefa = journal.decisions(run_id, "conformidad-jefa", kind="approval")[-1]
    assert jefa["by"] == "agente" and jefa["decision"] == "approved"                 # her window passed
    assert len([r for r in journal.runs(10) if r["runbook"] == "heat-shed"]) == 1    # once per episode
