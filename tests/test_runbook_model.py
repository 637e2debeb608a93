"""Bad runbooks are refused before anything runs, naming the file, the step and the key; plan and conditions."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.errors import ConfigError
from agent.runbook import expr
from agent.runbook.model import load
from tests.conftest import REPO, dedent

runner = CliRunner()


def _book(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(dedent(text))
    return path


SAMPLE_PARAMS = {
    "restore-from-tape": ["unidad=DEIN", "solicitante=Ana", "correo_solicitante=ana@entidad.example",
                          "activo=bd-oracle-prod", "fecha=2026-11-20", "motivo=borrado", "destino=/srv/r"],
    "alfresco-restore": ["ticket=GLPI-1"],
    "antivirus-agent-repair": ["equipo=app-web-01"],
    "disaster-recovery": ["tipo=cataclismo", "descripcion=sismo de magnitud 7"],
    "monthly-report": ["mes=2026-11"],
    "simulacro-restauracion": ["activo=bd-oracle-prod"],
}


def test_shipped_runbooks_are_valid():
    shipped = sorted(p.stem for p in (REPO / "runbooks").glob("*.yaml"))
    assert {"datacenter-shutdown", "datacenter-startup", "restore-from-tape", "alfresco-restore",
            "antivirus-agent-repair"} <= set(shipped)
    for name in shipped:
        book = load(REPO / "runbooks" / f"{name}.yaml")
        assert all(s.activities for s in book.steps), name
        args = [a for p in SAMPLE_PARAMS.get(name, []) for a in ("-p", p)]
        result = runner.invoke(app, ["plan", name, "-c", str(REPO / "config.example.yaml"), *args])
        assert result.exit_code == 0, (name, result.output)


def test_a_parameter_naming_no_device_is_refused_with_the_step():
    result = runner.invoke(app, ["plan", "antivirus-agent-repair", "-c", str(REPO / "config.example.yaml"),
                                 "-p", "equipo=no-existe"])
    text = str(result.exception)
    assert result.exit_code != 0 and "steps[reinstalar].targets" in text and "no-existe" in text


def test_unknown_kind_missing_need_cycle_and_bad_options_are_named(tmp_path):
    path = _book(tmp_path, """
        id: malo
        title: Malo
        procedure: prueba
        steps:
          - id: a
            activity: 1
            name: A
            kind: teleport
          - id: b
            activity: 2
            name: B
            kind: record
            needs: [c, ghost]
            with: {text: hola, colour: red}
          - id: c
            activity: 3
            name: C
            kind: pause
            needs: [b]
            with: {seconds: 1}
            when: "params.nope or __import__('os')"
        """)
    with pytest.raises(ConfigError) as err:
        load(path)
    text = str(err.value)
    assert f"{path}:8: steps[a].kind: unknown step kind 'teleport'" in text
    assert f"{path}:13: steps[b].needs: needs unknown step 'ghost'" in text
    assert f"{path}:14: steps[b].with.colour: unknown key" in text
    assert "needs form a cycle: b -> c -> b" in text or "needs form a cycle: c -> b -> c" in text
    assert "steps[c].when:" in text and "calls are not allowed" in text


def test_selector_matching_nothing_is_refused_by_plan(tmp_path):
    path = _book(tmp_path, """
        id: vacio
        title: Vacío
        procedure: prueba
        steps:
          - id: apagar-nada
            activity: 9
            name: Apaga lo que no existe
            kind: ssh
            targets: {names: [], kinds: [tape_library], roles: [ninguno]}
            with: {command: "true"}
        """)
    result = runner.invoke(app, ["plan", str(path), "-c", str(REPO / "config.example.yaml")],
                           env={"OTI_SNMP_COMMUNITY": "x"})
    assert result.exit_code == 1
    assert "steps[apagar-nada].targets: the selector matches no device" in str(result.exception or result.output)


def test_plan_shows_order_parallel_approvals_and_critical_path():
    result = runner.invoke(app, ["plan", "datacenter-shutdown", "-c", str(REPO / "config.example.yaml"),
                                 "-p", "relocation=false"], env={"OTI_SNMP_COMMUNITY": "x", "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "aprobaciones: aprobacion-jefa (jefa) → aprobacion-gg (gg)" in out
    assert "en paralelo: bajar-comunicaciones con apagar-central-telefonica" in out
    assert "no aplica (params.relocation)" in out
    assert "ruta crítica" in out
    assert "app-interno-01, app-web-01, alfresco-01, alfresco-db" in out     # shutdown order: least important first


def test_conditions_language():
    assert expr.evaluate("params.relocation", {"relocation": True}, {}) is True
    assert expr.evaluate("steps.a-b.status == 'successful' and not params.x", {"x": False},
                         {"a-b": "successful"}) is True
    with pytest.raises(expr.ExprError):
        expr.parse("params.x.__class__()")


def test_a_runbook_is_found_only_in_its_folder_unless_the_local_cli_plans_a_file(tmp_path):
    """A name from the console's URL or the API's body cannot pick a YAML file elsewhere on the disk (its own
    start_roles would then decide who may start it); the local `plan FILE` still reads the file given."""
    from agent.errors import ConfigError
    from agent.runbook.model import find

    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "apagado.yaml").write_text("id: apagado\n")
    outside = tmp_path / "otro.yaml"
    outside.write_text("id: otro\n")
    assert find("apagado", folder) == folder / "apagado.yaml"
    assert find("apagado.yaml", folder) == folder / "apagado.yaml"
    for name in (str(outside), "../otro", "../otro.yaml", "x/../../otro", ".oculto"):
        with pytest.raises(ConfigError):
            find(name, folder)
    assert find(str(outside), folder, any_file=True) == outside
