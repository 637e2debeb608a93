"""kill -9 of the daemon at random points of a full shutdown; started again, it must finish the run by
itself without repeating a power command. Plus the answers when a runbook changed or a run is active."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from agent.runbook.journal import TERMINAL
from agent.runbook.model import load
from tests.agentd import AgentDaemon
from tests.operator import journal_of, new_run, run_ids

TRIALS = int(os.environ.get("OTI_KILL_TRIALS", "20"))


class FastOperator(threading.Thread):
    """Answers every wait straight in the journal (the CLI path is covered by the end-to-end test)."""

    def __init__(self, config, dc, before):
        super().__init__(daemon=True)
        self.config, self.dc, self.before = config, dc, before
        self.journal = journal_of(config)
        self.stop = threading.Event()
        self.run_id = None
        self.questions: list[str] = []

    def run(self):
        answered = set()
        while not self.stop.is_set():
            self.run_id = self.run_id or new_run(self.config, self.before)
            if self.run_id:
                book = load(self.journal.run(self.run_id)["runbook_path"])
                for sid, row in self.journal.steps(self.run_id).items():
                    key = (sid, row["status"], len(self.journal.decisions(self.run_id, sid)))
                    if key in answered:
                        continue
                    answered.add(key)
                    self._answer(book.step(sid), row)
            time.sleep(0.05)

    def _answer(self, step, row):
        j, rid = self.journal, self.run_id
        if row["status"] == "awaiting_approval":
            by = {"jefa": "mariella", "gg": "joanna"}[step.with_["role"]]
            j.add_decision(rid, step.id, "approval", by, "approved", role=step.with_["role"])
        elif row["status"] == "awaiting_confirmation":
            self.dc.person_does(step.id)
            j.add_decision(rid, step.id, "confirm", "luis", "confirmed", values={"temperatura_sala_c": "23"})
        elif row["status"] == "awaiting_decision":
            self.questions.append(f"{step.id}: {row['message']}")
            if step.kind == "oracle":           # the operator looks at the database and says whether it happened
                applied = self.dc.oracle_state("PRODDG")[1] == "off"
                j.add_decision(rid, step.id, "resolve", "luis", "done" if applied else "retry")
            else:                               # a notice may have gone out: say it did
                j.add_decision(rid, step.id, "resolve", "luis", "done")


def _shutdown(daemon: AgentDaemon, dc, args=()) -> str:
    """Ask the daemon to start the shutdown (detached: the CLI returns at once); return the run id."""
    done = daemon.cli("run", "datacenter-shutdown", "--detach", "-p", f"comando_apagado={dc.bin('fake-poweroff')}",
                      "-p", f"comando_central={dc.bin('fake-poweroff')}", *args)
    assert done.returncode == 0, done.stderr + daemon.tail()
    return done.stdout.split()[1]


def _until_ended(journal, run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = journal.run(run_id)
        if run["status"] in TERMINAL:
            return run
        time.sleep(0.2)
    return journal.run(run_id)


@pytest.mark.timeout(1500)
def test_kill9_of_the_daemon_at_random_points_never_repeats_a_power_command(datacenter, snmpsim, smtp, tmp_path):
    dc = datacenter
    config = dc.write_config(tmp_path, snmpsim.port, smtp[0])
    rng = random.Random(20261126)
    journal = journal_of(config)
    kills_during_power = 0
    for trial in range(TRIALS):
        t0 = time.monotonic()
        dc.all_on()
        operator = FastOperator(config, dc, run_ids(config))
        operator.start()
        daemon = AgentDaemon(config)
        try:                     # the operator stops with the trial, whatever fails (it acts on the shared dc)
            daemon.start()
            run_id = _shutdown(daemon, dc)
            time.sleep(rng.uniform(0.0, 8.0))        # a random point of the run, from its start
            daemon.kill()                            # kill -9: no clean stop, no journal flush beyond what is
            steps_at_kill = journal.steps(run_id)
            if any(steps_at_kill[s]["status"] not in ("pending", "successful")
                   for s in ("apagar-servidores-virtuales", "apagar-servidores-fisicos")):
                kills_during_power += 1
            daemon.start()                           # it resumes the run by itself
            run = _until_ended(journal, run_id, 240)
        finally:
            operator.stop.set()
            operator.join(5)
            daemon.stop()
        assert run["status"] == "successful", (trial, run, daemon.tail())
        for name, bmc in dc.bmcs.items():
            assert bmc.commands() == ["set shutdown 1"], (trial, name, bmc.commands())
        assert sorted(dc.power_log()) == sorted(f"poweroff {n}" for n in
                                                ("vm-app", "vm-alfresco", "vm-intranet", "backup-01", "pbx-01")), \
            (trial, dc.power_log())
        assert journal.in_maintenance() == set()
        done = sum(1 for r in steps_at_kill.values() if r["status"] == "successful")
        print(f"trial {trial}: killed with {done} steps done, {time.monotonic() - t0:.1f}s", flush=True)
    assert kills_during_power >= 2      # the random points did land inside the power steps


def test_a_changed_runbook_stops_the_resume_until_a_person_decides(datacenter, snmpsim, smtp, tmp_path):
    import shutil

    dc = datacenter
    dc.all_on()
    config = dc.write_config(tmp_path, snmpsim.port, smtp[0])
    books = tmp_path / "runbooks"
    shutil.copytree(load_path(), books)
    config.write_text(config.read_text().replace(str(load_path()), str(books)))
    daemon = AgentDaemon(config).start()
    try:
        run_id = _shutdown(daemon, dc)
        journal = journal_of(config)
        deadline = time.monotonic() + 60
        while journal.run(run_id)["status"] != "awaiting_approval":
            assert time.monotonic() < deadline, daemon.tail()
            time.sleep(0.1)
        active = daemon.cli("resume", run_id, "--detach")
        assert active.returncode == 1 and "already being carried out" in active.stderr
        daemon.kill()
        path = books / "datacenter-shutdown.yaml"
        path.write_text(path.read_text().replace("Conformidad del Jefe/a", "Conformidad de la Jefa"))
        daemon.start()
        deadline = time.monotonic() + 30
        while journal.run(run_id)["status"] != "interrupted":
            assert time.monotonic() < deadline, daemon.tail()
            time.sleep(0.1)
        assert "changed since run" in journal.run(run_id)["message"]
        status = daemon.cli("run-status", run_id)
        assert "interrupted" in status.stdout and "changed since run" in status.stdout
        cancel = daemon.cli("cancel", run_id)
        assert cancel.returncode == 0, cancel.stderr
        assert journal.run(run_id)["status"] == "canceled"
    finally:
        daemon.stop()


def load_path():
    from tests.conftest import REPO

    return REPO / "runbooks"
