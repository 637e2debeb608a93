"""ssh_host and agent_present against a real sshd on loopback, with strict host-key checking."""

from __future__ import annotations

import asyncio

from agent.core.results import State
from agent.core.settings import load_all
from agent.monitoring.once import run_once
from checks.ssh_host import parse_output


def _poll(site):
    return {r.device: r for r in asyncio.run(run_once(load_all(site.write())))}


def test_host_readings_and_services(site, sshd):
    site.ssh_device("srv1", sshd, oti_services=["sshd", "no-such-daemon"])
    site.group("servers", ["ssh_host"])
    res = _poll(site)["srv1"]
    assert res.up, res.error
    r = {x.key: x for x in res.readings}
    assert 0 < r['host_filesystem_used_ratio{mountpoint="/"}'].value < 1
    assert r["host_memory_total_bytes"].value > 100 * 2**20
    assert "host_load1_per_cpu" in r
    assert r['host_service_up{service="sshd"}'].value == 1.0
    down = r['host_service_up{service="no-such-daemon"}']
    assert down.value == 0.0 and down.state == State.CRITICAL and "no-such-daemon" in down.message


def test_filesystem_threshold_override_from_inventory(site, sshd):
    site.ssh_device("srv2", sshd, oti_thresholds={
        "host_filesystem_used_ratio": {"direction": "above", "warning": 0.0001, "critical": 0.9999}})
    site.group("servers", ["ssh_host"])
    r = {x.key: x for x in _poll(site)["srv2"].readings}
    assert r['host_filesystem_used_ratio{mountpoint="/"}'].state == State.WARNING


def test_host_key_mismatch_is_refused_with_a_clear_message(site, sshd):
    site.ssh_device("srv-mitm", sshd, known_hosts=sshd.wrong_known_hosts)
    site.ssh_device("srv-good", sshd)
    site.group("servers", ["ssh_host"])
    res = _poll(site)
    bad = res["srv-mitm"]
    assert not bad.up and bad.error_kind == "auth" and bad.state == State.CRITICAL
    assert "srv-mitm" in bad.error and "HOST KEY MISMATCH" in bad.error and str(sshd.wrong_known_hosts) in bad.error
    assert res["srv-good"].up                     # the rest goes on


def test_unknown_host_is_refused_not_added(site, sshd, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    site.ssh_device("srv-new", sshd, known_hosts=empty)
    site.group("servers", ["ssh_host"])
    res = _poll(site)["srv-new"]
    assert res.error_kind == "auth" and "not in" in res.error
    assert empty.read_text() == ""                # nothing was auto-added


def test_agent_present_findings_cite_the_manual(site, sshd, snmpsim):
    site.ssh_device("app1", sshd, oti_monitoring={"type": "service", "service": "sshd"})
    site.ssh_device("db1", sshd, kind="db", oti_monitoring={"type": "service", "service": "zabbix_agentd"})
    site.snmp_device("ups1", "ups", "ups-rfc1628", site.v2c("c", "ups-rfc1628"), snmpsim.port)
    from agent.demo.simulator import free_udp_port

    site.snmp_device("ac-nosensor", "ac", "liebert-gp", site.v2c("c2", "liebert-crac"), free_udp_port())
    site.group("agentes", ["agent_present"])
    res = _poll(site)
    reading = {d: r.readings[0] for d, r in res.items()}
    assert all(r.up for r in res.values())        # a missing agent is a finding, not a failed probe
    assert reading["app1"].state == State.OK and reading["app1"].message == "actividad 2: conforme"
    assert reading["db1"].state == State.CRITICAL
    assert reading["db1"].message.startswith("actividad 3: el agente zabbix_agentd no está instalado")
    assert "actividad 5" in reading["db1"].message
    assert reading["ups1"].state == State.OK
    assert reading["ac-nosensor"].state == State.CRITICAL and reading["ac-nosensor"].message.startswith("actividad 4")


def test_parse_output_tolerates_odd_lines():
    stats = parse_output("##df\nFilesystem 1-blocks Used Available Capacity Mounted on\n"
                         "/dev/sda1 1000 250 750 25% /\nbroken line\n##mem\nMemTotal: 1024 kB\n"
                         "MemAvailable: 512 kB\n##load\n0.50\n2\n##svc\nnginx systemd active\ncron systemd failed\n")
    assert stats.filesystems == {"/": (1000.0, 250.0)}
    assert stats.memory_available / stats.memory_total == 0.5
    assert (stats.load1, stats.cpus) == (0.5, 2)
    assert stats.services == {"nginx": True, "cron": False}
