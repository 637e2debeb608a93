"""The helpdesk through GLPI's REST API (S.04.04.02_P): the real HTTP client against a peer on 127.0.0.1 that
answers with the responses recorded from GLPI's API documentation (tests/fixtures/glpi/; GLPI cannot run
here). An alert escalated to a vendor opens a ticket, the vendor's reply follows it, resolving the alert
solves it; an expired session is renewed; a refused token is an error that names GLPI and what to fix,
never the token; a retried call never opens two tickets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from agent.alerts import AlertBook
from agent.core.results import State
from agent.core.settings import load_all
from agent.errors import HelpdeskAuthFailed, HelpdeskError
from agent.notify.glpi import SOLVED, GlpiClient
from agent.notify.glpi_tickets import Helpdesk, marker
from agent.store import Store
from agent.store.store import StateChange
from tests.peers.glpi import GlpiPeer

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
VENDOR = {"name": "Energía y Clima S.A.C.", "email": "soporte@energia.example", "contract": "C-2026-014"}
POLICIES = [{"name": "energia", "severities": ["critical"], "kinds": ["ups"],
             "steps": [{"after": 0, "to": ["especialistas"]}, {"after": "1h", "vendor": True, "cc": ["jefa"]}]}]


@pytest.fixture
def glpi():
    with GlpiPeer() as peer:
        yield peer


def _site(site, peer, *, app_token: str | None = None, user_token: str | None = None, **glpi):
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups", "oti_vendor": VENDOR}
    site.extra["mail"] = {"host": "127.0.0.1", "port": 9, "starttls": False, "timeout": 1,
                          "recipients": {"especialistas": ["is@entidad.example"], "jefa": ["jefa@entidad.example"]}}
    site.extra["alerts"] = {"policies": POLICIES}
    site.extra["glpi"] = {"enabled": True, "url": peer.url, "timeout": 5, "alert_category": 4,
                          "app_token": site.secret("glpi-app", app_token or peer.state.app_token),
                          "user_token": site.secret("glpi-user", user_token or peer.state.user_token), **glpi}
    settings = load_all(site.write())
    return settings, Store(settings.config.store.url, settings.config.base_dir)


def _critical(device: str, reading: str, at: datetime) -> StateChange:
    return StateChange(device=device, reading=reading, check="snmp", from_state=State.OK, to_state=State.CRITICAL,
                       value=None, text="onBattery", message="la UPS está en baterías", at=at)


def test_an_alert_escalated_to_the_vendor_opens_follows_and_solves_its_ticket(site, glpi):
    settings, store = _site(site, glpi)
    store.migrate()
    clock = [T0]
    book = AlertBook(settings, store, clock=lambda: clock[0])
    [alert_id] = book.process([_critical("ups-01", "upsOutputSource", T0)])
    book.tick()                                                          # step 1: the specialists only
    assert glpi.state.tickets == {}
    clock[0] = T0 + timedelta(hours=1, minutes=1)
    assert book.tick()["tickets"] == 1                                   # step 2 writes to the vendor
    [ticket] = glpi.state.tickets.values()
    assert ticket["name"] == f"Alerta {alert_id}: ups-01 upsOutputSource"
    assert "Energía y Clima S.A.C. (contrato C-2026-014)" in ticket["content"]
    assert ticket["itilcategories_id"] == 4 and ticket["status"] == 1
    assert any(e["event"] == "ticket" for e in book.events(alert_id))
    book.escalate(alert_id, "luis")                                      # again by hand: the same ticket
    book.tick()
    assert len(glpi.state.tickets) == 1

    book.comment(alert_id, "luis", "Técnico en sitio el viernes 10:00 <b>urgente</b>", event="vendor_reply")
    book.resolve(alert_id, "luis", "baterías reemplazadas")
    assert book.tick()["tickets"] == 2
    [reply] = glpi.state.ticket_followups(ticket["id"])
    assert "<p>Técnico en sitio el viernes 10:00 &lt;b&gt;urgente&lt;/b&gt;</p>" in reply     # data, not markup
    [solution] = glpi.state.solutions.values()
    assert "resuelta por luis: baterías reemplazadas" in solution["content"]
    assert glpi.state.tickets[ticket["id"]]["status"] == SOLVED
    assert glpi.state.sessions == set()                                  # every round killed its session
    for _method, path, headers in glpi.state.requests:                   # the App-Token on every call, the
        assert headers.get("App-Token") == glpi.state.app_token          # user token only to open a session
        assert path.endswith("initSession") or (headers.get("Session-Token") and "Authorization" not in headers)


def test_an_expired_session_is_renewed_once_and_the_call_goes(site, glpi):
    settings, _ = _site(site, glpi)
    with GlpiClient(settings.config.glpi, settings.config.base_dir) as client:
        first = client.open_ticket("Primero", "uno")
        glpi.state.expire_sessions()                                     # GLPI's session lifetime passes
        second = client.followup(first, "dos")
        assert client.sessions_opened == 2 and glpi.state.followups[second]["items_id"] == first
    gone = [p for _m, p, _h in glpi.state.requests if p.endswith("ITILFollowup/")]
    assert len(gone) == 2                                               # refused once (401), then accepted


@pytest.mark.parametrize("which", ["user", "app"])
def test_a_refused_token_names_glpi_and_what_to_fix_never_the_token(site, glpi, which, caplog):
    wrong = "token-equivocado-9f8e7d6c5b4a"
    settings, store = _site(site, glpi, **{f"{which}_token": wrong})
    store.migrate()
    with pytest.raises(HelpdeskAuthFailed) as err, GlpiClient(settings.config.glpi, settings.config.base_dir) as c:
        c.open_ticket("x", "y")
    text = str(err.value)
    assert glpi.url in text and f"glpi.{which}_token" in text and wrong not in text
    assert ("ERROR_GLPI_LOGIN_USER_TOKEN" if which == "user" else "ERROR_WRONG_APP_TOKEN_PARAMETER") in text
    caplog.set_level(logging.DEBUG)
    desk = Helpdesk(store, settings.config)
    call = desk.open("alert:7", "Alerta 7", "texto")
    assert desk.flush() == (0, 1)                                        # waits in the store, logged once
    assert desk.row(call)["status"] == "queued" and glpi.url in caplog.text
    assert wrong not in caplog.text and glpi.state.user_token not in caplog.text
    assert glpi.state.tickets == {}


def test_a_retried_or_resumed_open_never_opens_two_tickets(site, glpi):
    settings, store = _site(site, glpi)
    store.migrate()
    desk = Helpdesk(store, settings.config)
    call = desk.open("run:r1", "Solicitud de restauración", "Anexo 05")
    assert desk.open("run:r1", "Solicitud de restauración", "Anexo 05") == call     # asked again: the same
    glpi.state.drop_answers = 1                              # GLPI creates it, the answer is lost on the way
    with pytest.raises(HelpdeskError):
        desk.deliver(call)
    assert len(glpi.state.tickets) == 1 and desk.row(call)["status"] == "queued"
    row = desk.deliver(call)                                  # the retry finds it by its reference
    [ticket_id] = glpi.state.tickets
    assert row["status"] == "sent" and row["ticket_id"] == ticket_id and len(glpi.state.tickets) == 1
    assert marker("run:r1") in glpi.state.tickets[ticket_id]["content"]
    note = desk.follow("run:r1", "run:r1:autoriza", "Autorizado por la jefa")
    glpi.state.drop_answers = 1
    with pytest.raises(HelpdeskError):
        desk.deliver(note)
    desk.deliver(note)
    assert desk.deliver(note)["status"] == "sent"                        # sent already: nothing goes again
    assert len(glpi.state.ticket_followups(ticket_id)) == 1


def test_a_document_is_attached_to_the_ticket_and_new_tickets_are_found_by_category(site, glpi, tmp_path):
    settings, store = _site(site, glpi)
    store.migrate()
    asked = glpi.state.new_ticket("Alfresco no responde", "El gestor documental no carga", category=3)
    glpi.state.new_ticket("Impresora", "Sin tóner", category=9)
    desk = Helpdesk(store, settings.config)
    with desk.client() as client:
        assert [t["id"] for t in client.new_tickets(3)] == [asked]
    document = tmp_path / "bitacora.pdf"
    document.write_bytes(b"%PDF-1.7 bitacora de restauracion")
    desk.link("run:r2", asked)
    desk.deliver(desk.attach("run:r2", "run:r2:documento", document, "Bitácora de restauración"))
    desk.deliver(desk.solve("run:r2", "run:r2:cierre", "Servicio restablecido", close=True))
    [doc] = glpi.state.documents.values()
    assert doc["items_id"] == asked and doc["itemtype"] == "Ticket" and doc["bytes"] == document.read_bytes()
    assert doc["name"] == "Bitácora de restauración" and doc["filename"] == "bitacora.pdf"
    assert glpi.state.tickets[asked]["status"] == 6


BOOK = """
    id: prueba-mesa
    title: Prueba de la mesa de ayuda
    procedure: "S.04.04.02_P"
    params:
      ticket: {type: str, default: ""}
      glpi: {type: bool, default: false}
    steps:
      - id: solicitud
        activity: 1
        name: Solicitud
        kind: record
        with: {text: "Ticket {{ params.ticket }}"}
      - id: ticket-abrir
        activity: 1
        name: Registra la solicitud
        kind: ticket
        needs: [solicitud]
        when: params.glpi and params.ticket == ''
        with: {action: open, title: "Solicitud {{ run_id }}", text: "Recuperar el gestor documental"}
      - id: autoriza
        activity: 3
        name: Autoriza
        kind: approval
        needs: [solicitud]
        with: {role: jefa}
      - id: ticket-autoriza
        activity: 3
        name: Registra la autorización en el ticket
        kind: ticket
        needs: [autoriza, ticket-abrir]
        when: params.glpi
        with: {action: followup, decision_of: autoriza, text: "Conformidad para la recuperación."}
      - id: ticket-cerrar
        activity: 14
        name: Cierra el ticket
        kind: ticket
        needs: [ticket-autoriza]
        when: params.glpi
        with:
          action: close
          text: "Servicio disponible."
          document: checklist-ejecucion
          document_params: {run_id: "{{ run_id }}", file: recuperacion, title: "Recuperación"}
"""


def _run_book(site, glpi, params: dict) -> tuple[str, str, object]:
    import asyncio

    from agent.runbook.engine import Engine
    from agent.runbook.model import load
    from tests.conftest import dedent

    site.extra["runbooks_dir"] = "runbooks"
    (site.root / "runbooks").mkdir(exist_ok=True)
    path = site.root / "runbooks" / "prueba-mesa.yaml"
    path.write_text(dedent(BOOK))
    settings, store = _site(site, glpi)
    engine = Engine(settings, store)
    book = load(path)
    run_id = engine.start(book, book.resolve_params(params), "luis")
    engine.journal.add_decision(run_id, "autoriza", "approval", "Mariella Lovera (mlovera)", "approved",
                                role="jefa", comment="procede la recuperación", channel="web")
    return asyncio.run(engine.execute(run_id)), run_id, engine.journal


def test_a_run_without_glpi_is_unchanged_and_calls_nobody(site, glpi):
    status, run_id, journal = _run_book(site, glpi, {"ticket": "papel-12"})
    steps = journal.steps(run_id)
    assert status == "successful" and glpi.state.requests == []
    assert {steps[s]["status"] for s in ("ticket-abrir", "ticket-autoriza", "ticket-cerrar")} == {"skipped"}


def test_a_run_from_a_glpi_ticket_records_the_authorisation_and_closes_it_with_the_document(site, glpi):
    asked = glpi.state.new_ticket("Alfresco no responde", "El gestor documental no carga", category=3)
    status, run_id, journal = _run_book(site, glpi, {"ticket": str(asked), "glpi": True})
    assert status == "successful", journal.steps(run_id)
    assert len(glpi.state.tickets) == 1                                  # the run followed the ticket it came from
    [note] = glpi.state.ticket_followups(asked)
    assert "Conformidad para la recuperación." in note
    assert "Autorizado por Mariella Lovera (mlovera) (jefa)" in note and "«procede la recuperación»" in note
    [doc] = glpi.state.documents.values()
    assert doc["items_id"] == asked and doc["filename"].endswith(".html") and run_id.encode() in doc["bytes"]
    assert glpi.state.tickets[asked]["status"] == 6
    assert "Servicio disponible." in next(iter(glpi.state.solutions.values()))["content"]


def test_a_run_without_a_ticket_opens_one_for_itself(site, glpi):
    status, run_id, journal = _run_book(site, glpi, {"glpi": True})
    assert status == "successful", journal.steps(run_id)
    [ticket] = glpi.state.tickets.values()
    assert ticket["name"] == f"Solicitud {run_id}" and ticket["status"] == 6
    assert len(glpi.state.ticket_followups(ticket["id"])) == 1


def test_a_new_ticket_starts_its_categorys_runbook_once(site, glpi):
    import asyncio

    from agent.notify.glpi_poll import TicketPoller
    from agent.runbook.engine import Engine
    from agent.runbook.model import load
    from tests.conftest import dedent

    site.extra["runbooks_dir"] = "runbooks"
    (site.root / "runbooks").mkdir(exist_ok=True)
    (site.root / "runbooks" / "prueba-mesa.yaml").write_text(dedent(BOOK))
    categories = {3: {"runbook": "prueba-mesa"},                                   # 5: a parameter it lacks
                  5: {"runbook": "prueba-mesa", "params": {"servidor": "{{ ticket.name }}"}}}
    settings, store = _site(site, glpi, categories=categories)
    engine = Engine(settings, store)

    def start(name: str, params: dict, why: dict) -> str:
        book = load(settings.config.path(settings.config.runbooks_dir) / f"{name}.yaml")
        return engine.start(book, book.resolve_params(params), "agente:helpdesk", why)

    alfresco = glpi.state.new_ticket("Alfresco no responde", "El gestor documental no carga", category=3)
    printer = glpi.state.new_ticket("Impresora", "Sin tóner", category=9)
    odd = glpi.state.new_ticket("alfresco-02", "otro servidor", category=5)
    poller = TicketPoller(Helpdesk(store, settings.config), start)
    started = dict(asyncio.run(poller.tick()))
    assert set(started) == {alfresco, odd} and started[odd] is None
    run = engine.journal.run(started[alfresco])
    assert run["params"]["ticket"] == str(alfresco) and run["params"]["glpi"] is True
    assert any(f"ejecución {started[alfresco]}" in f for f in glpi.state.ticket_followups(alfresco))
    assert any("no pudo iniciar «prueba-mesa»" in f and "servidor" in f for f in glpi.state.ticket_followups(odd))
    assert glpi.state.ticket_followups(printer) == []
    assert asyncio.run(poller.tick()) == []                              # the next poll: nothing started again
    assert len(engine.journal.runs(limit=10)) == 1


@pytest.mark.parametrize(("glpi_section", "said"), [
    ({"enabled": True, "url": "https://helpdesk.entidad.example/apirest.php"}, "needs url and user_token"),
    ({"url": "http://helpdesk.entidad.example/apirest.php"}, "plain http would carry GLPI's tokens in clear"),
    ({"url": "https://oti:clave@helpdesk.entidad.example/apirest.php"}, "remove 'user:password@'"),
    ({"user_token": "tok-literal-en-el-archivo"}, "a secret must be a reference"),
])
def test_a_glpi_section_that_would_leak_or_cannot_log_in_is_refused_with_its_line(site, glpi_section, said):
    from agent.core.config import load
    from agent.errors import ConfigError

    site.extra["glpi"] = glpi_section
    with pytest.raises(ConfigError) as err:
        load(site.write())
    assert "glpi" in str(err.value) and said in str(err.value)
    assert "clave" not in str(err.value) and "tok-literal-en-el-archivo" not in str(err.value)


def test_with_glpi_off_an_escalated_alert_is_mailed_as_before_and_glpi_is_never_called(site, glpi):
    settings, store = _site(site, glpi, enabled=False)
    store.migrate()
    clock = [T0]
    book = AlertBook(settings, store, clock=lambda: clock[0])
    [alert_id] = book.process([_critical("ups-01", "upsOutputSource", T0)])
    clock[0] = T0 + timedelta(hours=2)
    assert "tickets" not in book.tick()
    book.comment(alert_id, "luis", "Técnico en sitio", event="vendor_reply")
    book.resolve(alert_id, "luis", "listo")
    book.tick()
    assert glpi.state.requests == [] and Helpdesk(store, settings.config).rows() == []
    assert [m["to"][0] for m in book.outbox.pending()][-1] == VENDOR["email"]      # the vendor still mailed


def _until(what, seconds: float = 60.0):
    """Wait (bounded) until `what()` is true; return its value."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := what():
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:g} s")


def test_the_daemon_attends_a_new_ticket_with_its_categorys_runbook_and_closes_it(site, glpi, agentd):
    from agent.runbook.journal import Journal
    from tests.conftest import dedent

    site.extra["runbooks_dir"] = "runbooks"
    (site.root / "runbooks").mkdir(exist_ok=True)
    (site.root / "runbooks" / "prueba-mesa.yaml").write_text(dedent(BOOK))
    settings, store = _site(site, glpi, categories={3: {"runbook": "prueba-mesa"}}, poll_every="1s")
    asked = glpi.state.new_ticket("Alfresco no responde", "El gestor documental no carga", category=3)
    daemon = agentd(site.root / "config.yaml")
    note = _until(lambda: [f for f in glpi.state.ticket_followups(asked) if "Atendido por oti-agent" in f])
    [run] = Journal(store).runs()
    assert run["id"] in note[0] and Journal(store).run(run["id"])["params"]["ticket"] == str(asked)
    out = daemon.cli("approve", run["id"], "autoriza", "--comment", "procede", person="mariella")
    assert out.returncode == 0, out.stdout + out.stderr
    _until(lambda: glpi.state.tickets[asked]["status"] == 6)
    assert any("Autorizado por" in f and "mariella" in f and "«procede»" in f
               for f in glpi.state.ticket_followups(asked))
    assert len(glpi.state.documents) == 1 and len(Journal(store).runs()) == 1      # one run for the ticket
