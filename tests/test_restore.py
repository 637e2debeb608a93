"""The restore from tape (activities 8–20) end to end: a real Bacula, the tapes away in a custody box,
the box asked back by e-mail, received, the files restored by date, the bitácora (Anexo 06)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import os
import shutil
import time

import pytest
from openpyxl import load_workbook

from agent.backups.service import BackupService
from agent.backups.tapes import TapeInventory
from agent.runbook.journal import TERMINAL, Journal
from agent.store import Store
from tests.agentd import PEOPLE
from tests.conftest import REPO
from tests.operator import cli
from tests.test_backups import LIMA, _site

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.dat"))}


def _people():
    """The tests' registry plus the units that ask for restores: DEIN (its director heads it) and the OTI
    (the jefa heads it)."""
    people = copy.deepcopy(PEOPLE)
    people["persons"].append({"login": "dein", "name": "Director DEIN",
                              "email": "director.dein@entidad.example"})
    people["units"] = [{"id": "dein", "name": "Dirección de Estadística e Informática", "head": "dein"},
                       {"id": "oti", "name": "Oficina de Tecnologías de la Información", "head": "mariella"}]
    return people


def _start(daemon, *params):
    """`oti-agent run restore-from-tape` as the OS user (luis), following the run in the daemon."""
    return daemon.follow("run", "restore-from-tape", *[a for p in params for a in ("-p", p)])


def _rows(path):
    rows = [[c.value for c in r] for r in load_workbook(path).active.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "N°")
    return [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:]]


def test_restore_by_date_with_the_box_away_then_a_date_without_backup(site, tmp_path, bacula, smtp, agentd):
    port, inbox = smtp
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"d{i}.dat").write_bytes(os.urandom(400_000))
    original = _digest(docs)
    (tmp_path / "db").mkdir()
    peer = bacula({"BackupDocs": [docs], "BackupDB": [tmp_path / "db"]}, volume_bytes="1M")
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"custodia": ["operaciones@resguardo.example"],
                                         "jefe_uuoo": ["director.dein@entidad.example"]}}
    site.extra["runbooks_dir"] = str(REPO / "runbooks")
    site.extra["people"] = _people()
    # the daemon starts no backup of its own on the matrix's calendar while the test restores
    settings = _site(site, tmp_path, peer, catch_up="1ms")
    config = site.root / "config.yaml"
    store = Store(settings.config.store.url, settings.config.base_dir)
    svc = BackupService(settings, store)

    backup = asyncio.run(svc.run(settings.assets.get("docs")))
    assert backup.good, backup.errors
    day = backup.started.astimezone(LIMA).date().isoformat()

    # the backup's tapes leave the library in a box that goes to the custody company
    inv = TapeInventory(store)
    assert cli(config, "tapes", "sync").returncode == 0
    out = cli(config, "tapes", "box", "prepare", "CAJA-09", *backup.volumes, "--seal", "P-100",
              "--allow-not-full")
    assert out.returncode == 0, out.stderr
    for label in backup.volumes:
        peer.eject(label)
    cli(config, "tapes", "sync")
    assert cli(config, "tapes", "box", "send", "CAJA-09").returncode == 0
    shutil.rmtree(docs)                                                   # the information is lost
    inbox.messages.clear()

    daemon = agentd(config)
    # a unit that is not in the registry has no head to authorise it: the daemon does not start the run
    unknown = daemon.cli("run", "restore-from-tape", "--detach", "-p", "unidad=nadie", "-p", "solicitante=X",
                         "-p", "correo_solicitante=x@entidad.example", "-p", "activo=docs",
                         "-p", f"fecha={day}", "-p", "motivo=prueba", "-p", f"destino={tmp_path / 'x'}")
    assert unknown.returncode != 0 and "people.units" in unknown.stderr, unknown.stdout + unknown.stderr
    assert not [r for r in Journal(store).runs(5) if r["runbook"] == "restore-from-tape"]

    restored_to = tmp_path / "recuperado"
    proc = _start(daemon, "unidad=dein", "solicitante=Ana Ruiz", "correo_solicitante=ana.ruiz@entidad.example",
                  "activo=docs", f"fecha={day}", "motivo=borrado accidental", f"destino={restored_to}",
                  "ticket=GLPI-4512")
    journal = Journal(store)
    run_id, seen = None, set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = [r for r in journal.runs(5) if r["runbook"] == "restore-from-tape"]
        run_id = runs[0]["id"] if runs else None
        if run_id:
            steps = journal.steps(run_id)
            if journal.run(run_id)["status"] in TERMINAL and proc.poll() is not None:
                break
            waiting = {s for s, r in steps.items() if r["status"].startswith("awaiting")} - seen
            for step in waiting:
                seen.add(step)
                if step == "autoriza":
                    refused = daemon.cli("approve", run_id, "autoriza")    # its starter cannot authorise it
                    assert refused.returncode == 1 and "cannot approve" in refused.stderr, refused.stderr
                    # the head of another unit (the jefa heads the OTI) cannot authorise DEIN's request
                    other = daemon.cli("approve", run_id, "autoriza", person="mariella")
                    assert other.returncode == 1 and "de la unidad dein" in other.stderr, other.stderr
                    ok = daemon.cli("approve", run_id, "autoriza", "--comment", "autorizado", person="dein")
                    assert ok.returncode == 0, ok.stdout + ok.stderr
                elif step == "recepcionar-caja":                           # activity 14: the box is back
                    emergency = [m for m, subject in zip(inbox.messages, inbox.subjects(), strict=True)
                                 if "Servicio de emergencia" in subject]       # activity 13: asked back
                    assert [m["To"] for m in emergency] == ["operaciones@resguardo.example"], inbox.subjects()
                    received = cli(config, "tapes", "box", "receive", "CAJA-09", "--seal", "P-100")
                    assert received.returncode == 0, received.stderr
                    for label in backup.volumes:                           # tapes back in the library
                        peer.insert(label)
                    cli(config, "tapes", "sync")
                elif step == "devolver-caja":                              # activities 18-19
                    for label in backup.volumes:
                        peer.eject(label)
                    cli(config, "tapes", "sync")
                    sent = cli(config, "tapes", "box", "send", "CAJA-09", "--seal", "P-101")
                    assert sent.returncode == 0, sent.stderr
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        raise AssertionError(f"restore run did not end:\n{daemon.cli('run-status', run_id).stdout}\n"
                             f"{daemon.tail()}")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-2000:] + daemon.tail()

    assert _digest(restored_to) == original                               # every file back, byte for byte
    facts = journal.facts(run_id)
    assert facts["restore_boxes"] == ["CAJA-09"] and facts["restore_status"] == "completado"
    assert [m["movement"] for m in inv.movements("CAJA-09")] == ["preparada", "enviada", "solicitada", "recibida",
                                                                  "enviada"]
    assert all("luis" in m["by"] for m in inv.movements("CAJA-09")), inv.movements("CAJA-09")   # root: luis
    subjects = inbox.subjects()
    # activity 9: the head of the requesting unit, and only they, was asked, with a link of their own
    asked = [m for m, subject in zip(inbox.messages, subjects, strict=True)
             if "Se requiere su decisión" in subject]
    assert [m["To"] for m in asked] == ["director.dein@entidad.example"], [m["To"] for m in asked]
    body = asked[0].get_payload(decode=True).decode()
    assert "/decidir/" in body and "Director DEIN" in body and f"recuperar docs del {day}" in body
    autoriza = [d for d in journal.decisions(run_id, "autoriza", kind="approval")]
    assert [(d["by"], d["decision"]) for d in autoriza] == [("dein", "approved")]
    result = [m for m, subject in zip(inbox.messages, subjects, strict=True)
              if "Resultado de la recuperación" in subject][0]
    assert "ana.ruiz@entidad.example" in result["To"] and "director.dein@entidad.example" in result["To"]
    assert "jefa@entidad.example" not in result["To"]            # the head of DEIN, not a fixed address
    assert "se completó" in result.get_payload(decode=True).decode()
    log = _rows(tmp_path / "docs-out" / "bitacoras" / "bitacora-restauracion.xlsx")
    assert log[0]["Solicitante"] == "Dirección de Estadística e Informática"            # the unit's name
    assert log[0]["Estado"] == "Completado" and log[0]["Servidor"] == "fs-01"
    assert log[0]["Files"] == 3 and log[0]["Directorios"] >= 1
    assert log[0]["Fecha de backup"] == backup.started.astimezone(LIMA).strftime("%d/%m/%Y")
    # Anexo 05: the request itself, with who authorised it and how it ended, kept beside the bitácora
    book = load_workbook(tmp_path / "docs-out" / "bitacoras" / f"solicitud-restauracion-{run_id}.xlsx")
    request = {r[0].value: r[1].value for r in book["Solicitud"].iter_rows() if r[0].value and r[1].value}
    assert request["Unidad orgánica solicitante"] == "Dirección de Estadística e Informática"
    assert request["Solicitante"] == "Ana Ruiz" and request["Motivo"] == "borrado accidental"
    assert request["Autorización"].startswith("Autorizado por Director DEIN") and "autorizado" in request["Autorización"]
    assert request["Resultado"] == "Completado" and request["Archivos y directorios"].startswith("3 archivos")
    signed = {r[0].value: r[1].value for r in book["Firmas"].iter_rows()}
    assert signed["Solicitado por"] == "Ana Ruiz" and signed["Autorizado por"].startswith("Director DEIN")

    # activity 12: a date without a backup is a clear answer, recorded as not possible, and notified
    proc = _start(daemon, "unidad=oti", "solicitante=Luis", "correo_solicitante=luis@entidad.example",
                  "activo=docs", "fecha=2020-01-01", "motivo=auditoría", f"destino={tmp_path / 'nada'}")
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        runs = [r for r in journal.runs(5) if r["runbook"] == "restore-from-tape" and r["id"] != run_id]
        if runs and journal.steps(runs[0]["id"])["autoriza"]["status"] == "awaiting_approval":
            ok = daemon.cli("approve", runs[0]["id"], "autoriza", person="mariella")   # the OTI's head
            assert ok.returncode == 0, ok.stdout + ok.stderr
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        raise AssertionError(f"the run for a date without backup did not end\n{daemon.tail()}")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-2000:]
    second = [r for r in journal.runs(5) if r["runbook"] == "restore-from-tape" and r["id"] != run_id][0]
    steps = journal.steps(second["id"])
    assert "no existe copia de respaldo" in steps["ubicar-cinta"]["message"]
    assert steps["recuperar"]["status"] == "skipped" and steps["registrar-resultado"]["status"] == "successful"
    assert steps["notificar-uuoo"]["status"] == "successful" and second["status"] == "successful"
    log = _rows(tmp_path / "docs-out" / "bitacoras" / "bitacora-restauracion.xlsx")
    assert log[-1]["Estado"] == "No existe copia en la fecha" and "01/01/2020" in log[-1]["Observaciones"]
    notice = [m for m in inbox.messages if "luis@entidad.example" in m["To"]][-1]
    assert "No existe copia" in notice.get_payload(decode=True).decode()
