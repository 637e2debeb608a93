"""Activity 6 of the monitoring procedure (S.04.04.01.03_P): the jefa is told by mail when monitoring is
installed and answering on equipment that had none — once, not at every start of the daemon."""

from __future__ import annotations

import time

from tests.peers.common import free_tcp_port


def _wait_mail(inbox, words: str, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m, s in zip(inbox.messages, inbox.subjects(), strict=True) if words in s]
        if found:
            return found
        time.sleep(0.2)
    return []


def test_the_jefa_is_told_once_when_new_equipment_answers_its_monitoring(site, snmpsim, smtp, agentd):
    port, inbox = smtp
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"jefa": ["jefa@entidad.example"]}}
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
    site.snmp_device("ups-02", "ups", "ups-rfc1628", site.v2c("nadie", "no-such-community"), snmpsim.port)
    site.group("energia", ["snmp"], interval="2s", timeout="1s")
    site.http_port = free_tcp_port()
    config = site.write()
    inbox.messages.clear()
    daemon = agentd(config)
    told = _wait_mail(inbox, "Monitoreo instalado y operativo")
    assert told, inbox.subjects()
    body = told[0].get_payload(decode=True).decode()
    assert told[0]["To"] == "jefa@entidad.example"
    assert "ups-01 (ups, 127.0.0.1): chequeo snmp" in body and "ups-02" not in body, body    # ups-02 never answered
    daemon.stop()
    again = agentd(config)                                 # a restart is not a new installation
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and "group=energia checks=2" not in again.tail():
        time.sleep(0.2)
    time.sleep(1.5)
    assert sum("Monitoreo instalado" in s for s in inbox.subjects()) == 1, inbox.subjects()
