"""`make demo` as the README shows it: the daemon on a simulated datacenter, the console's address and three
demo people whose passwords are printed once; a shutdown started from the console, approved by the jefa
in her own session and by GG through the HTTP API, and its checklist downloaded as a PDF."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx
import pytest

from tests.agentd import OTI
from tests.peers.common import free_tcp_port


def _console(base: str, login: str, password: str) -> httpx.Client:
    """A person's browser session with the console (through the login form)."""
    browser = httpx.Client(base_url=base, timeout=15)
    answer = browser.post("/login", data={"login": login, "password": password, "next": "/"}, headers={"origin": base})
    assert answer.status_code == 303, answer.text[:500]
    browser.headers["origin"] = base
    return browser


def _ready(proc, port: int) -> tuple[str, dict[str, str], str]:
    """Read the demo's output until the daemon serves: (what it said, the passwords it printed, its URL)."""
    said, passwords = "", {}
    deadline = time.monotonic() + 90
    while len(passwords) < 3:
        assert time.monotonic() < deadline and proc.poll() is None, said
        said += proc.stdout.readline()
        passwords = dict(re.findall(r"demo person (\w+) .*?: password (\S+)", said))
    deadline = time.monotonic() + 30
    while "metrics at" not in said:
        assert time.monotonic() < deadline, said
        said += proc.stdout.readline()
    return said, passwords, f"http://127.0.0.1:{port}"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.timeout(180)
def test_the_demo_runs_a_shutdown_from_the_console_and_gives_its_checklist_as_pdf(tmp_path):
    port, workdir = free_tcp_port(), tmp_path / "demo"
    proc = subprocess.Popen([OTI, "demo", "--workdir", str(workdir), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    said = ""
    try:
        said, passwords, base = _ready(proc, port)
        assert f"console:    {base}/" in said
        assert httpx.get(f"{base}/api/v1/runs").status_code == 401
        # what the README says to do: the on-call engineer starts the shutdown from the console, the jefa
        # approves in her own browser session, GG through the API as the README's curl does
        people = {login: _console(base, login, passwords[login]) for login in ("lquispe", "mparedes")}
        engineer = people["lquispe"]
        assert "Estado del centro de datos" in engineer.get("/").text
        # a healthy day: every simulated device detected, read and OK (no 0 V phases, no never-connected ports)
        deadline = time.monotonic() + 30
        while True:
            text = httpx.get(f"{base}/metrics").text
            states = dict(re.findall(r'oti_device_state\{device="([^"]+)"[^}]*\} (\S+)', text))
            if {"ups-principal", "aap-01", "sw-acceso-01"} <= set(states) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        simulated = {d: v for d, v in states.items() if d != "oti-agent-host"}
        assert simulated and all(v == "0.0" for v in simulated.values()), (simulated, re.findall(
            r"^oti_reading_state.*$", text, re.M)[:10])
        form = engineer.get("/ejecuciones/nueva/apagado-demo").text
        assert "Ver plan" in form
        started = engineer.post("/ejecuciones/nueva/apagado-demo/iniciar",
                                data={"csrf_token": _csrf(form), "p_motivo": "Mantenimiento del tablero eléctrico",
                                      "p_fecha_programada": "ahora"})
        assert started.status_code == 303, started.text[:1000]
        run_id = started.headers["location"].split("/ejecuciones/", 1)[1].split("?", 1)[0]
        jefa = people["mparedes"]
        decide = f"/ejecuciones/{run_id}/pasos/aprobacion-jefa/decidir"
        deadline = time.monotonic() + 30
        while "Aprobar" not in (page := jefa.get(decide).text):
            assert time.monotonic() < deadline, page[:2000]
            time.sleep(0.3)                            # the step is not waiting yet
        done = jefa.post(decide, data={"csrf_token": _csrf(page), "decision": "aprobar", "comentario": "conforme"})
        assert done.status_code in (200, 303), done.text[:1000]
        gg = httpx.Client(base_url=base, timeout=15)
        csrf = gg.post("/api/v1/login", json={"login": "jsalas", "password": passwords["jsalas"]}).json()["csrf"]
        deadline = time.monotonic() + 30
        while True:
            done = gg.post(f"/api/v1/runs/{run_id}/steps/aprobacion-gg/approve",
                           json={"approve": True, "comment": "conforme"}, headers={"X-CSRF-Token": csrf})
            if done.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)                            # the step is not waiting yet
        assert done.status_code == 200, done.text
        deadline = time.monotonic() + 30
        while "Exitosa" not in (view := engineer.get(f"/ejecuciones/{run_id}").text):
            assert time.monotonic() < deadline, view[:3000]
            time.sleep(0.3)
        pdf = re.search(r'href="(/documentos/descargar\?doc=[^"]*checklist-apagado&amp;formato=pdf)"', view)
        assert pdf, view[-3000:]
        got = engineer.get(pdf.group(1).replace("&amp;", "&"))
        assert got.status_code == 200 and got.content.startswith(b"%PDF"), got.text[:500]
        config = workdir / "config.yaml"
        status = subprocess.run([OTI, "run-status", run_id, "-c", str(config)], capture_output=True, text=True)
        assert "successful" in status.stdout.splitlines()[0], status.stdout + status.stderr
        _drill_report(workdir, said)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "demo stopped" in said + (proc.stdout.read() or "")


def _drill_report(workdir, said: str) -> None:
    """The demo backs its own config up (files backend) and drills it: the report is among its documents."""
    from agent.store import Store, queries_drills

    reports = workdir / "var" / "documentos" / "simulacros"
    deadline = time.monotonic() + 90
    while not list(reports.glob("informe-simulacro-*.xlsx")):
        assert time.monotonic() < deadline, said[-2000:]
        time.sleep(0.5)
    drills = queries_drills.drills(Store("sqlite:///oti-agent.db", workdir))
    assert [(d["asset"], d["result"], d["cleanup"]) for d in drills] == [("agente", "ok", True)], drills

def _power_state(workdir) -> tuple[str, str | None]:
    from agent.store import Store, queries

    row = queries.power_state_rows(Store("sqlite:///oti-agent.db", workdir)).get("ups-principal")
    return (row["state"], row["run_id"]) if row else ("normal", None)


def _until_power(workdir, wanted: set[str], said: str, timeout: float = 90) -> tuple[str, str | None]:
    deadline = time.monotonic() + timeout
    # shutting_down and starting are latched before their run starts: wait for the run's id too
    while (now := _power_state(workdir))[0] not in wanted or (now[0] in ("shutting_down", "starting") and not now[1]):
        assert time.monotonic() < deadline, (now, said[-2000:])
        time.sleep(0.5)
    return now


def _decide(person, run_id: str, step: str) -> None:
    decide = f"/ejecuciones/{run_id}/pasos/{step}/decidir"
    deadline = time.monotonic() + 30
    while "Aprobar" not in (page := person.get(decide).text):
        assert time.monotonic() < deadline, page[:2000]
        time.sleep(0.3)
    done = person.post(decide, data={"csrf_token": _csrf(page), "decision": "aprobar", "comentario": "conforme"})
    assert done.status_code in (200, 303), done.text[:1000]


@pytest.mark.timeout(240)
def test_the_demo_plays_a_power_failure_a_staged_shutdown_and_a_gated_return(tmp_path):
    port, workdir = free_tcp_port(), tmp_path / "demo"
    proc = subprocess.Popen([OTI, "demo", "--workdir", str(workdir), "--port", str(port), "--power-failure",
                             "--power-failure-after", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    said = ""
    try:
        said, passwords, base = _ready(proc, port)
        jefa = _console(base, "mparedes", passwords["mparedes"])
        # the mains fail: the UPS on battery, 9 min left, within the budget: the staged shutdown at once
        _, run_id = _until_power(workdir, {"shutting_down"}, said)
        assert 'oti_power_state{ups="ups-principal",state="shutting_down"} 1.0' in httpx.get(f"{base}/metrics").text
        assert "Apagado de emergencia en curso" in jefa.get("/estado/cuerpo").text
        _decide(jefa, run_id, "aprobacion-jefa")             # within her window (she could have said no)
        _until_power(workdir, {"waiting_for_mains"}, said)
        # the mains come back; stable 30 s: the startup asks her first
        _, startup = _until_power(workdir, {"starting"}, said, 120)
        _decide(jefa, startup, "confirmar-retorno")
        _until_power(workdir, {"normal"}, said, 60)
        status = subprocess.run([OTI, "run-status", startup, "-c", str(workdir / "config.yaml")], capture_output=True,
                                text=True)
        assert "successful" in status.stdout.splitlines()[0], status.stdout + status.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    said += proc.stdout.read() or ""
    assert "corte de energía" in said and "vuelve la energía comercial" in said
