"""People act as themselves in the daemon's runs (issue 12): the jefa and General Management, authenticated
against a real slapd, decide the datacenter shutdown from the link mailed to them; the link is theirs,
single-use; the initiator and a non-holder are refused with 403; a No sends the run back to rescheduling.
A scheduled runbook starts on an injected clock; a UPS on battery starts a runbook once per episode."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from agent.runbook.journal import TERMINAL
from tests.agentd import AgentDaemon
from tests.operator import journal_of, operate

LINK = re.compile(r"(http://\S+/decidir/\S+)")


def _directory_config(config: Path, slapd) -> None:
    """The people of the office come from the directory (groups -> roles); luis is root on the host."""
    (config.parent / "secrets").mkdir(exist_ok=True)
    (config.parent / "secrets" / "directorio").write_text(slapd.service_password + "\n")
    data = yaml.safe_load(config.read_text())
    data["people"] = {
        "persons": [{"login": "luis", "name": "Luis Quispe", "email": "is@entidad.example", "os_user": "root",
                     "roles": ["especialista_is", "coordinador"]}],
        "directory": {"url": slapd.url_ldaps, "ca_file": str(slapd.ca_file), "search_base": slapd.base_dn,
                      "bind_dn": slapd.service_dn(), "bind_password": "file:secrets/directorio",
                      "group_base": slapd.groups_dn(),
                      "group_roles": {"jefatura-oti": "jefa", "gerencia-general": "gg",
                                      "especialistas-is": "especialista_is"}, "timeout": 3},
        "local_accounts": False}
    config.write_text(yaml.safe_dump(data, sort_keys=False))


class Browser:
    """A person's browser: logs in through the login form and keeps the session cookie."""

    def __init__(self, base: str, login: str, password: str):
        self.http = httpx.Client(base_url=base, timeout=15, follow_redirects=False)
        page = self.http.post("/login", data={"login": login, "password": password, "next": "/"})
        assert page.status_code == 303, page.text
        self.csrf = self.http.post("/api/v1/login", json={"login": login, "password": password}).json()["csrf"]

    def open(self, link: str) -> httpx.Response:
        return self.http.get(link)

    def decide(self, link: str, decision: str, comment: str = "") -> httpx.Response:
        page = self.http.get(link)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text
        return self.http.post(link, data={"csrf_token": csrf.group(1), "decision": decision, "comentario": comment})


def _wait(journal, run_id: str, step: str, status: str, daemon, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while journal.steps(run_id)[step]["status"] != status:
        assert time.monotonic() < deadline, (step, journal.steps(run_id)[step], daemon.tail())
        time.sleep(0.1)


def _links_to(inbox, address: str, subject_part: str, since: int) -> list[str]:
    found = []
    for m, subject in list(zip(inbox.messages, inbox.subjects(), strict=True))[since:]:
        if m["To"] == address and subject_part in subject:
            found += LINK.findall(m.get_payload(decode=True).decode())
    return found


def _mail_wait(inbox, address, subject_part, since, timeout=30) -> str:
    deadline = time.monotonic() + timeout
    while not (links := _links_to(inbox, address, subject_part, since)):
        assert time.monotonic() < deadline, f"no mail to {address} about {subject_part}: {inbox.subjects()}"
        time.sleep(0.2)
    return links[-1]


@pytest.mark.timeout(600)
def test_the_jefa_and_gg_decide_from_their_mailed_links_as_themselves(datacenter, snmpsim, smtp, slapd, tmp_path):
    dc = datacenter
    dc.all_on()
    port, inbox = smtp
    config = dc.write_config(tmp_path, snmpsim.port, port)
    _directory_config(config, slapd)
    users = slapd.users
    mails = len(inbox.messages)
    with AgentDaemon(config) as daemon:
        journal = journal_of(config)
        started = daemon.cli("run", "datacenter-shutdown", "--detach", "-p", "motivo=Mantenimiento del tablero",
                             "-p", f"comando_apagado={dc.bin('fake-poweroff')}",
                             "-p", f"comando_central={dc.bin('fake-poweroff')}")
        assert started.returncode == 0, started.stderr + daemon.tail()
        run_id = started.stdout.split()[1]
        _wait(journal, run_id, "aprobacion-jefa", "awaiting_approval", daemon)
        link = _mail_wait(inbox, "mrojas@entidad.gob.pe", "Conformidad del Jefe/a", mails)
        assert "mrojas@entidad.gob.pe" not in _links_to(inbox, "agarcia@entidad.gob.pe", "Conformidad", mails)

        # the initiator cannot approve; a non-holder is refused; a forwarded link is refused
        own = daemon.cli("approve", run_id, "aprobacion-jefa")
        assert own.returncode == 1 and "cannot approve" in own.stderr
        gg = Browser(daemon.url, "agarcia", users["agarcia"])
        refused = gg.http.post(f"/api/v1/runs/{run_id}/steps/aprobacion-jefa/approve", json={"approve": True},
                               headers={"X-CSRF-Token": gg.csrf})
        assert refused.status_code == 403 and "Jefa de la OTI" in refused.json()["error"]
        forwarded = gg.open(link)
        assert forwarded.status_code == 403 and "otra persona" in forwarded.text
        anonymous = httpx.get(link, follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
        no_auth = httpx.get(f"{daemon.url}/api/v1/runs")
        assert no_auth.status_code == 401

        # the jefa says No: a comment is required, and the run goes back to rescheduling (activity 1)
        jefa = Browser(daemon.url, "mrojas", users["mrojas"])
        page = jefa.open(link)
        assert page.status_code == 200 and "Mantenimiento del tablero" in page.text and "Aprobar" in page.text
        assert journal.steps(run_id)["aprobacion-jefa"]["status"] == "awaiting_approval"    # a GET decided nothing
        silent = jefa.decide(link, "rechazar")
        assert silent.status_code == 400 and "comment" in silent.text
        no = jefa.decide(link, "rechazar", "no en semana de cierre contable")
        assert no.status_code == 200 and "rechazó" in no.text
        _wait(journal, run_id, "programar-apagado", "awaiting_confirmation", daemon)
        again = jefa.open(link)
        assert again.status_code == 403 and "ya se usó" in again.text                      # single use
        assert journal.steps(run_id)["aprobacion-jefa"]["status"] == "pending"
        mails = len(inbox.messages)
        new_date = daemon.cli("confirm", run_id, "programar-apagado", "--value", "fecha_programada=ahora")
        assert new_date.returncode == 0, new_date.stderr

        # the second round: a new link; this time Yes, then General Management through the API
        _wait(journal, run_id, "aprobacion-jefa", "awaiting_approval", daemon)
        link2 = _mail_wait(inbox, "mrojas@entidad.gob.pe", "Conformidad del Jefe/a", mails)
        assert link2 != link
        assert jefa.decide(link2, "aprobar", "conforme").status_code == 200
        _wait(journal, run_id, "aprobacion-gg", "awaiting_approval", daemon)
        _mail_wait(inbox, "agarcia@entidad.gob.pe", "Aprobación de Gerencia General", mails)
        yes = gg.http.post(f"/api/v1/runs/{run_id}/steps/aprobacion-gg/approve",
                           json={"approve": True, "comment": "aprobado"}, headers={"X-CSRF-Token": gg.csrf})
        assert yes.status_code == 200, yes.text
        deadline = time.monotonic() + 30
        while not (told := [m for m, subject in zip(inbox.messages, inbox.subjects(), strict=True)
                            if m["To"] == "mrojas@entidad.gob.pe" and subject.startswith("Aprobado")]):
            assert time.monotonic() < deadline, inbox.subjects()
            time.sleep(0.2)
        assert "Ana García (agarcia)" in told[0].get_payload(decode=True).decode()   # GG's answer, to the jefa
        operate(daemon, None, {}, {"temperatura_sala_c": "23"}, run_id=run_id, hands=dc.person_does)

    run = journal.run(run_id)
    assert run["status"] == "successful", run
    decisions = journal.decisions(run_id, superseded=True)
    rejected = [d for d in decisions if d["decision"] == "rejected"]
    assert rejected[0]["by"] == "mrojas" and rejected[0]["channel"] == "email" and rejected[0]["superseded"]
    approvals = [d for d in journal.decisions(run_id, kind="approval")]
    assert [(d["by"], d["role"], d["channel"]) for d in approvals] == [("mrojas", "jefa", "email"),
                                                                      ("agarcia", "gg", "web")]
    assert all(d["address"] == "127.0.0.1" for d in approvals)
    html = (tmp_path / "var" / "documentos" / run_id / "checklist-apagado.html").read_text()
    assert "María Rojas — Jefa de la OTI" in html and "Ana García — Gerencia General" in html
    assert [b.commands() for b in dc.bmcs.values()] == [["set shutdown 1"]] * len(dc.bmcs)


def test_a_link_expires_and_is_bound_to_its_person(tmp_path):
    from agent.errors import AuthError
    from agent.runbook.asking import Links
    from agent.store import Store

    now = [datetime(2026, 12, 3, 9, 0, tzinfo=UTC)]
    links = Links(Store("sqlite:///var/oti.db", tmp_path), b"k" * 32, hours=2, clock=lambda: now[0])
    token = links.issue("r1", "aprobacion-jefa", "mrojas")
    assert links.open(token, "mrojas")["step_id"] == "aprobacion-jefa"
    with pytest.raises(AuthError, match="otra persona"):
        links.open(token, "agarcia")
    other = links.issue("r1", "aprobacion-jefa", "mrojas")
    nonce = links.open(other, "mrojas")["nonce"]
    links.spend(nonce)                   # two decisions through one link at the same moment: the second is refused
    with pytest.raises(AuthError, match="ya se usó"):
        links.spend(nonce)
    with pytest.raises(AuthError, match="inválido"):
        links.open(token[:-3] + "abc", "mrojas")                      # tampered with
    now[0] += timedelta(hours=2, minutes=1)
    with pytest.raises(AuthError, match="venció"):
        links.open(token, "mrojas")


# ---------------------------------------------------------------- schedules and policies
TINY = """
id: aviso-prueba
title: Aviso de prueba
procedure: prueba
params:
  motivo: {type: str, default: "programado"}
  equipo: {type: str, default: ""}
steps:
  - id: registrar
    activity: 1
    name: Registra el motivo
    kind: record
    with: {text: "{{ params.motivo }} {{ params.equipo }}"}
  - id: aprobacion-jefa
    activity: 2
    name: Conformidad del Jefe/a
    kind: approval
    needs: [registrar]
    with: {role: jefa}
"""


def test_a_scheduled_runbook_starts_once_on_an_injected_clock(site, tmp_path):
    from agent.core.settings import load_all
    from agent.runbook.schedules import ScheduleKeeper
    from agent.runbook.service import RunService
    from agent.store import Store

    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "aviso-prueba.yaml").write_text(TINY)
    site.hosts["srv"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_physical"}
    site.extra.update(runbooks_dir="runbooks", schedules=[
        {"name": "revision-semanal", "runbook": "aviso-prueba", "when": "L M X J V 07:30",
         "params": {"motivo": "revisión semanal"}}])
    settings = load_all(site.write())
    store = Store.for_config(settings.config)

    async def scenario():
        runs = RunService(settings, store)
        keeper = ScheduleKeeper(settings.config.schedules, store.tz, store, _start(runs), runs.active)
        monday = datetime(2026, 12, 7, 12, 29, tzinfo=UTC)          # 07:29 in Lima: not yet
        assert [o for *_, o in keeper.tick(monday)] == []
        first = keeper.tick(monday + timedelta(minutes=2))
        again = keeper.tick(monday + timedelta(minutes=3))           # the same occurrence: nothing more
        holiday = keeper.tick(datetime(2026, 12, 8, 12, 31, tzinfo=UTC))   # Inmaculada Concepción
        await runs.stop()
        return first, again, holiday, runs

    first, again, holiday, runs = asyncio.run(scenario())
    assert [o for *_, o in first] == ["started"] and again == []
    assert [o for *_, o in holiday] == ["skipped_holiday"]
    (listed,) = runs.journal.runs(5)
    run = runs.journal.run(listed["id"])
    assert run["started_by"] == "agente:schedule" and run["params"]["motivo"] == "revisión semanal"
    assert run["trigger"]["schedule"] == "revision-semanal"


def _start(runs):
    def start(spec, due):
        return runs.start(spec.runbook, dict(spec.params), None,
                          trigger={"by": "schedule", "schedule": spec.name, "due_at": due.isoformat()})
    return start


@pytest.mark.timeout(300)
def test_a_ups_on_battery_starts_the_policy_runbook_once_per_episode(site, snmpsim, tmp_path):
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "aviso-prueba.yaml").write_text(TINY)
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
    site.group("energia", ["snmp"], interval="1s", timeout="0.8s")
    site.extra.update(runbooks_dir="runbooks", policies=[{
        "name": "ups-en-bateria", "runbook": "aviso-prueba", "devices": {"kinds": ["ups"]},
        "condition": {"reading": "ups_output_source", "equals": "battery"}, "for": "2s", "clear_after": "2s",
        "params": {"motivo": "{{ reason }}", "equipo": "{{ device }}"},
        "emergency": {"skip_approvals": ["aprobacion-jefa"]}}])
    config = site.write()
    journal = journal_of(config)
    with AgentDaemon(config) as daemon:
        time.sleep(4)
        assert journal.runs(5) == []                                  # on mains: nothing
        for episode in (1, 2):
            site.secret("ups", "ups-onbattery")                       # the recording of a UPS on battery
            deadline = time.monotonic() + 30
            while len(journal.runs(5)) < episode:
                assert time.monotonic() < deadline, daemon.tail()
                time.sleep(0.2)
            time.sleep(4)                                             # still on battery: no second run
            assert len(journal.runs(5)) == episode
            site.secret("ups", "ups-rfc1628")                         # mains again; the episode ends
            time.sleep(4)
    runs = journal.runs(5)
    assert len(runs) == 2
    for listed in runs:
        run = journal.run(listed["id"])
        assert run["started_by"] == "agente:policy" and run["trigger"]["policy"] == "ups-en-bateria"
        assert "ups-01: ups_output_source = battery" in run["trigger"]["reason"]
        assert run["params"]["equipo"] == "ups-01"
        assert run["status"] in TERMINAL or run["status"] == "running"
        (waived,) = journal.decisions(listed["id"], "aprobacion-jefa")
        assert waived["by"] == "agente" and "ups-en-bateria" in waived["comment"]
