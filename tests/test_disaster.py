"""The disaster procedure (Recuperación de servicios de TI, activities 5–13, Anexos 08–09) end to end in the
daemon: an earthquake declared, the jefa and GG told, damage typed in by the OTI team, the Anexo 09 list of
that type worked through (the UPS and the services read by the agent), a No at the conformity check sending
the run back to activity 11, the hoja de control written and closed by the jefa."""

from __future__ import annotations

import time

from openpyxl import load_workbook

from agent.runbook.journal import Journal
from agent.runbook.model import load
from agent.store import Store
from tests.agentd import assert_run_succeeded
from tests.conftest import REPO

BOOK = load(REPO / "runbooks" / "disaster-recovery.yaml")
KIND = {s.id: s.kind for s in BOOK.steps}


def test_an_earthquake_worked_through_its_anexo_09_list_and_closed_by_the_jefa(datacenter, snmpsim, smtp,
                                                                               tmp_path, agentd):
    datacenter.all_on()
    port, inbox = smtp
    config = datacenter.write_config(tmp_path, snmpsim.port, port)
    daemon = agentd(config)
    inbox.messages.clear()
    # Rosa declares it (activity 5); Luis, of the year's OTI team, works it; the jefa and GG do their part
    proc = daemon.follow("run", "disaster-recovery", "-p", "tipo=cataclismo",
                         "-p", "descripcion=Sismo de magnitud 7; gabinete 2 sin energía", person="rosa")
    journal = Journal(Store("sqlite:///var/oti.db", tmp_path))
    refused, rejected, answered = [], False, []
    deadline, run_id = time.monotonic() + 240, None
    while time.monotonic() < deadline and proc.poll() is None:
        runs = [r for r in journal.runs(3) if r["runbook"] == "disaster-recovery"]
        run_id = runs[0]["id"] if runs else None
        for step, row in (journal.steps(run_id) if run_id else {}).items():
            if not row["status"].startswith("awaiting"):
                continue
            if row["status"] == "awaiting_approval":
                if step == "jefa-toma-conocimiento":
                    done = daemon.cli("approve", run_id, step, person="mariella")
                elif step == "conformidad" and not rejected:             # activity 12: No, back to 11
                    done = daemon.cli("approve", run_id, step, "--reject", "--comment", "falta el gabinete 3")
                    rejected = True
                elif step == "conformidad":
                    done = daemon.cli("approve", run_id, step, "--comment", "conforme")
                else:
                    done = daemon.cli("approve", run_id, step, "--comment", "hoja conforme", person="mariella")
            elif row["status"] == "awaiting_decision":             # a check that failed: go on, it is recorded
                done = daemon.cli("confirm", run_id, step, "--skip")
            elif step == "comunicado-entidad":
                refused.append(daemon.cli("confirm", run_id, step))                   # luis is not GG
                done = daemon.cli("confirm", run_id, step, person="joanna")
            elif step in ("danos-durante", "evaluar-danos"):
                refused.append(daemon.cli("confirm", run_id, step, "--value", "danos=x", person="rosa"))  # not team
                done = daemon.cli("confirm", run_id, step, "--value", f"danos=Gabinete 2 sin energía ({step})")
            else:
                done = daemon.cli("confirm", run_id, step)
            assert done.returncode == 0, (step, done.stdout + done.stderr)
            answered.append(step)
        time.sleep(0.3)
    assert_run_succeeded(proc, daemon, journal, run_id)

    # only the roles the manual names act: GG's notice by GG, the damage by the OTI team
    assert [r.returncode for r in refused] == [1, 1, 1], [r.stderr for r in refused]
    steps = journal.steps(run_id)
    # the earthquake's list, not the fire's or the flood's; the UPS and the services read by the agent
    assert all(steps[s]["status"] == "skipped" for s in KIND if s.startswith(("incendio-", "inundacion-")))
    assert all(steps[s]["status"] == "successful" for s in KIND if s.startswith("cataclismo-")), \
        {s: steps[s]["status"] for s in KIND if s.startswith("cataclismo-")}
    assert answered.count("cataclismo-a") == 2 and answered.count("conformidad") == 2     # 12 -> 11 -> 12
    decisions = journal.decisions(run_id, "evaluar-danos", kind="confirm")
    assert decisions[-1]["values"] == {"danos": "Gabinete 2 sin energía (evaluar-danos)"}
    assert [(d["by"], d["decision"]) for d in journal.decisions(run_id, "conformidad", kind="approval")
            if not d.get("superseded")][-1] == ("luis", "approved")

    # the jefa told (6), GG told with the notice for the entity (7-8), COM and GG told the services are up (h)
    sent = {(subject, m["To"]) for m, subject in zip(inbox.messages, inbox.subjects(), strict=True)}
    assert any("Desastre en el Centro de Datos: cataclismo" in s and "jefa@" in to for s, to in sent), sent
    gg = [m for m, subject in zip(inbox.messages, inbox.subjects(), strict=True)
          if "comunicación a la entidad" in subject]
    assert gg and gg[0]["To"] == "gg@entidad.example" and "comunicado" in gg[0].get_payload(decode=True).decode()
    assert any("Servicios digitales operativos" in s and "com@" in to and "gg@" in to for s, to in sent), sent

    # activity 13: the hoja de control, one line per activity done, the agent's checks among them
    sheet = next((tmp_path / "var" / "documentos").rglob("hoja-control-desastre*.xlsx"))
    rows = [[c.value for c in r] for r in load_workbook(sheet).active.iter_rows()]
    text = " ".join(str(v) for r in rows for v in r if v)
    for line in ("Verificar el estado del UPS", "Levantar la llave general", "Gabinete 2 sin energía"):
        assert line in text, text[:3000]
    signatures = [[c.value for c in r] for r in load_workbook(sheet)["Firmas"].iter_rows()]
    signed = {r[0]: r[1] for r in signatures if r and r[0] in ("Elaborado por", "Revisado por", "Aprobado por")}
    assert signed == {"Elaborado por": "Rosa Vega — Especialista en Base de Datos",
                      "Revisado por": "Luis Quispe — Especialista en Infraestructura y Soporte",
                      "Aprobado por": "Mariella Paredes — Jefa de la OTI"}, signed

    # Anexo 08: the three types, the declared one marked, with who and what; Anexo 09: its items as worked
    folder = tmp_path / "var" / "documentos"
    types = _table(next(folder.rglob(f"relacion-desastres-{run_id}.xlsx")), "N°")
    assert [r[1] for r in types] == ["Incendio en el Centro de Datos", "Inundación en el Centro de Datos",
                                     "Cataclismo y/o terremoto y/o vandalismo que daña la infraestructura del "
                                     "Centro de Datos"]
    assert [r[2] for r in types] == [None, None, "X"] and types[2][4] == "Rosa Vega"
    assert types[2][5] == "Sismo de magnitud 7; gabinete 2 sin energía"
    items = _table(next(folder.rglob(f"actividades-desastre-{run_id}.xlsx")), "Ítem")
    assert [r[0] for r in items] == ["a", "b", "b", "c", "d", "e", "f", "g", "h"]     # the manual's b) is two steps
    assert items[0][2].startswith("Luis Quispe") and items[0][4] == "Conforme"
    assert items[1][1] == "Verificar el estado del UPS" and items[1][2] == "oti-agent" and items[1][4] == "Conforme"
    assert all(r[3] for r in items)                                           # each with its time
    assert next(folder.rglob(f"actividades-desastre-{run_id}.pdf")).stat().st_size > 1000


def _table(path, first_heading: str) -> list[list]:
    """The rows under a form's column headings in its XLSX (the heading row starts with `first_heading`)."""
    rows = [[c.value for c in r] for r in load_workbook(path).active.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == first_heading)
    return [r for r in rows[head + 1:] if any(r)]
