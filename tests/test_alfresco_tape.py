"""The Alfresco recovery's tape branch (activities 8–10) end to end: no good backup set left on disk, so the
latest set is found on tape in a real Bacula, its box asked back from custody and received, the set restored
beside the others, checked, written in the bitácora de restauración (Anexo 06), restored into a real
PostgreSQL and content store on a server chosen for the run, and the box handed back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from openpyxl import load_workbook

from agent.backups.service import BackupService
from agent.backups.tapes import TapeInventory
from agent.core.settings import load_all
from agent.runbook.journal import TERMINAL, Journal
from agent.store import Store
from tests.conftest import REPO
from tests.operator import cli
from tests.peers.common import free_tcp_port
from tests.test_alfresco_restore import CTL, READY, SEED, STANDIN, _backup_set, _store_digest
from tests.test_backups import LIMA

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates


def _anexo06(path):
    rows = [[c.value for c in r] for r in load_workbook(path).active.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "N°")
    return [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:]]


@pytest.mark.timeout(600)
def test_alfresco_recovered_from_tape_onto_another_server_with_the_box_back_in_custody(
        site, tmp_path, datacenter, postgres, bacula, smtp, agentd):
    port, inbox = smtp
    datacenter.all_on()
    root = tmp_path / "srv"
    dir_root, sets, state = root / "alf_data", root / "backups", root / "state"
    for d in (dir_root / "contentstore", sets, state):
        d.mkdir(parents=True)
    http_port = free_tcp_port()
    ctl = root / "alfresco-ctl"
    ctl.write_text(CTL.format(state=state, pg_port=postgres.port, python=sys.executable, standin=STANDIN,
                              http_port=http_port, dir_root=dir_root, dsn=postgres.dsn))
    ctl.chmod(0o755)
    subprocess.run([sys.executable, str(SEED), postgres.dsn, str(dir_root), "30"], check=True, capture_output=True)
    _backup_set(postgres, dir_root, sets, "2026-11-16_0200")
    good_nodes, good_store = postgres.psql("select count(*) from alf_node_standin"), _store_digest(dir_root)

    # the fortnightly backup of the sets folder goes to tape, and the tape to the custody company
    peer = bacula({"BackupAlfresco": [sets]}, volume_bytes="20M")
    site.ssh_creds["root"] = {"user": "root", "key_file": str(datacenter.key),
                              "known_hosts": str(datacenter.known_hosts)}
    # the usual server is gone: the office names another one for this run (activity 4)
    site.hosts["alfresco-02"] = {"ansible_host": "127.0.0.1", "ansible_port": datacenter.ports["vm-alfresco"],
                                 "ansible_python_interpreter": "/usr/bin/python3", "oti_kind": "server_virtual",
                                 "oti_ssh": {"credential": "root", "port": datacenter.ports["vm-alfresco"]}}
    site.extra["runbooks_dir"] = str(REPO / "runbooks")
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"jefa": ["jefa@entidad.example"], "uuoo": ["unidades@entidad.example"],
                                         "custodia": ["operaciones@resguardo.example"]}}
    asset = {"id": "alfresco-eva", "owner": "Especialista en IS", "name": "Gestor Documental Alfresco - EVA",
             "type": "carpeta", "server": "alfresco-02", "resources": [str(sets)], "category": "alfresco_eva",
             "time": "02:00", "level": "completo", "backend": "vtl", "job": "BackupAlfresco"}
    (tmp_path / "matriz.yaml").write_text(yaml.safe_dump({"assets": [asset]}, allow_unicode=True))
    site.extra["backups"] = {"matrix": "matriz.yaml", "poll_every": "200ms", "catch_up": "1ms",
                             "backends": {"vtl": {"type": "bacula", "options": {"config": str(peer.bconsole_conf)}}}}
    site.extra["documents_dir"] = "docs-out"
    config = site.write()
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)
    backup = asyncio.run(BackupService(settings, store).run(settings.assets.get("alfresco-eva")))
    assert backup.good, backup.errors
    assert cli(config, "tapes", "sync").returncode == 0
    assert cli(config, "tapes", "box", "prepare", "CAJA-AF", *backup.volumes, "--seal", "P-300",
               "--allow-not-full").returncode == 0
    for label in backup.volumes:
        peer.eject(label)
    cli(config, "tapes", "sync")
    assert cli(config, "tapes", "box", "send", "CAJA-AF").returncode == 0

    # the disaster: the disk sets are lost with part of the content store and of the database
    shutil.rmtree(sets)
    sets.mkdir()
    for p in sorted((dir_root / "contentstore").rglob("*.bin"))[:6]:
        p.unlink()
    postgres.psql("delete from alf_node_standin where id < 8")
    inbox.messages.clear()

    params = ["ticket=GLPI-9120", "servidor=alfresco-02", f"copias={sets}", f"dir_root={dir_root}", f"ctl={ctl}",
              f"conexion_bd=-h 127.0.0.1 -p {postgres.port} -U alfresco -d alfresco",
              f"url_ready=http://127.0.0.1:{http_port}{READY}"]           # no fecha: the latest backup
    daemon = agentd(config)
    proc = daemon.follow("run", "alfresco-restore", *[a for p in params for a in ("-p", p)])
    journal = Journal(store)
    inv = TapeInventory(store)
    deadline, run_id, seen = time.monotonic() + 420, None, set()         # slow under faketime and load
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            runs = [r for r in journal.runs(3) if r["runbook"] == "alfresco-restore"]
            run_id = runs[0]["id"] if runs else None
            steps = journal.steps(run_id) if run_id else {}
            for step in {s for s, r in steps.items() if r["status"].startswith("awaiting")} - seen:
                seen.add(step)
                if step == "autoriza":
                    ok = daemon.cli("approve", run_id, "autoriza", person="mariella")
                    assert ok.returncode == 0, ok.stdout + ok.stderr
                elif step == "recepcionar-caja":                    # activity 10: the box comes back
                    assert any("Servicio de emergencia" in s for s in inbox.subjects()), inbox.subjects()
                    assert cli(config, "tapes", "box", "receive", "CAJA-AF", "--seal", "P-300").returncode == 0
                    for label in backup.volumes:
                        peer.insert(label)
                    cli(config, "tapes", "sync")
                elif step == "devolver-caja":                       # and goes back when the service is up
                    for label in backup.volumes:
                        peer.eject(label)
                    cli(config, "tapes", "sync")
                    assert cli(config, "tapes", "box", "send", "CAJA-AF", "--seal", "P-301").returncode == 0
            time.sleep(0.3)
        if proc.poll() is None:
            proc.kill()
            raise AssertionError(f"the recovery did not end:\n{daemon.cli('run-status', run_id).stdout}\n"
                                 f"{daemon.tail()}")
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        subprocess.run([str(ctl), "stop", "web"])
    assert proc.returncode == 0, stdout[-4000:] + stderr[-2000:] + daemon.tail()

    steps, facts = journal.steps(run_id), journal.facts(run_id)
    assert steps["evaluar-copia-disco"]["status"] == "failed"                        # 8: nothing on disk
    assert steps["ubicar-cinta"]["status"] == "successful" and facts["restore_boxes"] == ["CAJA-AF"]
    assert facts["restore_jobs"] == backup.job_id and facts["restore_status"] == "completado"
    # the set came back under the sets folder (not over the live content store), checked, then restored
    assert facts["backup_set_name"] == "2026-11-16_0200"
    assert str(sets / "desde-cinta") in facts["backup_set"]
    assert postgres.psql("select count(*) from alf_node_standin") == good_nodes
    assert _store_digest(dir_root) == good_store
    assert journal.run(run_id)["status"] in TERMINAL and journal.run(run_id)["status"] == "successful"
    # Anexo 06: the line of this restore
    log = _anexo06(tmp_path / "docs-out" / "bitacoras" / "bitacora-restauracion.xlsx")
    assert log[-1]["Estado"] == "Completado" and log[-1]["Servidor"] == "alfresco-02"
    assert log[-1]["Solicitante"] == "Mesa de ayuda, ticket GLPI-9120"
    assert log[-1]["Fecha de backup"] == backup.started.astimezone(LIMA).strftime("%d/%m/%Y")
    # the box went out, was asked for, came back, and went out again
    assert [m["movement"] for m in inv.movements("CAJA-AF")] == ["preparada", "enviada", "solicitada", "recibida",
                                                                  "enviada"]
    assert any("El gestor documental Alfresco está disponible" in s for s in inbox.subjects())
    assert yaml.safe_load(config.read_text())["inventory"]                  # (the site was not rewritten)
