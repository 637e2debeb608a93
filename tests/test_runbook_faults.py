"""Faults of issue 11 in the runbook engine: a step that raises something unexpected (5), a run whose
failed steps were all `on_failure: continue` (25), and parameters that go into root shell commands (26)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.core.settings import load_all
from agent.errors import ConfigError
from agent.runbook.engine import Engine
from agent.runbook.journal import Journal
from agent.runbook.model import load
from agent.store import Store
from tests.conftest import REPO, dedent
from tests.peers.common import free_tcp_port

runner = CliRunner()
HEAD = """
    id: prueba
    title: Prueba
    procedure: prueba
"""


def _site(site, tmp_path, steps: str, params: str = "") -> tuple:
    """Write a config and the runbook `prueba` (HEAD + params + steps); return (config path, runbook path)."""
    site.extra["runbooks_dir"] = "runbooks"
    site.hosts.setdefault("srv", {"ansible_host": "127.0.0.1", "oti_kind": "server_physical"})
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    path = folder / "prueba.yaml"
    path.write_text(dedent(HEAD) + dedent(params) + dedent(steps))
    return site.write(), path


def _execute(config, path, params: dict | None = None, facts: dict | None = None) -> tuple[str, str, Journal]:
    """Start and run the runbook in-process (as `oti-agent run` does); return (status, run id, journal)."""
    settings = load_all(config)
    engine = Engine(settings, Store(settings.config.store.url, settings.config.base_dir))
    book = load(path)
    run_id = engine.start(book, book.resolve_params(params or {}), "luis")
    if facts:                              # what an earlier step would have found on a server
        engine.journal.set_facts(run_id, "origen", facts)
    return asyncio.run(engine.execute(run_id)), run_id, engine.journal


def _closed_port() -> int:
    return free_tcp_port()                 # nothing listens there: a tcp probe says "closed"


# ---------------------------------------------------------------- 5: an unexpected exception fails its step
UNDEFINED = """
    steps:
      - id: aviso
        activity: 1
        name: Aviso
        kind: record
        with: {text: "Aviso de {{ params.nada }}"}
        on_failure: {on_failure}
      - id: despues
        activity: 2
        name: Después
        kind: record
        needs: [aviso]
        with: {text: "sigue"}
"""


def test_an_undefined_variable_fails_its_step_and_the_run_goes_on(site, tmp_path, caplog):
    config, path = _site(site, tmp_path, UNDEFINED.replace("{on_failure}", "continue"))
    with caplog.at_level(logging.ERROR, logger="agent.runbook"):
        status, run_id, journal = _execute(config, path)
    steps = journal.steps(run_id)
    assert steps["aviso"]["status"] == "failed"
    assert "UndefinedError" in steps["aviso"]["message"] and "nada" in steps["aviso"]["message"]
    assert steps["despues"]["status"] == "successful"           # on_failure: continue
    assert status == "completed_with_failures"
    tracebacks = [r for r in caplog.records if r.exc_info and "aviso" in r.getMessage()]
    assert len(tracebacks) == 1 and tracebacks[0].levelno == logging.ERROR


def test_an_undefined_variable_with_on_failure_stop_fails_the_run_and_resume_does_not_crash(site, tmp_path,
                                                                                             agentd):
    config, path = _site(site, tmp_path, UNDEFINED.replace("{on_failure}", "stop"))
    status, run_id, journal = _execute(config, path)
    assert status == "failed" and journal.run(run_id)["status"] == "failed"
    assert journal.steps(run_id)["despues"]["status"] == "pending"          # never started
    assert "aviso" in journal.run(run_id)["message"]
    result = agentd(config).cli("resume", run_id)                          # an ended run: nothing to do
    assert result.returncode == 1 and "has ended (failed)" in result.stderr, result.stderr


def test_plan_and_run_refuse_a_template_that_does_not_parse_naming_file_step_and_key(site, tmp_path, agentd):
    config, path = _site(site, tmp_path, """
        steps:
          - id: aviso
            activity: 1
            name: Aviso
            kind: record
            with: {text: "Aviso de {{ params.motivo "}
          - id: apagar
            activity: 2
            name: Apagar
            kind: wait_until
            targets: {names: ["{% if %}"]}
            with: {probe: tcp, state: closed, within: 1s}
        """)
    result = runner.invoke(app, ["plan", "prueba", "-c", str(config)])        # plan: here, no daemon
    text = str(result.exception)
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError), result.output
    assert f"{path}:" in text and "steps[aviso].with.text" in text and "does not parse" in text
    assert "steps[apagar].targets.names.0" in text
    started = agentd(config).cli("run", "prueba")                            # run: the daemon refuses it
    assert started.returncode == 1 and "Traceback" not in started.stderr, started.stderr
    assert f"{path}:" in started.stderr and "steps[aviso].with.text" in started.stderr
    assert "steps[apagar].targets.names.0" in started.stderr
    assert not (tmp_path / "var" / "test.db").exists() or not Journal(
        Store("sqlite:///var/test.db", tmp_path)).runs(5)                  # no run was recorded


# ---------------------------------------------------------------- 25: failed steps that continue
def test_a_run_whose_every_step_failed_ends_completed_with_failures_and_exits_non_zero(site, tmp_path, agentd):
    port = _closed_port()
    steps = "\n".join(f"""
          - id: {sid}
            activity: {n}
            name: Espera {sid}
            kind: wait_until
            targets: {{names: [srv]}}
            with: {{probe: tcp, state: open, port: {port}, within: 0.3s, every: 0.1s}}
            on_failure: continue""" for n, sid in enumerate(("esperar-a", "esperar-b"), 1))
    config, _ = _site(site, tmp_path, "steps:" + steps + "\n")
    result = agentd(config).cli("run", "prueba")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "completed_with_failures" in result.stdout
    run = Journal(Store("sqlite:///var/test.db", tmp_path)).runs(1)[0]
    assert run["status"] == "completed_with_failures"
    assert "esperar-a" in run["message"] and "esperar-b" in run["message"]
    listing = runner.invoke(app, ["runs", "-c", str(config)])
    assert "completed_with_failures" in listing.output


def test_a_run_without_failures_ends_successful_and_one_that_branches_on_a_failure_too(site, tmp_path, agentd):
    config, _ = _site(site, tmp_path, f"""
        steps:
          - id: hay-servicio
            activity: 1
            name: ¿Responde el servicio?
            kind: wait_until
            targets: {{names: [srv]}}
            with: {{probe: tcp, state: open, port: {_closed_port()}, within: 0.3s, every: 0.1s}}
            on_failure: continue       # no responde: se prepara (la rama del manual)
          - id: preparar
            activity: 2
            name: Prepara el servicio
            kind: record
            needs: [hay-servicio]
            when: steps.hay-servicio.status == 'failed'
            with: {{text: preparado}}
        """)
    result = agentd(config).cli("run", "prueba")
    assert result.returncode == 0, result.stdout + result.stderr
    run = Journal(Store("sqlite:///var/test.db", tmp_path)).runs(1)[0]
    assert run["status"] == "successful"


# ---------------------------------------------------------------- 26: parameters in root shell commands
ALFRESCO = ["plan", "alfresco-restore", "-c", str(REPO / "config.example.yaml"), "-p", "ticket=GLPI-1"]


def test_alfresco_restore_refuses_a_path_with_a_space_naming_runbook_and_parameter():
    result = runner.invoke(app, [*ALFRESCO, "-p", "dir_root=/opt/alfresco /"])
    text = str(result.exception)
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError), result.output
    assert "alfresco-restore" in text and "dir_root" in text and "pattern" in text


def test_alfresco_restore_refuses_a_path_that_resolves_outside_its_installation():
    result = runner.invoke(app, [*ALFRESCO, "-p", "dir_root=/opt/alfresco/../.."])    # matches the pattern
    text = str(result.exception)
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError), result.output
    assert "steps[restaurar-contenido]" in text and "dir_root" in text and "/opt/alfresco" in text
    assert runner.invoke(app, ALFRESCO).exit_code == 0                   # the defaults plan fine


def test_parameters_declare_a_pattern_and_choices(site, tmp_path):
    _, path = _site(site, tmp_path, """
        steps:
          - id: aviso
            activity: 1
            name: Aviso
            kind: record
            with: {text: "{{ params.modo }} {{ params.carpeta }}"}
        """, params="""
        params:
          modo: {choices: [rapido, completo], default: rapido}
          carpeta: {pattern: '^/[A-Za-z0-9_/.-]+$', default: /srv/datos}
        """)
    book = load(path)
    assert book.resolve_params({"modo": "completo"}) == {"modo": "completo", "carpeta": "/srv/datos"}
    with pytest.raises(ConfigError) as err:
        book.resolve_params({"modo": "otro"})
    assert "runbook prueba" in str(err.value) and "modo" in str(err.value) and "rapido, completo" in str(err.value)
    with pytest.raises(ConfigError) as err:
        book.resolve_params({"carpeta": "/srv/datos\n"})                 # the whole value must match
    assert "runbook prueba" in str(err.value) and "carpeta" in str(err.value)


def test_a_default_that_breaks_its_own_pattern_is_refused_at_load(site, tmp_path):
    _, path = _site(site, tmp_path, """
        steps:
          - {id: aviso, activity: 1, name: Aviso, kind: record, with: {text: hola}}
        """, params="""
        params:
          carpeta: {pattern: '^/srv/.+$', default: /etc}
        """)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert "params.carpeta" in str(err.value) and "'/etc' does not match its pattern" in str(err.value)


def test_the_q_filter_keeps_a_parameter_one_word_in_a_shell_command(site, tmp_path, sshd):
    site.ssh_device("srv", sshd)
    config, path = _site(site, tmp_path, """
        steps:
          - id: eco
            activity: 1
            name: Eco
            kind: ssh
            targets: {names: [srv]}
            with: {command: "printf '%s|' {{ params.texto | q }}"}
        """, params="""
        params:
          texto: {default: ""}
        """)
    status, run_id, journal = _execute(config, path, {"texto": "uno dos; echo inyectado"})
    assert status == "successful", journal.steps(run_id)
    assert journal.actions(run_id, "eco")[0]["message"].endswith(": uno dos; echo inyectado|")


PATHS = """
    steps:
      - id: borrar
        activity: 1
        name: Borra la copia de trabajo
        kind: ssh
        targets: {names: [srv]}
        with:
          command: "echo rm -rf {{ params.dir | q }}/trabajo {{ facts.copia | default('') | q }}"
          paths_under: ["/srv/oti"]
"""


def test_paths_under_refuses_a_parameter_outside_its_roots_before_anything_runs(site, tmp_path, sshd):
    site.ssh_device("srv", sshd)
    config, _ = _site(site, tmp_path, PATHS, params="params:\n  dir: {default: /srv/oti/datos}\n")
    for bad in ("/srv/oti/../../etc", "/srv/oti", "/srv/otra", "srv/oti/datos"):
        result = runner.invoke(app, ["plan", "prueba", "-c", str(config), "-p", f"dir={bad}"])
        text = str(result.exception)
        assert result.exit_code != 0 and "steps[borrar]" in text and "params.dir" in text, (bad, result.output)
    assert runner.invoke(app, ["plan", "prueba", "-c", str(config)]).exit_code == 0


def test_paths_under_refuses_a_fact_outside_its_roots_before_the_command_runs(site, tmp_path, sshd):
    site.ssh_device("srv", sshd)
    config, path = _site(site, tmp_path, PATHS, params="params:\n  dir: {default: /srv/oti/datos}\n")
    status, run_id, journal = _execute(config, path, facts={"copia": "//"})
    action = journal.actions(run_id, "borrar")[0]
    assert status == "failed" and action["status"] == "failed"
    assert "facts.copia" in action["message"] and "/srv/oti" in action["message"]
    assert "rm -rf" not in action["message"]                              # the command never ran
    status, run_id, journal = _execute(config, path, facts={"copia": "/srv/oti/copias/2026-01-02"})
    assert status == "successful", journal.steps(run_id)
