"""The manual's «No: regresa a la actividad N» for checks (issue 15 item 8): a step that fails sends the run
back to an earlier step — those steps act again, then the check — a bounded number of times, and only then
fails or asks. On a real sshd: the first round leaves the server not ready, the second makes it ready."""

from __future__ import annotations

import os

from tests.test_runbook_faults import _execute, _site

ROUNDS = """
    steps:
      - id: preparar
        activity: 8
        name: Prepara el servidor
        kind: ssh
        targets: {names: [srv]}
        with:
          command: "mkdir -p {{ params.dir | q }} && echo x >> {{ params.dir | q }}/vueltas && if [ $(wc -l < {{ params.dir | q }}/vueltas) -ge {{ params.listo_en }} ]; then touch {{ params.dir | q }}/listo; fi"
      - id: anotar
        activity: 9
        name: Anota
        kind: record
        needs: [preparar]
        with: {text: "preparado"}
      - id: verificar
        activity: 10
        name: Verifica que el servidor esté listo
        kind: wait_until
        needs: [anotar]
        targets: {names: [srv]}
        with: {probe: ssh, command: "test -f {{ params.dir | q }}/listo", within: 1s, every: 0.2s}
        back_to: preparar
        back_times: 2
"""
PARAMS = """
    params:
      dir: {default: /tmp}
      listo_en: {type: int, default: 2}
"""


def _workdir(sshd, tmp_path):
    """A folder of the server's login user (the runbook's commands run as that user)."""
    import pwd
    import shutil

    work = sshd.public_dir / tmp_path.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    user = pwd.getpwnam(sshd.user)
    os.chown(work, user.pw_uid, user.pw_gid)
    return work


def _rounds(path) -> int:
    return len(path.read_text().splitlines())


def test_a_failed_check_sends_the_run_back_and_the_second_round_succeeds(site, tmp_path, sshd):
    site.ssh_device("srv", sshd)
    config, path = _site(site, tmp_path, ROUNDS, PARAMS)
    work = _workdir(sshd, tmp_path)
    status, run_id, journal = _execute(config, path, {"dir": str(work), "listo_en": 2})
    assert status == "successful", [(s["step_id"], s["status"], s["message"]) for s in journal.steps(run_id).values()]
    assert _rounds(work / "vueltas") == 2                       # 8 acted again, once
    back = journal.events_named(run_id, "sent_back")
    assert [(e["step_id"], e["target"]) for e in back] == [("preparar", "verificar")]
    assert "vuelve a la actividad 8 (Prepara el servidor), vuelta 1 de 2" in back[0]["detail"]
    assert all(s["status"] == "successful" for s in journal.steps(run_id).values())
    superseded = [e for e in journal.events(run_id) if e["event"] == "action_superseded"]
    assert {e["step_id"] for e in superseded} == {"preparar", "anotar", "verificar"}   # the first round, kept


def test_a_check_that_never_holds_goes_back_at_most_back_times_and_then_fails_the_run(site, tmp_path, sshd):
    site.ssh_device("srv", sshd)
    config, path = _site(site, tmp_path, ROUNDS, PARAMS)
    work = _workdir(sshd, tmp_path)
    status, run_id, journal = _execute(config, path, {"dir": str(work), "listo_en": 9})
    assert status == "failed"
    assert _rounds(work / "vueltas") == 3                       # the first round and two more, no fourth
    assert len(journal.events_named(run_id, "sent_back")) == 2
    step = journal.steps(run_id)["verificar"]
    assert step["status"] == "failed" and "no se cumplió" in step["message"]


def test_the_plan_says_where_a_failure_sends_the_run_and_a_bad_back_to_is_refused(site, tmp_path):
    from agent.core.settings import load_all
    from agent.errors import ConfigError
    from agent.runbook.model import load
    from agent.runbook.plan import make_plan

    config, path = _site(site, tmp_path, ROUNDS, PARAMS)
    book = load(path)
    plan = make_plan(book, book.resolve_params({}), load_all(config))
    verify = next(p for p in plan.steps if p.step.id == "verificar")
    assert "si falla vuelve a la actividad 8 (preparar) hasta 2 veces" in verify.description

    path.write_text(path.read_text().replace("back_to: preparar", "back_to: verificar-otro"))
    try:
        load(path)
    except ConfigError as err:
        problem = err.problems[0]
        assert problem.path == "steps[verificar].back_to" and problem.line is not None
        assert "must name a step this one comes after" in problem.message
    else:
        raise AssertionError("a back_to naming no earlier step was accepted")
