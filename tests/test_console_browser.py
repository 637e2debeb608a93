"""The console in a real browser (Debian's Chromium, driven by Selenium), on the simulated datacenter with
the office's directory (slapd), the SMTP peer and snmpsim: what the issue's people do, as they do it.

The on-call engineer logs in, sees the UPS go on battery on Estado without reloading, acknowledges its
alert; starts the datacenter shutdown from its form after reading the plan, follows it live; the jefa
opens the link the SMTP peer received on her phone, logs in and approves with a comment; General
Management approves from the console; the jefa, without General Management's role, gets no button for its step and a 403; the engineer
answers the physical step with the room's temperature and downloads the run's checklist as a PDF. Every
page is saved at a phone's and a desktop's width (<tmp>/capturas; `make screenshots` for the README's)."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from agent.runbook.journal import TERMINAL
from tests.browser import PHONE
from tests.operator import journal_of
from tests.test_people_runs import _directory_config, _mail_wait

TERMINAL_WORDS = ("Exitosa", "Fallida", "Cancelada", "Concluida con pasos fallidos")


def _http_as(browser, base: str) -> httpx.Client:
    """The browser's session, for what a person downloads or what a page does not offer (a forged POST)."""
    cookies = {c["name"]: c["value"] for c in browser.driver.get_cookies()}
    return httpx.Client(base_url=base, cookies=cookies, timeout=15, follow_redirects=False,
                        headers={"origin": base})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.timeout(600)
def test_a_shutdown_from_the_browser_with_the_jefa_approving_from_her_phone(datacenter, snmpsim, smtp, slapd,
                                                                           tmp_path, agentd, browsers):
    dc = datacenter
    dc.all_on()
    port, inbox = smtp
    config = dc.write_config(tmp_path, snmpsim.port, port)
    _directory_config(config, slapd)
    users = slapd.users
    daemon = agentd(config)
    base = daemon.url
    journal = journal_of(config)

    # ------------------------------------------------ the on-call engineer: Estado, the UPS on battery
    luis = browsers(base)
    luis.open("/")                                          # no session: the login page, then back
    luis.wait_text("Iniciar sesión")
    luis.shoot("login")
    luis.login("lquispe", users["lquispe"])
    luis.wait_text("Estado del centro de datos")
    luis.wait_text("min de batería", timeout=40)
    luis.shoot("estado")
    (config.parent / "secrets" / "ups-rfc1628").write_text("ups-onbattery\n")      # the mains fail
    luis.wait_text("En batería", timeout=60)                # the same page, not reloaded
    luis.shoot("estado-ups-en-bateria")

    luis.open("/alertas")
    luis.wait_text("ups-01")
    luis.shoot("alertas")
    link = next(a for a in luis.driver.find_elements(By.CSS_SELECTOR, "a[href^='/alertas/']")
                if "ups_output_source" in a.text or "ups_" in a.text)
    link.click()
    luis.wait_text("Atender la alerta")
    luis.driver.find_element(By.ID, "c-atender").send_keys("Revisando el tablero eléctrico")
    luis.click("Atender la alerta")
    luis.wait_text("Luis Quispe (lquispe)")
    luis.shoot("alerta")

    # ------------------------------------------------ the shutdown, from its form, plan first
    mails = len(inbox.messages)
    luis.open("/ejecuciones")
    luis.shoot("ejecuciones")
    luis.open("/ejecuciones/nueva/datacenter-shutdown")
    luis.fill(p_motivo="Mantenimiento del tablero <b>general</b>", p_comando_apagado=dc.bin("fake-poweroff"),
              p_comando_central=dc.bin("fake-poweroff"))
    luis.shoot("ejecucion-nueva")
    luis.click("Ver plan")
    luis.wait_text("Confirmar e iniciar")
    luis.shoot("ejecucion-plan")
    luis.click("Confirmar e iniciar")
    luis.wait(lambda d: re.search(r"/ejecuciones/\d{8}-", d.current_url), "the live view of the new run")
    run_id = re.search(r"/ejecuciones/([^/?#]+)", luis.driver.current_url).group(1)
    assert run_id in {r["id"] for r in journal.runs(5)}, (run_id, luis.driver.current_url)
    luis.wait_text("Espera aprobación", timeout=60)
    assert "Mantenimiento del tablero <b>general</b>" in luis.text()          # typed text is text
    luis.shoot("ejecucion-en-vivo")

    # ------------------------------------------------ the jefa, from the mailed link, on her phone
    mailed = _mail_wait(inbox, "mrojas@entidad.gob.pe", "Conformidad del Jefe/a", mails)
    jefa = browsers(base, size=PHONE)
    jefa.open(mailed)
    jefa.wait_text("Iniciar sesión")
    jefa.login("mrojas", users["mrojas"])
    jefa.wait_text("Aprobar")
    assert "Mantenimiento del tablero <b>general</b>" in jefa.text()
    jefa.shoot("decision-jefa")
    jefa.fill(comentario="Conforme; coordinar con Comunicaciones")
    jefa.click("Aprobar")
    jefa.wait_text("aprobó")
    luis.wait_text("María Rojas", timeout=30)               # the engineer's live view, not reloaded

    # ------------------------------------------------ a person without the role: no button, and a 403
    deadline = time.monotonic() + 60
    while journal.steps(run_id)["aprobacion-gg"]["status"] != "awaiting_approval":
        assert time.monotonic() < deadline, daemon.tail()
        time.sleep(0.2)
    decide = f"/ejecuciones/{run_id}/pasos/aprobacion-gg/decidir"
    jefa.open(decide)                                       # the jefa does not hold General Management's role
    jefa.wait_text("Gerencia General")
    buttons = [b.text for b in jefa.driver.find_elements(By.TAG_NAME, "button")]
    assert "Aprobar" not in buttons, buttons
    forged = _http_as(jefa, base)
    page = forged.get(decide)
    refused = forged.post(decide, data={"csrf_token": _csrf(page.text), "decision": "aprobar",
                                        "comentario": "yo apruebo"})
    assert refused.status_code == 403, refused.text[:500]
    assert journal.steps(run_id)["aprobacion-gg"]["status"] == "awaiting_approval"

    # ------------------------------------------------ General Management, from the console
    gg = browsers(base)
    gg.open("/ejecuciones")
    gg.login("agarcia", users["agarcia"])
    gg.open(decide)
    gg.wait_text("Aprobar")
    gg.shoot("decision-gg")
    gg.fill(comentario="Aprobado")
    gg.click("Aprobar")
    gg.wait_text("aprob")

    # ------------------------------------------------ the engineer answers the physical steps
    luis.open(f"/ejecuciones/{run_id}")
    deadline = time.monotonic() + 240
    confirmed, done = 0, set()              # a step just confirmed may still show its link for a moment
    while journal.run(run_id)["status"] not in TERMINAL:
        assert time.monotonic() < deadline, daemon.tail()
        try:                                                # the live view swaps its steps as they change
            href = next((a.get_attribute("href") for a in luis.driver.find_elements(By.CSS_SELECTOR, "a.button")
                         if a.text == "Confirmar este paso" and a.get_attribute("href") not in done), None)
        except StaleElementReferenceException:
            continue
        if href is None:
            time.sleep(0.3)
            continue
        done.add(href)
        dc.person_does(href.rstrip("/").split("/")[-2])         # …/pasos/<step>/confirmar: the hands first
        luis.open(href)
        luis.wait_text("Confirmar")
        if luis.driver.find_elements(By.ID, "v_temperatura_sala_c"):
            luis.fill(v_temperatura_sala_c="23.5")
            luis.shoot("confirmacion")
        luis.click("Confirmar")
        confirmed += 1
        luis.open(f"/ejecuciones/{run_id}")
    assert confirmed >= 1
    luis.wait_text("Exitosa", timeout=30)
    luis.shoot("ejecucion-terminada")
    run = journal.run(run_id)
    assert run["status"] == "successful", run
    approvals = journal.decisions(run_id, kind="approval")
    assert [(d["by"], d["channel"]) for d in approvals] == [("mrojas", "email"), ("agarcia", "web")]
    assert approvals[0]["comment"] == "Conforme; coordinar con Comunicaciones"

    # ------------------------------------------------ the run's checklist, downloaded as a PDF
    pdf_link = next(a.get_attribute("href") for a in luis.driver.find_elements(By.CSS_SELECTOR, "a")
                    if "checklist-apagado" in (a.get_attribute("href") or "") and "pdf" in a.get_attribute("href"))
    pdf = _http_as(luis, base).get(pdf_link)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), (pdf.status_code, pdf.content[:200])

    # ------------------------------------------------ every other page, for a person to judge
    luis.open(pdf_link.replace("/descargar", "/ver").split("&")[0])
    luis.wait_text("Checklist")
    luis.shoot("documento")
    for name, path in (("documentos", "/documentos"), ("copias", "/copias"), ("cumplimiento", "/cumplimiento"),
                       ("acceso", "/acceso"), ("equipos", "/equipos"), ("equipo-ups", "/equipos/ups-01")):
        luis.open(path)
        luis.shoot(name)
    assert [e for e in luis.console_errors() if "favicon" not in e] == []
