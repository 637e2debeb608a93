"""The console's «Alertas» and «Equipos» against the real daemon: a UPS on battery (snmpsim) opens an alert
that Luis acknowledges, escalates to the vendor, annotates with the vendor's answer and resolves from the
page; a switch whose ifAlias is a script shows it as text; General Management sees neither section."""

from __future__ import annotations

import re
import time

import pytest

from agent.core.settings import load_all
from agent.demo import simulator
from agent.store import Store, queries
from tests.console import PASSWORDS, Person, set_passwords, text_of
from tests.test_alerts import _mail

HOSTILE = "<script>alert(1)</script>"
ALIAS_1 = "1.3.6.1.2.1.31.1.1.1.18.1|4|"          # ifAlias of the switch's first port
VENDOR = {"name": "Energía y Clima S.A.C.", "email": "soporte@energia.example", "contract": "C-2026-014"}
POLICY = {"name": "energia", "severities": ["critical"], "kinds": ["ups"],
          "steps": [{"after": 0, "to": ["especialistas"]}, {"after": "1h", "vendor": True, "cc": ["jefa"]}]}


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    """snmpsim serving the UPS on battery and a switch whose first port's ifAlias is a script tag."""
    work = tmp_path_factory.mktemp("snmpsim-consola")
    recording = (simulator.RECORDINGS / "switch24.snmprec").read_text()
    assert ALIAS_1 + "\n" in recording
    hostile = work / "switch-hostil.snmprec"
    hostile.write_text(recording.replace(ALIAS_1 + "\n", ALIAS_1 + HOSTILE + "\n"))
    simulator.prepare_data(work, {"ups-onbattery": simulator.RECORDINGS / "ups-onbattery.snmprec",
                                  "switch-hostil": hostile})
    port = simulator.free_udp_port()
    sim = simulator.start(work, [("127.0.0.1", port)], ready_community="ups-onbattery")
    yield port
    sim.stop()


def _until(what, check, daemon, timeout: float = 30.0):
    """Wait (bounded) until `check()` gives something true; return it."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} did not happen:\n{daemon.tail()}"
        time.sleep(0.2)
    return found


def _alert(store, alert_id: int) -> dict:
    return queries.alerts_list(store, None, [alert_id])[0]


def _look(browser, aid: int) -> None:
    """Luis's Chromium on the pages (screenshots at phone and desktop widths): the switch's ifAlias is
    text on the screen, no dialog opened and the page's policy refused nothing."""
    from selenium.common.exceptions import NoAlertPresentException

    browser.open("/equipos/sw-01")
    browser.login("luis", PASSWORDS["luis"])
    browser.wait_text(HOSTILE)
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert.text
    for name, path in (("equipo-switch", "/equipos/sw-01"), ("equipo-ups", "/equipos/ups-01"),
                       ("equipos", "/equipos"), ("alertas", "/alertas"), ("alerta", f"/alertas/{aid}")):
        browser.open(path)
        browser.shoot(name)
    assert browser.console_errors() == []


@pytest.mark.timeout(180)
def test_alerts_and_devices_pages_as_the_on_call_engineer_and_as_general_management(site, devices, smtp,
                                                                                      agentd, browsers):
    port, inbox = smtp
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-onbattery"), devices,
                     oti_vendor=VENDOR, oti_criticality="critico")
    site.snmp_device("sw-01", "switch", "switch-ifmib", site.v2c("sw", "switch-hostil"), devices)
    site.group("energia", ["snmp"], interval="1s", timeout="0.9s")
    site.extra["mail"] = _mail(site, port)
    site.extra["alerts"] = {"tick": "1s", "policies": [POLICY]}
    config = site.write()
    set_passwords(config, ("luis", "joanna"))
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)
    inbox.messages.clear()
    daemon = agentd(config)

    def told_ups():           # the UPS's alert on its power source, once its first step went out
        return next((a for a in queries.alerts_list(store) if a["device"] == "ups-01"
                     and a["reading"] == "ups_output_source" and a["steps_sent"] >= 1), None)

    alert = _until("the UPS's alert and its first notice", told_ups, daemon)
    _until("the switch's interfaces read", lambda: queries.latest(store, device="sw-01", name="if_oper_status"), daemon)
    aid = alert["id"]

    with Person(daemon, "luis") as luis:
        # Equipos: the inventory, the switch's hostile label as text, the UPS's readings with their limits
        listing = luis.get("/equipos")
        assert listing.status_code == 200
        words = text_of(listing.text)
        assert "ups-01 UPS sede-central Crítico 127.0.0.1" in words and "sw-01 switch" in words
        sw = luis.get("/equipos/sw-01")
        assert sw.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sw.text and HOSTILE not in sw.text
        assert all("/static/vendor/" in tag for tag in re.findall(r"<script[^>]*>", sw.text))
        assert "Gi1/0/1" in sw.text and "Descripción (ifAlias)" in sw.text
        ups = text_of(luis.get("/equipos/ups-01").text)
        assert "ups_battery_runtime_seconds" in ups and "Advertencia ≤ 15 min · Crítico ≤ 5 min" in ups
        assert "ups_output_source battery Crítico" in ups and "Crítico: none, battery" in ups
        assert "snmp grupo energia Sí" in ups and "Energía y Clima S.A.C." in ups

        _look(browsers(daemon.url), aid)

        # Alertas: the UPS's alert, nobody on it yet, the specialists told
        page = text_of(luis.get("/alertas").text)
        assert "Sin atender (" in page and "ups-01" in page and "Aviso enviado" in page
        detail = luis.get(f"/alertas/{aid}")
        assert detail.status_code == 200 and "Escalar al proveedor" in detail.text
        assert "a Energía y Clima S.A.C. (soporte@energia.example), con copia a jefa." in text_of(detail.text)

        # a mistake a person can fix: no comment; a form from elsewhere (no CSRF value): refused; nothing changes
        empty = luis.post(f"/alertas/{aid}/atender", {"comentario": "  "})
        assert empty.status_code == 400 and 'class="error"' in empty.text and "Comentario:" in empty.text
        forged = luis.http.post(f"/alertas/{aid}/atender", data={"comentario": "sin código"},
                                headers={"origin": luis.origin})
        assert forged.status_code == 403 and "CSRF" in forged.text
        assert _alert(store, aid)["status"] == "open"

        comment = "revisando el tablero <b>eléctrico</b>"
        done = luis.post(f"/alertas/{aid}/atender", {"comentario": comment})
        assert done.status_code == 303 and done.headers["location"] == f"/alertas/{aid}?aviso=atendida"
        taken = _alert(store, aid)
        assert (taken["status"], taken["acked_by"], taken["comment"]) == ("acknowledged", "Luis Quispe (luis)", comment)
        shown = luis.get(done.headers["location"]).text
        assert "Alerta atendida" in shown and "&lt;b&gt;eléctrico&lt;/b&gt;" in shown
        assert "Atendida por Luis Quispe (luis)" in text_of(shown)
        assert "Atender la alerta" not in shown                              # taken: no second acknowledgement

        # activity 9 by hand: the vendor is written to, the jefa in copy
        escalated = luis.post(f"/alertas/{aid}/escalar", {"comentario": "no vuelve la red comercial"})
        assert escalated.status_code == 303
        _until("the vendor's mail", lambda: [m for m in inbox.messages if "soporte@energia.example" in m["To"]],
               daemon)
        history = queries.alert_events(store, [aid])[aid]
        assert any(e["event"] == "escalated" and "Luis Quispe (luis)" in e["detail"] for e in history)
        assert any(e["event"] == "notified" and "soporte@energia.example" in e["detail"] for e in history)

        answer = luis.post(f"/alertas/{aid}/proveedor", {"comentario": "Cambian el banco de baterías el lunes"})
        assert answer.status_code == 303
        (reply,) = queries.alert_events(store, [aid], "vendor_reply")[aid]
        assert reply["by"] == "Luis Quispe (luis)" and reply["detail"] == "Cambian el banco de baterías el lunes"

        # silence the UPS: another number of hours needs the number; then for 4 hours, with the reason
        wrong = luis.post("/alertas/silenciar", {"equipo": "ups-01", "duracion": "otro", "horas": "",
                                                  "motivo": "cambio de baterías", "alerta": str(aid)})
        assert wrong.status_code == 400 and "Número de horas" in wrong.text and "cambio de baterías" in wrong.text
        silenced = luis.post("/alertas/silenciar", {"equipo": "ups-01", "duracion": "4", "motivo": "cambio de baterías",
                                                     "alerta": str(aid)})
        assert silenced.status_code == 303 and silenced.headers["location"] == f"/alertas/{aid}?aviso=silenciado"
        assert "ups-01" in queries.quiet_devices(store, taken["acked_at"])

        resolved = luis.post(f"/alertas/{aid}/resolver", {"comentario": "banco de baterías cambiado"})
        assert resolved.status_code == 303
        closed = _alert(store, aid)
        assert (closed["status"], closed["resolved_by"]) == ("resolved", "Luis Quispe (luis)")
        final = text_of(luis.get(f"/alertas/{aid}").text)
        for words in ("Resuelta por Luis Quispe (luis)", "Escalada a mano", "Respuesta del proveedor",
                      "Cambian el banco de baterías el lunes", "Aviso enviado"):
            assert words in final, words
        page = text_of(luis.get("/alertas").text)
        assert "Resueltas en los últimos 7 días (" in page and "cambio de baterías" in page
        again = luis.post(f"/alertas/{aid}/resolver", {"comentario": "otra vez"})
        assert again.status_code == 400 and "ya está resuelta" in again.text

    # General Management: no Alertas nor Equipos in the menu, a 403 page on them and on the POST
    with Person(daemon, "joanna") as joanna:
        menu = joanna.get("/").text.split('<nav class="menu"')[1].split("</nav>")[0]
        assert "Estado" in menu and "Alertas" not in menu and "Equipos" not in menu
        for path in ("/alertas", f"/alertas/{aid}", "/equipos", "/equipos/ups-01"):
            refused = joanna.get(path)
            assert refused.status_code == 403 and "es para:" in refused.text, path
        posted = joanna.post(f"/alertas/{aid}/proveedor", {"comentario": "intento"})
        assert posted.status_code == 403
    assert len(queries.alert_events(store, [aid], "vendor_reply")[aid]) == 1
