"""The jefa's conformity with the monthly report (S.04.03.02_P flow 3, activities 5–6): sent, returned with
her observations, corrected and sent again, then accepted — through the daemon, as the people themselves."""

from __future__ import annotations

import copy
import time

from agent.runbook.journal import Journal
from agent.store import Store
from tests.agentd import PEOPLE, assert_run_succeeded
from tests.conftest import REPO


def test_the_jefa_returns_the_monthly_report_once_then_accepts_it(site, smtp, agentd):
    port, inbox = smtp
    site.extra["runbooks_dir"] = str(REPO / "runbooks")
    site.extra["people"] = copy.deepcopy(PEOPLE)
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"jefa": ["jefa@entidad.example"]}}
    site.hosts["sw-core"] = {"ansible_host": "127.0.0.20", "oti_kind": "switch"}
    config = site.write()
    daemon = agentd(config)
    bad = daemon.cli("run", "monthly-report", "--detach", "-p", "mes=2026-13")
    assert bad.returncode != 0 and "mes" in bad.stderr, bad.stdout + bad.stderr        # refused before it runs
    inbox.messages.clear()
    proc = daemon.follow("run", "monthly-report", "-p", "mes=2026-11")
    journal = Journal(Store("sqlite:///var/test.db", site.root))
    answered, deadline, run_id = 0, time.monotonic() + 90, None
    while time.monotonic() < deadline and proc.poll() is None:
        runs = [r for r in journal.runs(3) if r["runbook"] == "monthly-report"]
        run_id = runs[0]["id"] if runs else None
        waiting = run_id and journal.steps(run_id)["conformidad-jefa"]["status"] == "awaiting_approval"
        if waiting and answered == 0:
            refused = daemon.cli("approve", run_id, "conformidad-jefa")             # luis elaborated it
            assert refused.returncode == 1 and "cannot approve" in refused.stderr, refused.stderr
            no = daemon.cli("approve", run_id, "conformidad-jefa", "--reject", "--comment",
                            "falta el detalle de los switches del piso 3", person="mariella")
            assert no.returncode == 0, no.stdout + no.stderr
            answered = 1
        elif waiting and answered == 1 and sum(s.startswith("Informe mensual de servicios TI") for s in inbox.subjects()) >= 2:
            ok = daemon.cli("approve", run_id, "conformidad-jefa", "--comment", "conforme", person="mariella")
            assert ok.returncode == 0, ok.stdout + ok.stderr
            answered = 2
        time.sleep(0.3)
    assert_run_succeeded(proc, daemon, journal, run_id)
    decisions = [(d["by"], d["decision"], d["comment"]) for d in
                 journal.decisions(run_id, "conformidad-jefa", kind="approval", superseded=True)]
    assert decisions == [("mariella", "rejected", "falta el detalle de los switches del piso 3"),
                         ("mariella", "approved", "conforme")], decisions
    reports = [m for m, s in zip(inbox.messages, inbox.subjects(), strict=True)
               if s.startswith("Informe mensual de servicios TI — noviembre de 2026")]
    assert len(reports) == 2 and all(m["To"] == "jefa@entidad.example" for m in reports), inbox.subjects()
    assert any(part.get_filename() == "informe-mensual-2026-11.pdf" for part in reports[-1].walk())
