"""Evidence files with the disaster's damage notes (issue 15 item 1, activities 9–10): the specialist
attaches photos and a report on the console's confirmation page; each is kept beside the run's documents,
not world-readable, under a safe name, and cited with its SHA-256 in the journal (the hoja de control and
Anexo 09 print the step's values)."""

from __future__ import annotations

import hashlib
import stat
import time

from agent.runbook.journal import Journal
from agent.store import Store
from tests.console import Person, set_passwords, text_of


def _wait(journal, run_id, step, status, daemon, timeout=60):
    deadline = time.monotonic() + timeout
    while journal.steps(run_id)[step]["status"] != status:
        assert time.monotonic() < deadline, (journal.steps(run_id)[step], daemon.tail())
        time.sleep(0.2)


def test_damage_notes_carry_evidence_files_kept_with_their_hash(datacenter, snmpsim, smtp, tmp_path, agentd):
    config = datacenter.write_config(tmp_path, snmpsim.port, smtp[0])
    set_passwords(config, ("luis",))
    daemon = agentd(config)
    started = daemon.cli("run", "disaster-recovery", "--detach", "-p", "tipo=incendio",
                         "-p", "descripcion=Humo en el gabinete 1", person="rosa")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split()[1]
    journal = Journal(Store("sqlite:///var/oti.db", tmp_path))
    _wait(journal, run_id, "jefa-toma-conocimiento", "awaiting_approval", daemon)
    assert daemon.cli("approve", run_id, "jefa-toma-conocimiento", person="mariella").returncode == 0
    _wait(journal, run_id, "danos-durante", "awaiting_confirmation", daemon)

    photo, report = b"\xff\xd8\xff\xe0 foto del gabinete" * 100, b"%PDF-1.4 informe de bomberos"
    action = f"/ejecuciones/{run_id}/pasos/danos-durante/confirmar"
    with Person(daemon, "luis") as luis:
        form = luis.get(action).text
        assert 'enctype="multipart/form-data"' in form and 'name="evidencias"' in form
        too_many = luis.http.post(action, data={"csrf_token": luis.csrf, "v_danos": "x"},
                                  files=[("evidencias", (f"f{i}.jpg", b"x")) for i in range(11)],
                                  headers={"origin": luis.origin})
        assert too_many.status_code == 400 and "el máximo es 10" in text_of(too_many.text)
        assert journal.steps(run_id)["danos-durante"]["status"] == "awaiting_confirmation"    # nothing taken
        done = luis.http.post(action, data={"csrf_token": luis.csrf, "v_danos": "Gabinete 1 con hollín"},
                              files=[("evidencias", ("gabinete 1.jpg", photo)),
                                     ("evidencias", ("../../<b>informe</b>.pdf", report))],
                              headers={"origin": luis.origin})
        assert done.status_code == 303, text_of(done.text)[:1000]
        _wait(journal, run_id, "danos-durante", "successful", daemon)
        values = journal.decisions(run_id, "danos-durante", kind="confirm")[-1]["values"]
        assert values["danos"] == "Gabinete 1 con hollín"
        assert hashlib.sha256(photo).hexdigest() in values["evidencias"]
        assert hashlib.sha256(report).hexdigest() in values["evidencias"]
        detail = luis.get(f"/ejecuciones/{run_id}").text
        assert "<b>informe</b>" not in detail                      # a person's file name is data
    kept = sorted((tmp_path / "var" / "documentos" / "evidencias" / run_id).iterdir())
    assert [p.name for p in kept] == ["danos-durante-01-gabinete_1.jpg", "danos-durante-02-b_informe_b_.pdf"]
    assert kept[0].read_bytes() == photo and kept[1].read_bytes() == report
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)
    assert daemon.cli("cancel", run_id, person="rosa").returncode == 0
