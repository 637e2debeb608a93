"""Alerts from simulated SNMP devices going on battery and overheating, escalated on an injected clock,
acknowledged through the CLI, mailed through a real SMTP server (and kept while it is down)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from agent.alerts import AlertBook
from agent.core.settings import load_all
from agent.errors import ConfigError
from agent.monitoring.jobs import all_jobs
from agent.monitoring.once import probe_context
from agent.monitoring.runner import Runner
from agent.store import Store
from tests.operator import cli

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def _mail(site, port: int) -> dict:
    return {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
            "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
            "recipients": {"especialistas": ["is@entidad.example"], "jefa": ["jefa@entidad.example"]}}


POLICIES = [{"name": "energia-y-clima", "severities": ["critical"], "kinds": ["ups", "ac"], "repeat": "2h",
             "steps": [{"after": 0, "to": ["especialistas"]}, {"after": "15m", "to": ["jefa"]},
                       {"after": "1h", "vendor": True, "cc": ["jefa"]}]}]


def _poll(config):
    """One poll of every check group, recorded in the store: what the daemon does each interval."""
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)

    async def run():
        ctx = probe_context(settings, ThreadPoolExecutor(4))
        try:
            return await Runner(ctx, 16).run([j for js in all_jobs(settings).values() for j in js])
        finally:
            await ctx.aclose()

    return settings, store, store.record(asyncio.run(run()))


@pytest.fixture
def plant(site, snmpsim, smtp):
    """A UPS and a precision AC on snmpsim whose communities (file secrets) the test flips to the
    on-battery and alarmed recordings, as if the devices changed."""
    port, inbox = smtp
    vendor = {"name": "Energía y Clima S.A.C.", "email": "soporte@energia.example", "contract": "C-2026-014"}
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port, oti_vendor=vendor)
    site.snmp_device("aap-01", "ac", "liebert-gp", site.v2c("aap", "liebert-crac"), snmpsim.port, oti_vendor=vendor)
    site.group("energia", ["snmp"], interval="1m")
    site.extra["mail"] = _mail(site, port)
    site.extra["alerts"] = {"resolve_after": "5m", "policies": POLICIES}
    inbox.messages.clear()
    return site, site.write(), inbox


def test_escalation_acknowledgement_vendor_and_resolution(plant, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")                                 # the CLI's tables, unfolded
    site, config, inbox = plant
    settings, store, changes = _poll(config)
    clock = [T0]
    book = AlertBook(settings, store, clock=lambda: clock[0])
    book.process(changes)
    assert book.list() == []                                             # all normal: nothing raised

    site.secret("ups", "ups-onbattery")                                  # the UPS goes on battery
    site.secret("aap", "liebert-crac-alarm")                             # the AC overheats
    settings, store, changes = _poll(config)
    book.process(changes)
    opened = {a["device"]: a for a in book.list()}
    assert set(opened) == {"ups-01", "aap-01"}
    ups = [a for a in book.list() if a["device"] == "ups-01" and "output_source" in a["reading"]]
    assert ups and ups[0]["text"] == "battery" and ups[0]["severity"] == 2

    book.tick()                                                          # step 1 at once: the specialist
    assert {m["Subject"] for m in inbox.messages}, "the specialist got no mail"
    assert all(m["To"] == "is@entidad.example" for m in inbox.messages)
    body = inbox.messages[0].get_payload(decode=True).decode()
    assert "Equipo:" in body and "oti-agent alerts ack" in body
    assert any("ups-01" in s and "battery" in s for s in inbox.subjects())
    n_first = len(inbox.messages)
    _, _, again = _poll(config)                                          # the next poll: same state,
    book.process(again)                                                  # no new alert, no new mail
    book.tick()
    assert len(inbox.messages) == n_first

    # the UPS's alerts are acknowledged through the CLI: their escalation stops
    ups_id = ups[0]["id"]
    ups_ids = [str(a["id"]) for a in book.list() if a["device"] == "ups-01"]
    done = cli(config, "alerts", "ack", *ups_ids, "--comment", "revisando el tablero")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("acknowledged by Luis Quispe (luis)") == len(ups_ids)   # the OS user's person
    assert "writing the store directly" in done.stderr                  # no daemon runs: said so
    clock[0] = T0 + timedelta(minutes=16)
    book.tick()                                                          # step 2: the jefa, for the AC only
    to_jefa = [s for m, s in zip(inbox.messages, inbox.subjects(), strict=True) if m["To"] == "jefa@entidad.example"]
    assert to_jefa and all("aap-01" in s for s in to_jefa)
    clock[0] = T0 + timedelta(minutes=61)
    book.tick()                                                          # step 3: the vendor, jefa in copy
    vendor = [m for m in inbox.messages if "soporte@energia.example" in m["To"]]
    assert vendor and all(m["Cc"] == "jefa@entidad.example" for m in vendor)
    letter = vendor[0].get_payload(decode=True).decode()
    assert "aap-01" in letter and "C-2026-014" in letter and "Señores Energía y Clima S.A.C." in letter
    assert not any("ups-01" in s for m, s in zip(inbox.messages, inbox.subjects(), strict=True)
                   if "soporte@energia.example" in m["To"])
    count = len(inbox.messages)
    clock[0] = T0 + timedelta(minutes=62)
    book.tick()
    assert len(inbox.messages) == count                                 # nothing more until `repeat`

    # the AC comes back to normal; five minutes later its alert ends by itself
    site.secret("aap", "liebert-crac")
    _, _, back = _poll(config)
    book.process(back)
    clock[0] = T0 + timedelta(minutes=68)
    book.tick()
    assert all(a["device"] != "aap-01" for a in book.list())
    history = [e["event"] for e in book.events(ups_id)]
    assert history[:3] == ["opened", "notified", "acknowledged"]
    listing = cli(config, "alerts", "--all")
    assert "resolved" in listing.stdout and "acknowledged" in listing.stdout

    # the monitoring report (Anexo 01): the AC's alerts were escalated to the vendor — incidents;
    # the UPS's were taken by Luis (root's person) and never reached the vendor — events
    from zoneinfo import ZoneInfo

    from openpyxl import load_workbook

    from agent.documents.compose import compose

    now = clock[0]                                                      # the report of the alerts' own day
    done = compose("reporte-monitoreo", settings, store, now=now, send=True,
                   day=now.astimezone(ZoneInfo("America/Lima")).date())
    xlsx = [p for p in done.paths if p.suffix == ".xlsx"][0]
    book_x = load_workbook(xlsx)
    assert book_x.sheetnames == ["Equipos", "Alertas", "Firmas"]
    rows = [[c.value for c in r] for r in book_x.worksheets[1].iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "N°")
    lines = [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:]]
    aap = [ln for ln in lines if ln["Equipo"] == "aap-01"]
    ups_lines = [ln for ln in lines if ln["Equipo"] == "ups-01"]
    to_vendor = [ln for ln in aap if "soporte@energia.example" in ln["Escalamiento"]]
    assert to_vendor and all(ln["Clasificación"].startswith("Incidente") for ln in to_vendor)
    assert all(ln["Clasificación"] == "Evento" for ln in lines if ln not in to_vendor)
    assert all(ln["Cierre"].startswith("resuelta") for ln in aap)
    assert ups_lines and all(ln["Clasificación"] == "Evento" and ln["Tomada por"] == "Luis Quispe (luis)"
                             for ln in ups_lines)
    assert any("Reporte de monitoreo" in s for s in inbox.subjects())


def test_smtp_down_keeps_the_mail_until_it_can_be_delivered(plant, tmp_path):
    site, config, inbox = plant
    from tests.peers.common import free_tcp_port

    real_port = site.extra["mail"]["port"]
    site.extra["mail"]["port"] = free_tcp_port()                        # nothing listens there
    config = site.write()
    site.secret("ups", "ups-onbattery")
    settings, store, changes = _poll(config)
    book = AlertBook(settings, store, clock=lambda: T0)
    book.process(changes)
    counts = book.tick()
    assert counts["sent"] == 0 and counts["pending"] >= 1
    waiting = book.outbox.pending()
    assert waiting[0]["attempts"] == 1 and "Connection refused" in waiting[0]["last_error"]
    assert cli(config, "outbox", "flush").returncode == 1                # still down: exit 1, kept

    site.extra["mail"]["port"] = real_port                              # the server is back
    config = site.write()
    delivered = cli(config, "outbox", "flush")
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    assert book.outbox.pending() == [] and any("ups-01" in s for s in inbox.subjects())

    site.extra["mail"]["password"] = site.secret("smtp", "wrong")        # a server that refuses the login
    config = site.write()
    site.secret("aap", "liebert-crac-alarm")
    settings, store, changes = _poll(config)
    book = AlertBook(settings, store, clock=lambda: T0)
    book.process(changes)
    book.tick()
    assert any("refused" in m["last_error"] for m in book.outbox.pending())


def test_bad_escalation_role_and_broken_template_are_named(site, smtp, tmp_path):
    port, _ = smtp
    site.extra["mail"] = _mail(site, port)
    site.extra["alerts"] = {"policies": [{"name": "p", "steps": [{"to": ["especialistas"]},
                                                                  {"after": "10m", "to": ["gerencia"]}]}]}
    with pytest.raises(ConfigError) as err:
        load_all(site.write())
    assert "alerts.policies.0.steps.1.to" in str(err.value) and "unknown role 'gerencia'" in str(err.value)
    assert "config.yaml:" in str(err.value)

    from agent.notify import mail

    folder = tmp_path / "plantillas"
    folder.mkdir()
    (folder / "alerta.txt.j2").write_text("Asunto: {{ alert.device }}\n\nLínea dos\nValor: {{ alerta.valor }}\n")
    with pytest.raises(ConfigError) as err:
        mail.render("alerta", {"alert": {"device": "ups-01"}}, folder)
    assert f"{folder / 'alerta.txt.j2'}:4" in str(err.value) and "alerta" in str(err.value)


def test_alerts_forwarded_to_a_real_alertmanager(plant, tmp_path):
    from tests.peers.alertmanager import alerts as am_alerts
    from tests.peers.alertmanager import clock as am_clock
    from tests.peers.alertmanager import start_alertmanager
    from tests.peers.common import stop

    site, config, _inbox = plant
    proc, port = start_alertmanager(tmp_path / "am")
    try:
        site.extra["alerts"]["alertmanager"] = f"http://127.0.0.1:{port}"
        config = site.write()
        site.secret("ups", "ups-onbattery")
        settings, store, changes = _poll(config)
        now = [am_clock(port)]                                          # the peer's clock, whatever ours says
        book = AlertBook(settings, store, clock=lambda: now[0])
        book.process(changes)
        assert book.tick()["forwarded"] >= 1
        got = am_alerts(port)
        source = [a for a in got if a["labels"].get("alertname") == "ups_output_source"]
        assert source and source[0]["labels"]["device"] == "ups-01" and source[0]["labels"]["severity"] == "critical"
        assert source[0]["labels"]["kind"] == "ups" and "battery" in source[0]["annotations"]["summary"]
        assert source[0]["status"]["state"] == "active"

        alert_id = int(source[0]["annotations"]["alert_id"])
        book.resolve(alert_id, "luis")                                  # on the peer's clock, as opened
        book.tick()                                                     # resolved: sent once more, ended
        left = [a for a in am_alerts(port) if a["annotations"].get("alert_id") == str(alert_id)]
        assert left == []                                               # Alertmanager no longer lists it
    finally:
        stop(proc)


def test_daily_checklist_mailed_to_the_jefa_with_xlsx_and_pdf(plant, tmp_path):
    import subprocess
    from io import BytesIO

    from openpyxl import load_workbook

    site, config, inbox = plant
    site.secret("ups", "ups-onbattery")
    settings, store, changes = _poll(config)
    book = AlertBook(settings, store)
    book.process(changes)
    done = cli(config, "report", "daily", "--send")                     # today's, as of now
    assert done.returncode == 0, done.stdout + done.stderr
    message = [m for m, s in zip(inbox.messages, inbox.subjects(), strict=True) if "Checklist diario" in s][-1]
    assert message["To"] == "jefa@entidad.example"
    parts = {p.get_filename() or p.get_content_type(): p for p in message.walk() if not p.is_multipart()}
    assert "text/html" in parts and "Anexo 07" in parts["text/html"].get_payload(decode=True).decode()
    xlsx = next(p for name, p in parts.items() if name.endswith(".xlsx"))
    pdf = next(p for name, p in parts.items() if name.endswith(".pdf"))
    rows = [[c.value for c in r] for r in load_workbook(BytesIO(xlsx.get_payload(decode=True))).active.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == "Ítem")
    assert rows[head] == ["Ítem", "Actividades", "Sí", "No", "Observación"]
    lines = {r[1]: r for r in rows[head + 1:]}
    ups = lines["Operatividad de ups-01 (UPS)"]
    assert ups[2] in (None, "") and ups[3] == "X" and "alerta" in ups[4] and "crítico" in ups[4]
    aap = lines["Operatividad de aap-01 (aire acondicionado de precisión)"]
    assert aap[2] == "X" and aap[3] in (None, "")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.get_payload(decode=True), capture_output=True).stdout
    assert b"Checklist diario de estado de los servicios TI" in text and b"ups-01" in text


def test_office_hours_and_peru_holidays_decide_who_is_paged(site, smtp):
    from zoneinfo import ZoneInfo

    from agent.core.results import State
    from agent.store.store import StateChange

    port, inbox = smtp
    site.hosts["sw-01"] = {"ansible_host": "127.0.0.30", "oti_kind": "switch"}
    site.extra["mail"] = _mail(site, port)
    site.extra["mail"]["recipients"]["guardia"] = ["guardia@entidad.example"]
    site.extra["alerts"] = {"policies": [{"name": "turnos", "steps": [
        {"to": ["especialistas"], "when": "horario_oficina"}, {"to": ["guardia"], "when": "fuera_de_horario"}]}]}
    settings = load_all(site.write())
    store = Store(settings.config.store.url, settings.config.base_dir)
    lima = ZoneInfo("America/Lima")
    for when, reading in ((datetime(2026, 12, 8, 10, 0, tzinfo=lima), "a"),      # Inmaculada Concepción
                          (datetime(2026, 12, 9, 10, 0, tzinfo=lima), "b"),      # Batalla de Ayacucho
                          (datetime(2026, 12, 10, 10, 0, tzinfo=lima), "c")):    # a Thursday at the office
        book = AlertBook(settings, store, clock=lambda when=when: when)
        book.process([StateChange("sw-01", reading, "snmp", State.OK, State.CRITICAL, 0.0, None, "caído", when)])
        inbox.messages.clear()
        book.tick()
        to = sorted(m["To"] for m in inbox.messages)
        assert to == (["is@entidad.example"] if reading == "c" else ["guardia@entidad.example"]), (reading, to)
