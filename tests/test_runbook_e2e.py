"""The datacenter shutdown and startup runbooks, end to end, on the simulated datacenter."""

from __future__ import annotations

import signal
import subprocess
import time

from openpyxl import load_workbook

from agent.runbook.journal import Journal
from agent.store import Store
from tests.agentd import AgentDaemon
from tests.operator import cli, new_run, operate, run_ids

APPROVERS = {"jefa": "mariella", "gg": "joanna", "operador": "luis"}


def _xlsx_rows(path):
    ws = load_workbook(path).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] in ("N°", "Ítem"))
    return rows[head + 1:]


def test_full_shutdown_then_startup(datacenter, snmpsim, smtp, tmp_path):
    dc = datacenter
    dc.all_on()
    port, inbox = smtp
    inbox.messages.clear()
    config = dc.write_config(tmp_path, snmpsim.port, port)
    assert cli(config, "config", "check").returncode == 0
    daemon = AgentDaemon(config).start()
    try:
        _shutdown_then_startup(dc, daemon, snmpsim, inbox, config, tmp_path)
    finally:
        daemon.stop()


def _shutdown_then_startup(dc, daemon, snmpsim, inbox, config, tmp_path):
    # ---------------------------------------------------------------- shutdown, for a relocation
    proc = daemon.follow("run", "datacenter-shutdown", "-p", "relocation=true",
                         "-p", f"comando_apagado={dc.bin('fake-poweroff')}",
                         "-p", f"comando_central={dc.bin('fake-poweroff')}", "-p", "motivo=Traslado a la sede nueva")
    refusals = []
    run_id = operate(daemon, proc, APPROVERS, {"temperatura_sala_c": "23.5"}, refusals=refusals,
                     hands=dc.person_does)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-2000:] + daemon.tail()
    # the starter may not approve; General Management's approver must differ from the jefa's
    assert all(rc == 1 for _s, rc, _e in refusals) and len(refusals) == 3, refusals
    assert any("cannot approve" in e for _s, _rc, e in refusals)
    assert any("needs another person" in e for _s, _rc, e in refusals)
    # the jefa and GG were asked by mail, each with a link of their own
    asked = [m for m, subject in zip(inbox.messages, inbox.subjects(), strict=True)
             if "Se requiere su decisión" in subject]
    assert {m["To"] for m in asked} >= {"jefa@entidad.example", "gg@entidad.example"}
    assert all("/decidir/" in m.get_payload(decode=True).decode() for m in asked)

    assert not any(b.is_on() for b in dc.bmcs.values())
    assert not any(dc.sshd_up(n) for n in ("vm-app", "vm-alfresco", "vm-intranet", "backup-01", "pbx-01"))
    for name, bmc in dc.bmcs.items():
        assert bmc.commands() == ["set shutdown 1"], (name, bmc.commands())      # one soft-off, nothing twice
    assert sorted(dc.power_log()) == sorted(f"poweroff {n}" for n in
                                            ("vm-app", "vm-alfresco", "vm-intranet", "backup-01", "pbx-01"))
    journal = Journal(Store("sqlite:///var/oti.db", tmp_path))
    # VMs are taken down in shutdown order: the non-critical one first, the most important last
    offs = [a["target"] for a in journal.actions(run_id, "apagar-servidores-virtuales")]
    assert offs == ["vm-intranet", "vm-alfresco", "vm-app"]
    oracle = dc.oracle_log()
    assert oracle.index("stop_replication PRODDG") < oracle.index("stop_instance PROD")
    assert dc.oracle_state("PROD")[0] == "down" and dc.oracle_state("PRODDG") == ("down", "off")
    subjects = inbox.subjects()
    assert any("Aviso de trabajos programados" in s for s in subjects)       # COM, activity 4
    assert any("Cronograma de apagado" in s for s in subjects)               # specialists, 5
    assert any("Apagado programado de equipos" in s for s in subjects)       # ISP, 6
    assert any("Apagado del Centro de Datos concluido" in s for s in subjects)   # jefa, 16
    ups = subprocess.run(["snmpget", "-v2c", "-c", "ups-rfc1628", "-Oqv", f"127.0.0.1:{snmpsim.port}",
                          "1.3.6.1.2.1.33.1.8.2.0"], capture_output=True, text=True)
    assert ups.stdout.strip() == "120"                                        # activity 15, relocation only

    assert journal.in_maintenance() == set()                                  # the window closed with the run
    steps = journal.steps(run_id)
    assert steps["verificar-aires-apagados"]["status"] == "successful"        # 14: the AC reports off when polled
    assert [a["message"] for a in journal.actions(run_id, "verificar-aires-apagados")] == \
        ["aap-01: ac_system_state = off"]
    assert steps["verificar-almacenamiento-y-cintas"]["status"] == "skipped"  # 10: this site has no storage
    assert "ningún equipo del inventario" in steps["verificar-almacenamiento-y-cintas"]["message"]
    rows = _xlsx_rows(tmp_path / "var" / "documentos" / run_id / "checklist-apagado.xlsx")
    activities = {a for r in rows for a in str(r[1]).split(", ")}
    assert {str(n) for n in range(1, 16)} <= activities
    by_step = {(r[2], r[3]): r for r in rows}
    approval = [r for r in rows if str(r[1]) == "2"][0]
    assert approval[4] == "Mariella Paredes — Jefa de la OTI" and approval[6] == "Conforme"
    gg = [r for r in rows if str(r[1]) == "3"][0]
    assert gg[4] == "Joanna Salas — Gerencia General"
    vm_line = by_step[("Apaga los servidores virtuales", "vm-app")]
    assert vm_line[4] == "oti-agent" and vm_line[6] == "Conforme"
    temp = [r for r in rows if str(r[1]) == "14"][0]
    assert "temperatura_sala_c=23.5" in temp[7]
    html = (tmp_path / "var" / "documentos" / run_id / "checklist-apagado.html").read_text()
    assert "Checklist de apagado-encendido del Centro de Datos" in html and "Mariella Paredes" in html

    # ---------------------------------------------------------------- startup
    inbox.messages.clear()
    before = run_ids(config)
    proc = daemon.follow("run", "datacenter-startup", "-p", f"comando_inicio_vm={dc.bin('fake-start-vm')}")
    deadline = time.monotonic() + 30
    while (run2 := new_run(config, before)) is None:
        assert time.monotonic() < deadline and proc.poll() is None, daemon.tail()
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)           # the engineer's SSH session drops: the terminal dies, the run not
    proc.wait(15)
    assert proc.returncode != 0
    run2 = operate(daemon, None, APPROVERS, {"temperatura_sala_c": "24"}, run_id=run2, hands=dc.person_does)
    assert journal.run(run2)["status"] == "successful", journal.run(run2)
    assert all(b.is_on() for b in dc.bmcs.values())
    assert all(b.commands() == ["set shutdown 1", "set power 1"] for b in dc.bmcs.values())
    assert all(dc.sshd_up(n) for n in ("vm-app", "vm-alfresco", "vm-intranet"))
    starts = sorted(line.split()[1] for line in dc.power_log() if line.startswith("start-vm"))
    assert starts == ["vm-alfresco", "vm-app", "vm-intranet"]                 # each started once
    order = [a["target"] for a in journal.actions(run2, "encender-servidores-virtuales")]
    assert order == ["vm-app", "vm-alfresco", "vm-intranet"]                  # by importance
    assert dc.oracle_state("PROD")[0] == "up"
    assert journal.steps(run2)["verificar-comunicaciones"]["status"] == "successful"   # 19: the switch answers
    assert journal.events_named(run2, "sent_back") == []                     # 23 and 25 held the first time
    assert dc.oracle_state("PRODDG") == ("up", "on")
    # the validation checklist (activity 28) in the office's form: Ítem, Actividades, Sí, No, Observación
    validation = _xlsx_rows(tmp_path / "var" / "documentos" / run2 / "checklist-validacion.xlsx")
    by_device = {str(r[1]).rsplit(" — ", 1)[-1]: r for r in validation if " — " in str(r[1])}
    assert {"vm-app", "vm-alfresco", "vm-intranet", "ora-prod", "ups-01"} <= set(by_device)
    assert all(r[2] == "X" and not r[3] for r in by_device.values())          # every service judged: Sí
    assert "operativo" in by_device["vm-app"][4]
    person = [r for r in validation if str(r[1]).startswith("Valida la operación")]
    assert person and person[0][2] == "X" and "Luis Quispe" in person[0][4]
    assert any("Encendido del Centro de Datos concluido" in s for s in inbox.subjects())
    assert any("Servidores virtuales encendidos" in s for s in inbox.subjects())   # the jefa, activity 26
