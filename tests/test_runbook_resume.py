"""kill -9 at random points of a full shutdown; `oti-agent resume` must finish it without repeating
a power command. Plus the engine's answers when a step fails or cannot tell what happened."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

import pytest

from agent.runbook.journal import TERMINAL, Journal
from agent.runbook.model import load
from agent.store import Store
from tests.operator import OTI, new_run, run_ids

TRIALS = int(os.environ.get("OTI_KILL_TRIALS", "20"))


class FastOperator(threading.Thread):
    """Answers every wait straight in the journal (the CLI path is covered by the end-to-end test)."""

    def __init__(self, config, dc, before):
        super().__init__(daemon=True)
        self.config, self.dc, self.before = config, dc, before
        self.journal = Journal(Store("sqlite:///var/oti.db", config.parent))
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
            j.add_decision(rid, step.id, "confirm", "luis", "confirmed", values={"temperatura_sala_c": "23"})
        elif row["status"] == "awaiting_decision":
            self.questions.append(f"{step.id}: {row['message']}")
            if step.kind == "oracle":           # the operator looks at the database and says whether it happened
                applied = self.dc.oracle_state("PRODDG")[1] == "off"
                j.add_decision(rid, step.id, "resolve", "luis", "done" if applied else "retry")
            else:                               # a notice may have gone out: say it did
                j.add_decision(rid, step.id, "resolve", "luis", "done")


def _shutdown(config, dc, args=()):
    return subprocess.Popen([OTI, "run", "datacenter-shutdown", "-c", str(config), "--by", "luis",
                             "-p", f"comando_apagado={dc.bin('fake-poweroff')}",
                             "-p", f"comando_central={dc.bin('fake-poweroff')}", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(1500)
def test_kill9_at_random_points_never_repeats_a_power_command(datacenter, snmpsim, smtp, tmp_path):
    dc = datacenter
    config = dc.write_config(tmp_path, snmpsim.port, smtp[0])
    rng = random.Random(20261126)
    journal = Journal(Store("sqlite:///var/oti.db", tmp_path))
    kills_during_power = 0
    for trial in range(TRIALS):
        t0 = time.monotonic()
        dc.all_on()
        before = run_ids(config)
        operator = FastOperator(config, dc, before)
        operator.start()
        proc = _shutdown(config, dc)
        deadline = time.monotonic() + 60
        while operator.run_id is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        run_id = operator.run_id
        assert run_id, f"trial {trial}: no run was created: {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(rng.uniform(0.0, 8.0))            # a random point of the run, from its first journal entry
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        steps_at_kill = journal.steps(run_id)
        if any(steps_at_kill[s]["status"] not in ("pending", "successful")
               for s in ("apagar-servidores-virtuales", "apagar-servidores-fisicos")):
            kills_during_power += 1
        for _ in range(3):
            if journal.run(run_id)["status"] in TERMINAL:
                break
            resume = subprocess.run([OTI, "resume", run_id, "-c", str(config)], capture_output=True, text=True,
                                    timeout=240)
        operator.stop.set()
        run = journal.run(run_id)
        assert run["status"] == "successful", (trial, run, resume.stdout[-2000:], resume.stderr[-2000:])
        for name, bmc in dc.bmcs.items():
            assert bmc.commands() == ["set shutdown 1"], (trial, name, bmc.commands())
        assert sorted(dc.power_log()) == sorted(f"poweroff {n}" for n in
                                                ("vm-app", "vm-alfresco", "vm-intranet", "backup-01", "pbx-01")), \
            (trial, dc.power_log())
        assert journal.in_maintenance() == set()
        print(f"trial {trial}: killed at {steps_at_kill and sum(1 for r in steps_at_kill.values() if r['status'] == 'successful')} "
              f"steps done, {time.monotonic() - t0:.1f}s", flush=True)
    assert kills_during_power >= 2      # the random points did land inside the power steps


def test_resume_refuses_a_changed_runbook_and_an_active_run(datacenter, snmpsim, smtp, tmp_path):
    import shutil

    dc = datacenter
    dc.all_on()
    config = dc.write_config(tmp_path, snmpsim.port, smtp[0])
    books = tmp_path / "runbooks"
    shutil.copytree(load_path(), books)
    text = config.read_text().replace(str(load_path()), str(books))
    config.write_text(text)
    proc = _shutdown(config, dc)
    journal = Journal(Store("sqlite:///var/oti.db", tmp_path))
    deadline = time.monotonic() + 60
    while not journal.runs(1) or journal.runs(1)[0]["status"] != "awaiting_approval":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run_id = journal.runs(1)[0]["id"]
    active = subprocess.run([OTI, "resume", run_id, "-c", str(config)], capture_output=True, text=True)
    assert active.returncode == 1 and "still being executed by process" in active.stderr
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    path = books / "datacenter-shutdown.yaml"
    path.write_text(path.read_text().replace("Conformidad del Jefe/a", "Conformidad de la Jefa"))
    changed = subprocess.run([OTI, "resume", run_id, "-c", str(config)], capture_output=True, text=True)
    assert changed.returncode == 1 and "changed since run" in changed.stderr
    cancel = subprocess.run([OTI, "cancel", run_id, "--by", "luis", "-c", str(config)], capture_output=True, text=True)
    assert cancel.returncode == 0


def load_path():
    from tests.conftest import REPO

    return REPO / "runbooks"
