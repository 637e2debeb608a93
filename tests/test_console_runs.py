"""Ejecuciones in the web console, against the real daemon: luis starts a runbook from its form (the plan
shown first), follows it over server-sent events, the jefa and General Management decide from the decision
page, luis answers the confirmation with the room's temperature, and the run's page links its checklist.
The initiator and a person without the role get no buttons and a 403; a hostile parameter is shown as text."""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from agent.web.views.ejecuciones_vivo import follow, sse
from tests.console import Person, set_passwords, text_of
from tests.operator import journal_of

HOSTILE = "<script>alert(1)</script>"
RUNBOOK = """
id: apagado-prueba
title: Apagado de prueba
procedure: "S.04.04.01.02_P — prueba de la consola"
params:
  motivo: {type: str, required: true, description: "por qué se apaga"}
  relocation: {type: bool, default: false, description: "traslado o mudanza"}
  ups_retardo_s: {type: int, default: 120, description: "segundos antes de apagar la UPS"}
  sede: {type: str, default: "central", choices: [central, alterna], description: "dónde"}
steps:
  - id: registrar
    activity: 1
    name: Programa el apagado
    kind: record
    with: {text: "Apagado: {{ params.motivo }}"}
  - id: aprobacion-jefa
    activity: 2
    name: Conformidad del Jefe/a de la OTI
    kind: approval
    needs: [registrar]
    with: {role: jefa}
  - id: aprobacion-gg
    activity: 3
    name: Aprobación de Gerencia General
    kind: approval
    needs: [aprobacion-jefa]
    with: {role: gg, distinct_from: [aprobacion-jefa]}
  - id: apagar-aires
    activity: 14
    name: Apaga los aires acondicionados de precisión
    kind: confirm
    needs: [aprobacion-gg]
    with: {prompt: "Apague los aires de precisión y anote la temperatura", values: [temperatura_sala_c]}
  - id: verificar-servidor
    activity: 10
    name: Verifica que el servidor responda
    kind: wait_until
    needs: [apagar-aires]
    targets: {names: [srv-01]}
    with: {probe: tcp, state: open, port: 9, within: 1s, every: 0.2s}
    on_failure: ask
  - id: checklist-apagado
    activity: 16
    name: Completa el checklist de apagado
    kind: checklist
    needs: [verificar-servidor]
    with: {title: "Checklist de apagado — prueba", file: checklist-apagado}
"""


class Stream:
    """A browser's EventSource on a run's page: reads the server-sent events in a thread."""

    def __init__(self, person: Person, path: str):
        self.events: list[tuple[str, str]] = []
        self.ended = threading.Event()
        self.http = httpx.Client(base_url=person.origin, cookies=person.http.cookies,
                                 timeout=httpx.Timeout(10, read=60))
        self.thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self.thread.start()

    def _read(self, path: str) -> None:
        with self.http.stream("GET", path, headers={"accept": "text/event-stream"}) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            event, data = None, []
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and event:
                    self.events.append((event, "\n".join(data)))
                    event, data = None, []
        self.ended.set()

    def wait_for(self, words: str, timeout: float = 30) -> str:
        """The first 'pasos' event whose text has `words`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for e, d in list(self.events) if e == "pasos" and words in text_of(d)]
            if found:
                return found[0]
            seen = [text_of(d)[:300] for _, d in self.events]
            assert time.monotonic() < deadline, f"no event with {words!r}: {seen}"
            time.sleep(0.1)


def _wait(journal, run_id: str, step: str, status: str, daemon, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while journal.steps(run_id)[step]["status"] != status:
        assert time.monotonic() < deadline, (step, journal.steps(run_id)[step], daemon.tail())
        time.sleep(0.1)


def _step_text(page: str, step_name: str) -> str:
    """The words of one step's item on the run's page."""
    words = text_of(page)
    start = words.index(step_name)
    return words[max(0, start - 40):start + 200]


@pytest.mark.timeout(180)
def test_a_run_is_started_followed_decided_and_confirmed_from_the_console(site, agentd, tmp_path):
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "apagado-prueba.yaml").write_text(RUNBOOK)
    site.hosts["srv-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_physical"}
    site.extra.update(runbooks_dir="runbooks")
    config = site.write()
    set_passwords(config)
    daemon = agentd(config)
    journal = journal_of(config)
    luis, rosa = Person(daemon, "luis"), Person(daemon, "rosa")

    # the list offers the runbook; the form is built from its parameters
    listing = luis.get("/ejecuciones")
    assert listing.status_code == 200 and "Apagado de prueba" in listing.text
    assert 'href="/ejecuciones/nueva/apagado-prueba"' in listing.text
    form = luis.get("/ejecuciones/nueva/apagado-prueba").text
    assert re.search(r'<label for="p_motivo">Por qué se apaga', form)
    assert re.search(r'<label for="p_sede">Dónde</label>', form)
    assert 'type="checkbox" id="p_relocation"' in form and 'type="number" id="p_ups_retardo_s"' in form
    assert '<select id="p_sede"' in form and 'value="120"' in form

    # wrong parameters: the form again, naming each field, keeping what was typed
    wrong = luis.post("/ejecuciones/nueva/apagado-prueba", {"p_motivo": "", "p_ups_retardo_s": "dos minutos"})
    assert wrong.status_code == 400
    assert "«Por qué se apaga» es obligatorio" in wrong.text
    assert "«Segundos antes de apagar la UPS» debe ser un número entero" in wrong.text
    assert 'value="dos minutos"' in wrong.text

    # «Ver plan»: the plan, nothing started; a hostile value is text
    given = {"p_motivo": HOSTILE, "p_ups_retardo_s": "60", "p_sede": "central"}
    plan = luis.post("/ejecuciones/nueva/apagado-prueba", given)
    assert plan.status_code == 200, plan.text
    words = text_of(plan.text)
    assert "Confirmar e iniciar" in words and words.index("Programa el apagado") < words.index(
        "Conformidad del Jefe/a") < words.index("Aprobación de Gerencia General") < words.index("checklist")
    assert "aprobación del rol jefa" in words and "ruta crítica" in words
    assert HOSTILE not in plan.text and html.escape(HOSTILE) in plan.text
    assert journal.runs(5) == []

    started = luis.post("/ejecuciones/nueva/apagado-prueba/iniciar", given)
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].split("/")[2].split("?")[0]
    run = journal.run(run_id)
    assert run["started_by"] == "luis" and run["params"]["motivo"] == HOSTILE
    assert run["params"]["ups_retardo_s"] == 60 and run["params"]["relocation"] is False
    assert run["trigger"]["channel"] == "web" and run["trigger"]["address"] == "127.0.0.1"
    page = luis.get(started.headers["location"])
    assert "La ejecución se inició." in page.text
    assert f'sse-connect="/ejecuciones/{run_id}/eventos"' in page.text
    assert HOSTILE not in page.text

    stream = Stream(luis, f"/ejecuciones/{run_id}/eventos")
    stream.wait_for("Espera aprobación Conformidad del Jefe/a de la OTI")
    _wait(journal, run_id, "aprobacion-jefa", "awaiting_approval", daemon)

    # the initiator and a person without the role see what is asked, but no button; their POST is a 403
    decide = f"/ejecuciones/{run_id}/pasos/aprobacion-jefa/decidir"
    for person, why in ((luis, "usted inició esta ejecución"), (rosa, "Jefa")):
        seen = person.get(decide)
        assert seen.status_code == 200 and "Conformidad del Jefe/a" in seen.text and why in seen.text
        assert 'value="aprobar"' not in seen.text
        refused = person.post(decide, {"decision": "aprobar", "comentario": "yo mismo"})
        assert refused.status_code == 403, refused.text
    assert rosa.post(f"/ejecuciones/{run_id}/cancelar").status_code == 403
    assert journal.decisions(run_id) == [] and journal.run(run_id)["status"] == "awaiting_approval"

    # the jefa: the run waits for her first; she approves with a comment from the decision page
    with Person(daemon, "mariella") as jefa:
        mine = jefa.get("/ejecuciones").text
        assert "Espera su decisión" in mine and f'/ejecuciones/{run_id}/pasos/aprobacion-jefa/decidir' in mine
        asked = jefa.get(decide)
        assert 'value="aprobar"' in asked.text
        assert html.escape(HOSTILE) in asked.text and HOSTILE not in asked.text
        silent = jefa.post(decide, {"decision": "rechazar", "comentario": "  "})
        assert silent.status_code == 400 and "Comentario: es obligatorio" in silent.text
        # a double click (two tabs, the same instant): one decision is recorded, the other is refused
        with Person(daemon, "mariella") as tab, ThreadPoolExecutor(2) as both:
            answers = list(both.map(lambda who: who.post(decide, {"decision": "aprobar",
                                                                 "comentario": "conforme, adelante"}), (jefa, tab)))
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 303 and 400 <= codes[1] < 500, [(a.status_code, a.text[:300]) for a in answers]
        yes = next(a for a in answers if a.status_code == 303)
        assert yes.headers["location"].endswith("?aviso=aprobado")
        assert len(journal.decisions(run_id, "aprobacion-jefa")) == 1
        # the stream shows the change without a reload
        moved = stream.wait_for("Completado Conformidad del Jefe/a de la OTI")
        assert "Mariella Paredes (mariella) aprobó" in text_of(moved) and "conforme, adelante" in moved
        stream.wait_for("Espera aprobación Aprobación de Gerencia General")
        # she stands in for GG, but approved the jefa's step: the service's distinct_from keeps her out
        gg_step = jefa.get(f"/ejecuciones/{run_id}/pasos/aprobacion-gg/decidir")
        assert 'value="aprobar"' not in gg_step.text and "ya aprobó" in gg_step.text
    with Person(daemon, "joanna") as gg:
        assert gg.post(f"/ejecuciones/{run_id}/pasos/aprobacion-gg/decidir",
                       {"decision": "aprobar", "comentario": ""}).status_code == 303

    # the confirmation: the reading as a typed field with its unit
    _wait(journal, run_id, "apagar-aires", "awaiting_confirmation", daemon)
    confirm = f"/ejecuciones/{run_id}/pasos/apagar-aires/confirmar"
    asked = luis.get(confirm).text
    assert "Apague los aires de precisión y anote la temperatura" in asked
    assert re.search(r'<label for="v_temperatura_sala_c">Temperatura de la sala \(°C\)</label>', asked)
    assert 'type="number" id="v_temperatura_sala_c"' in asked
    bad = luis.post(confirm, {"v_temperatura_sala_c": "templado"})
    assert bad.status_code == 400 and "«Temperatura de la sala» debe ser un número" in bad.text
    assert 'value="templado"' in bad.text
    done = luis.post(confirm, {"v_temperatura_sala_c": "23,5", "comentario": "aires apagados"})
    assert done.status_code == 303, done.text

    # a step that failed asks what to do: the choices, one required
    _wait(journal, run_id, "verificar-servidor", "awaiting_decision", daemon)
    resolve = f"/ejecuciones/{run_id}/pasos/verificar-servidor/confirmar"
    asked = luis.get(resolve).text
    assert "falló" in asked and "Responda con oti-agent" not in asked
    for choice in ("Reintentar el paso", "Omitir el paso y seguir", "Abortar la ejecución", "Ya está hecho"):
        assert choice in asked
    assert luis.post(resolve, {"comentario": "x"}).status_code == 400
    assert luis.post(resolve, {"respuesta": "skip", "comentario": "se revisa luego"}).status_code == 303

    # the run ends: the stream says so and closes; the page links its checklist
    assert stream.ended.wait(30), stream.events[-3:]
    assert stream.events[-1][0] == "fin" and "Exitosa" in text_of(stream.events[-2][1])
    assert journal.run(run_id)["status"] == "successful"
    final = luis.get(f"/ejecuciones/{run_id}").text
    assert "sse-connect" not in final and "Exitosa" in final
    links = dict(re.findall(r'href="(/documentos/descargar\?doc=[^"&]+checklist-apagado&amp;formato=(\w+))"', final))
    assert sorted(links.values()) == ["html", "pdf", "xlsx"], final
    for link, fmt in links.items():
        got = luis.get(link.replace("&amp;", "&"))
        assert got.status_code == 200, (fmt, got.text[:300])
        assert fmt != "pdf" or got.content.startswith(b"%PDF")        # printed when asked for
    assert "luis confirmó" not in final and "Luis Quispe (luis) confirmó" in text_of(final)
    assert "Temperatura de la sala: 23.5 °C" in text_of(final)
    assert "approval_approved" in final                                  # the journal, every event
    approvals = journal.decisions(run_id, kind="approval")
    assert [(d["by"], d["channel"], d["address"]) for d in approvals] == [("mariella", "web", "127.0.0.1"),
                                                                        ("joanna", "web", "127.0.0.1")]
    (confirmed,) = journal.decisions(run_id, kind="confirm")
    assert confirmed["by"] == "luis" and confirmed["values"] == {"temperatura_sala_c": "23.5"}

    # another run, cancelled by its initiator from its page
    again = luis.post("/ejecuciones/nueva/apagado-prueba/iniciar", given)
    other = again.headers["location"].split("/")[2].split("?")[0]
    _wait(journal, other, "aprobacion-jefa", "awaiting_approval", daemon)
    assert "Cancelar la ejecución" in luis.get(f"/ejecuciones/{other}").text
    # a session that ends (here: logged out in another tab) ends the live view's stream within seconds
    with Person(daemon, "luis") as tab:
        watching = Stream(tab, f"/ejecuciones/{other}/eventos")
        watching.wait_for("Espera aprobación")
        assert tab.post("/logout").status_code == 303
        assert watching.ended.wait(15), watching.events[-2:]
        watching.http.close()
    assert "Cancelar la ejecución" not in rosa.get(f"/ejecuciones/{other}").text
    assert luis.post(f"/ejecuciones/{other}/cancelar").status_code == 303
    deadline = time.monotonic() + 30
    while journal.run(other)["status"] != "canceled":
        assert time.monotonic() < deadline, journal.run(other)
        time.sleep(0.1)
    assert "Cancelada" in luis.get("/ejecuciones").text
    for person in (luis, rosa):
        person.close()
    stream.http.close()


def test_the_event_stream_ends_with_the_run_a_gone_browser_or_its_time_limit():
    clock = [0.0]

    async def collect(states, gone_after=None, max_s=100.0):
        calls = []

        async def load(after):
            state = states[min(len(calls), len(states) - 1)]
            calls.append(after)
            clock[0] += 1
            return state

        async def gone():
            return gone_after is not None and len(calls) >= gone_after

        stream = follow(load, gone, poll_s=0, keepalive_s=3, max_s=max_s, clock=lambda: clock[0])
        out = [x async for x in stream]
        return out, calls

    out, calls = asyncio.run(collect([(3, "<p>a</p>", False), (3, None, False), (5, "<p>b</p>", True)]))
    assert out[1:] == [sse("pasos", "<p>a</p>", 3), sse("pasos", "<p>b</p>", 5), sse("fin", "fin")]
    assert calls == [0, 3, 3]
    out, calls = asyncio.run(collect([(1, "x", False), (1, None, False)], gone_after=5))
    assert len(calls) == 5 and out[-1] == ": sigue\n\n"                  # the keep-alive, then it stops
    out, calls = asyncio.run(collect([(1, "x", False), (1, None, False)], max_s=10))
    assert 9 <= len(calls) <= 11                                           # bounded without a browser's help
    assert sse("pasos", "<li>a</li>\n<li>b</li>") == "event: pasos\ndata: <li>a</li>\ndata: <li>b</li>\n\n"
