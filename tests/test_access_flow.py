"""Flow 1 of S.04.03.02_P against the real daemon and the real SMTP peer: a provider's request to enter (activity 5)
with the agent's availability answer shown to the jefa (a planned shutdown in the window, another authorised
visit, a maintenance window, outside office hours), observed and moved to a new date by the specialist (6),
authorised or refused by the jefa or her deputy in force (7) and the requester mailed the decision; on the day
the visit shows as expected, the door's form is filled from it (linked, authorised at once), the room's alerts at the
exit are shown (9): a problem keeps the entry open, «sin problemas» closes it; the visit's Anexo 1 prints as a PDF with
the names and the signature lines. The availability rules at fixed dates, and a store of version 11 brought to 12.

The daemon keeps the real clock (a subprocess), so its dates are chosen relative to today: working days ahead,
or today itself for the visit; the pure rules run on injected times.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import yaml

from agent.access.availability import conflicts, rooms
from agent.core.calendar import holidays
from agent.core.results import CheckResult, Reading, State
from agent.core.settings import load_all
from agent.store import Store, queries, queries_access
from agent.store.migrations import MIGRATIONS
from tests.console import Person, set_passwords, text_of

LIMA = ZoneInfo("America/Lima")
HOSTILE = "<script>alert(1)</script>"
CUARTO = "Cuarto de comunicaciones piso 3"
SHUTDOWN = """
id: datacenter-shutdown
title: Apagado del Centro de Datos (prueba)
procedure: prueba
params:
  motivo: {type: str, default: "programado"}
steps:
  - id: registrar
    activity: 1
    name: Registra el motivo
    kind: record
    with: {text: "{{ params.motivo }}"}
"""


def _working_day(after: date, days: int) -> date:
    """The first Monday–Friday, not a public holiday, at least `days` after `after`."""
    day = after + timedelta(days=days)
    while day.weekday() > 4 or day in holidays(day.year):
        day += timedelta(days=1)
    return day


def _office(site, tmp_path, smtp, shutdown: date):
    """Two rooms (a UPS in the centro de datos, a switch in a cuarto), a shutdown scheduled at 10:00 on
    `shutdown`, the SMTP peer, the people of tests/agentd.py."""
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "ups"}
    site.hosts["sw-piso3"] = {"ansible_host": "127.0.0.42", "oti_kind": "switch", "oti_location": CUARTO}
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "datacenter-shutdown.yaml").write_text(SHUTDOWN)
    site.extra.update(
        runbooks_dir="runbooks",
        schedules=[{"name": "apagado-programado", "runbook": "datacenter-shutdown", "at": f"{shutdown} 10:00"}],
        mail={"host": "127.0.0.1", "port": smtp[0], "starttls": True, "user": "agent",
              "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
              "recipients": {"jefa": ["jefa@entidad.example"]}},
    )
    config = site.write()
    set_passwords(config, ("luis", "mariella", "rosa", "joanna"))
    return config


def _ask(person: Person, **changes) -> tuple[int, str]:
    form = {"nombre": "Juan Pérez", "tipo_documento": "dni", "documento": "40123456", "entidad": "Redes SAC",
            "correo": "juan@redes.example", "actividad": "Cambio de módulo SFP", "sala": "centro-datos",
            "fecha": "", "desde": "09:00", "hasta": "12:00", **changes}
    answer = person.post("/acceso/solicitudes", form)
    if answer.status_code != 303:
        return 0, answer.text
    return int(re.search(r"[?&]n=(\d+)", answer.headers["location"])[1]), answer.headers["location"]


def _mail_to(inbox, address: str, count: int, timeout: float = 20.0) -> list:
    """The messages to `address` once there are `count` of them (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in inbox.messages if address in (m["To"] or "")]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _body(message) -> str:
    return message.get_payload(decode=True).decode()


def _section(words: str, start: str, end: str) -> str:
    return words[words.index(start) : words.index(end, words.index(start))]


def test_a_request_is_checked_observed_moved_authorised_and_the_requester_told(site, tmp_path, agentd, smtp):
    port, inbox = smtp
    today = datetime.now(LIMA).date()
    busy = _working_day(today, 14)
    free = _working_day(busy, 1)
    config = _office(site, tmp_path, smtp, busy)
    daemon = agentd(config)
    store = Store.for_config(load_all(config).config)
    with Person(daemon, "luis") as luis, Person(daemon, "mariella") as jefa, Person(daemon, "rosa") as rosa, \
            Person(daemon, "joanna") as joanna:
        # the request as the mail said it: a bad window and e-mail are the form again, naming the fields
        _none, page = _ask(luis, fecha=busy.isoformat(), desde="12:00", hasta="11:00", correo="juan", nombre=HOSTILE)
        words = text_of(page)
        assert "Hora de término: debe ser posterior a la de inicio (12:00)" in words
        assert "Correo del solicitante: escriba una dirección" in words and HOSTILE not in page
        assert queries_access.access_requests(store) == []
        assert joanna.post("/acceso/solicitudes", {"nombre": "x"}).status_code == 403   # not the office's staff

        asked, where = _ask(luis, fecha=busy.isoformat(), nombre=HOSTILE)
        assert f"Solicitud de ingreso N° {asked} registrada" in text_of(luis.get(where).text)

        # the jefa reads it with the agent's answer: a shutdown is planned in the window
        page = jefa.get("/acceso").text
        card = _section(text_of(page), f"Solicitud N° {asked}", "Ingresos por autorizar")
        assert f"{busy:%d/%m/%Y} de 09:00 a 12:00" in card and "Centro de datos" in card
        assert "¿Existe disponibilidad? No" in card
        assert f"Apagado del centro de datos programado para el {busy:%d/%m/%Y} 10:00 («apagado-programado»)" in card
        assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        bare = jefa.post(f"/acceso/solicitudes/{asked}/decision", {"decision": "autorizar", "comentario": ""})
        assert bare.status_code == 400 and "el agente encontró que no hay disponibilidad" in text_of(bare.text)
        assert rosa.post(f"/acceso/solicitudes/{asked}/decision",
                         {"decision": "observar", "comentario": "no"}).status_code == 403
        observed = jefa.post(f"/acceso/solicitudes/{asked}/decision",
                             {"decision": "observar", "comentario": "ese día se apaga el centro de datos"})
        assert observed.status_code == 303 and "aviso=observada" in observed.headers["location"]
        assert queries_access.access_request(store, asked)["status"] == "observed"

        # activity 6: the specialist coordinates a new date; it goes back to the jefa, now available
        wrong = luis.post(f"/acceso/solicitudes/{asked}/propuesta", {"fecha": free.isoformat(), "desde": "11:00",
                                                                    "hasta": "10:00", "nota": ""})
        assert wrong.status_code == 400 and "debe ser posterior a la de inicio" in text_of(wrong.text)
        moved = luis.post(f"/acceso/solicitudes/{asked}/propuesta",
                          {"fecha": free.isoformat(), "desde": "09:00", "hasta": "11:00",
                           "nota": "coordinado por teléfono con el proveedor"})
        assert moved.status_code == 303 and "aviso=propuesta" in moved.headers["location"]
        card = _section(text_of(jefa.get("/acceso").text), f"Solicitud N° {asked}", "Ingresos por autorizar")
        assert f"{free:%d/%m/%Y} de 09:00 a 11:00 (pedido: {busy:%d/%m/%Y} de 09:00 a 12:00" in card
        assert "coordinado por teléfono con el proveedor" in card and "¿Existe disponibilidad? Sí" in card
        done = jefa.post(f"/acceso/solicitudes/{asked}/decision", {"decision": "autorizar", "comentario": ""})
        assert done.status_code == 303 and "aviso=solicitud_autorizada" in done.headers["location"]
        row = queries_access.access_request(store, asked)
        assert (row["status"], row["decided_by"], row["decided_as"], row["day"]) == (
            "authorised", "Mariella Paredes (mariella)", "titular", free.isoformat())
        told = _mail_to(inbox, "juan@redes.example", 1)
        assert len(told) == 1 and told[0]["Cc"] == "jefa@entidad.example"
        subject = inbox.subjects()[inbox.messages.index(told[0])]
        assert subject == f"Ingreso autorizado al Centro de datos — {free:%d/%m/%Y} de 09:00 a 11:00"
        body = _body(told[0])
        assert f"Usted lo solicitó para el {busy:%d/%m/%Y} de 09:00 a 12:00" in body
        assert "Cambio de módulo SFP" in body and f"solicitud N° {asked}" in body
        again = jefa.post(f"/acceso/solicitudes/{asked}/decision", {"decision": "denegar", "comentario": "no"})
        assert again.status_code == 409 and len(_mail_to(inbox, "juan@redes.example", 2, timeout=1)) == 1

        # a second request overlapping the authorised visit: the agent says so; the jefa refuses it
        other, _ = _ask(luis, fecha=free.isoformat(), desde="10:00", hasta="12:00", nombre="Ana Torres",
                        correo="ana@energia.example", entidad="Energía SAC")
        night, _ = _ask(luis, fecha=free.isoformat(), desde="20:00", hasta="22:00", nombre="Pedro Ruiz",
                        correo="pedro@redes.example")
        words = text_of(jefa.get("/acceso").text)
        card = _section(words, f"Solicitud N° {other}", f"Solicitud N° {night}")
        assert f"Visita N° {asked} ya autorizada de &lt;script&gt;alert(1)&lt;/script&gt; (Redes SAC) de 09:00 a " \
               "11:00" in card
        assert "Fuera del horario de la oficina (L, M, X, J, V de 08:30 a 17:30" in _section(
            words, f"Solicitud N° {night}", "Ingresos por autorizar")
        refused = jefa.post(f"/acceso/solicitudes/{other}/decision",
                            {"decision": "denegar", "comentario": "ese horario ya está ocupado"})
        assert refused.status_code == 303
        mail = _mail_to(inbox, "ana@energia.example", 1)
        assert len(mail) == 1 and "ese horario ya está ocupado" in _body(mail[0])
        assert inbox.subjects()[inbox.messages.index(mail[0])] == (
            f"Ingreso no autorizado al Centro de datos — solicitud del {free:%d/%m/%Y}")

        # the authorised visit is expected (not today: no door button yet); its sheet is for the staff
        listed = _section(text_of(luis.get("/acceso").text), "Visitas autorizadas", "Nuevo ingreso")
        assert f"Solicitud N° {asked}" in listed and "Ana Torres" not in listed
        assert "Registrar su ingreso" not in listed and "Hoja de control de acceso (PDF)" in listed


def _alarm(config, device: str) -> None:
    """An alert open in the book for `device` (what a poll that found it CRITICAL leaves)."""
    from agent.alerts.book import AlertBook

    settings = load_all(config)
    store = Store.for_config(settings.config)
    reading = Reading("if_oper_status", 2.0, State.CRITICAL, labels=(("ifname", "Gi1/0/24"),),
                      message="Gi1/0/24 (enlace al piso 4) caído")
    changes = store.record([CheckResult("snmp", device, datetime.now(UTC), 0.1, [reading])])
    assert AlertBook(settings, store).process(changes)


def test_the_visit_enters_by_its_request_is_reviewed_at_the_exit_and_prints(site, tmp_path, agentd, smtp):
    port, inbox = smtp
    today = datetime.now(LIMA).date()
    config = _office(site, tmp_path, smtp, _working_day(today, 30))
    data = yaml.safe_load(config.read_text())          # the jefa on leave: Rosa stands in for her these days
    data["people"]["deputies"].append({"role": "jefa", "person": "rosa", "from": str(today - timedelta(days=1)),
                                       "to": str(today + timedelta(days=1)), "reason": "vacaciones de la jefa"})
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    _alarm(config, "sw-piso3")
    daemon = agentd(config)
    store = Store.for_config(load_all(config).config)
    cuarto = next(k for k, v in rooms(load_all(config).inventory).items() if v == CUARTO)
    done = daemon.cli("silence", "sw-piso3", "--reason", "cambio de UPS del cuarto", "--for", "2d")
    assert done.returncode == 0, done.stderr
    with Person(daemon, "luis") as luis, Person(daemon, "rosa") as jefa, Person(daemon, "joanna") as joanna:
        asked, _ = _ask(luis, fecha=today.isoformat(), desde="00:00", hasta="23:59", sala=cuarto,
                        nombre="Ana Torres", documento="a1234567", tipo_documento="pasaporte",
                        correo="ana.torres@energia.example", entidad="Energía SAC", actividad="Revisión del switch")
        card = _section(text_of(jefa.get("/acceso").text), f"Solicitud N° {asked}", "Ingresos por autorizar")
        assert CUARTO in card and "sw-piso3 en mantenimiento hasta el" in card
        assert "(cambio de UPS del cuarto), según Luis Quispe" in card
        assert jefa.post(f"/acceso/solicitudes/{asked}/decision",
                         {"decision": "autorizar", "comentario": "urgente: enlace del piso 4 caído"}).status_code == 303
        assert len(_mail_to(inbox, "ana.torres@energia.example", 1)) == 1

        # on the day: expected, the door's form filled from the request, linked and authorised at once
        listed = _section(text_of(luis.get("/acceso").text), "Visitas autorizadas", "Nuevo ingreso")
        assert f"Solicitud N° {asked} · Ana Torres (Energía SAC) · Prevista hoy" in listed
        page = luis.get("/acceso", params={"solicitud": asked}).text
        assert 'value="Ana Torres"' in page and 'value="A1234567"' in page and 'value="pasaporte" selected' in page
        assert f'name="solicitud" value="{asked}"' in page
        form = {"fecha": today.isoformat(), "nombre": "Ana Torres", "tipo_documento": "pasaporte",
                "documento": "A1234567", "entidad": "Energía SAC", "actividad": "Revisión del switch",
                "hora_ingreso": "00:01", "solicitud": str(asked)}
        wrong_day = luis.post("/acceso", {**form, "fecha": (today + timedelta(days=1)).isoformat()})
        assert wrong_day.status_code == 400 and f"fue autorizada para el {today:%d/%m/%Y}" in text_of(wrong_day.text)
        entered = luis.post("/acceso", form)
        assert entered.status_code == 303 and "aviso=visita" in entered.headers["location"]
        entry = int(re.search(r"[?&]n=(\d+)", entered.headers["location"])[1])
        row = queries.access_entry(store, entry)
        assert (row["request_id"], row["status"], row["decided_by"], row["decided_as"]) == (
            asked, "authorised", "Rosa Vega (rosa)", "encargado")
        assert luis.post("/acceso", form).status_code == 400                     # one open entry per visit
        listed = _section(text_of(luis.get("/acceso").text), "Visitas autorizadas", "Nuevo ingreso")
        assert f"Ingresos N° {entry}: 00:01–sin salida" in listed and "Registrar su ingreso" not in listed

        # activity 9 at the exit: the cuarto's alert is shown; a problem keeps the entry open
        inside = _section(text_of(luis.get("/acceso").text), "Sin hora de salida", "Solicitudes de ingreso")
        assert f"N° {entry} · Ana Torres" in inside and f"Estado de {CUARTO} ahora: 1 alerta(s) activa(s)" in inside
        assert "sw-piso3: Gi1/0/24 (enlace al piso 4) caído" in inside
        assert joanna.post(f"/acceso/{entry}/revision", {"revision": "sin_problemas",
                                                         "hora_salida": "23:58"}).status_code == 403
        vague = luis.post(f"/acceso/{entry}/revision", {"revision": "problema", "hora_salida": "23:58"})
        assert vague.status_code == 400 and "escriba en la observación el problema" in text_of(vague.text)
        problem = luis.post(f"/acceso/{entry}/revision", {"revision": "problema", "hora_salida": "23:58",
                                                          "observacion": "el enlace sigue caído tras el cambio"})
        assert problem.status_code == 303 and "aviso=problema" in problem.headers["location"]
        assert queries.access_entry(store, entry)["time_out"] is None
        inside = _section(text_of(luis.get("/acceso").text), "Sin hora de salida", "Solicitudes de ingreso")
        assert "«el enlace sigue caído tras el cambio»" in inside
        closed = luis.post(f"/acceso/{entry}/revision", {"revision": "sin_problemas", "hora_salida": "23:58",
                                                         "observacion": ""})
        assert closed.status_code == 303 and "aviso=salida" in closed.headers["location"]
        assert queries.access_entry(store, entry)["time_out"] == "23:58"
        reviews = queries_access.access_reviews(store, [entry])[entry]
        assert [r["outcome"] for r in reviews] == ["problema", "sin_problemas"]
        assert reviews[0]["alerts"][0]["device"] == "sw-piso3" and reviews[1]["by"] == "Luis Quispe (luis)"

        # the visit's Anexo 1 as a PDF: the row, the review, the three signature lines with their names
        assert joanna.get(f"/acceso/solicitudes/{asked}/hoja").status_code == 200     # GG reads the archive
        sheet = luis.get(f"/acceso/solicitudes/{asked}/hoja")
        assert sheet.status_code == 200 and sheet.headers["content-type"] == "application/pdf"
        pdf = tmp_path / "hoja.pdf"
        pdf.write_bytes(sheet.content)
        text = " ".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                                       timeout=60).stdout.decode().split())
        assert "Control de acceso al Centro de Datos" in text and "S.04.03.02_P — Anexo 1" in text
        for column in ("Nombre y apellidos", "Entidad / proveedor", "Actividad realizada", "Firma salida"):
            assert column in text, column            # the narrow ones wrap: «Fecha / ingreso», «Hora de / salida»
        assert f"{today:%d/%m/%Y} Ana Torres Pasaporte Energía SAC Revisión del switch 00:01 23:58 A1234567" in text
        assert "Sí sw-piso3: Gi1/0/24 (enlace al piso 4) caído (Crítico) el enlace sigue caído tras el cambio" in text
        assert "Concluida: salida registrada sin problemas (actividad 9)" in text
        for line in ("Visitante", "Especialista que acompaña", "Autorizó (Jefa/e de la OTI)",
                     "Ana Torres — Energía SAC", "Luis Quispe", "Rosa Vega — Jefa de la OTI (encargada/o)"):
            assert line in text, line
        assert luis.get("/acceso/solicitudes/9999/hoja").status_code == 400


def test_availability_at_fixed_dates(site):
    """The rules on injected times: Holy Thursday is no working day; an hour past the office's end is outside."""
    from agent.access.requests import AccessRequests

    site.hosts["sw-piso3"] = {"ansible_host": "127.0.0.42", "oti_kind": "switch", "oti_location": CUARTO}
    settings = load_all(site.write())
    store = Store.for_config(settings.config)
    now = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    requests = AccessRequests(store, lambda: now)
    first = requests.add(name="Ana", id_number="41234567", company="Energía SAC", email="a@e.example",
                         activity="x", room="centro-datos", day=date(2027, 3, 24), time_from="09:00",
                         time_to="11:00", recorded_by="Luis Quispe (luis)")
    requests.decide(first, "Mariella Paredes (mariella)", authorise=True, comment=None, conflicts=[])

    def ask(day: date, start: str, end: str, room: str = "centro-datos") -> list[str]:
        wanted = {"id": None, "room": room, "day": day.isoformat(), "time_from": start, "time_to": end}
        return [c.kind for c in conflicts(settings, store, wanted, now)]

    assert ask(date(2027, 3, 24), "10:30", "12:00") == ["visita"]       # overlaps the one authorised
    assert ask(date(2027, 3, 24), "11:00", "12:00") == []               # starts when it ends
    assert ask(date(2027, 3, 24), "10:30", "12:00", room=next(iter(set(rooms(settings.inventory)) - {
        "centro-datos"}))) == []                                         # another room
    assert ask(date(2027, 3, 25), "09:00", "10:00") == ["horario"]      # Jueves Santo
    assert ask(date(2027, 3, 24), "16:30", "18:30") == ["horario"]      # past 17:30


def test_a_store_of_version_11_gains_the_requests_and_keeps_its_entries(tmp_path, monkeypatch):
    from agent.store import store as store_mod

    monkeypatch.setattr(store_mod, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 11])
    Store("sqlite:///var/old.db", tmp_path).close()
    monkeypatch.undo()
    with sqlite3.connect(tmp_path / "var" / "old.db") as db:      # as version 11 left the table, with one entry
        db.execute("alter table access_log drop column request_id")
        db.execute("insert into access_log (day, name, id_number, company, activity, time_in, time_out, "
                   "recorded_by, created_at, status) values ('2026-09-14', 'Ana Torres', '41234567', "
                   "'Energía SAC', 'Mantenimiento de UPS', '14:00', NULL, 'Luis Quispe (luis)', "
                   "'2026-09-14 19:00:00', 'authorised')")
    store = Store("sqlite:///var/old.db", tmp_path)
    assert queries.store_version(store) >= 12
    kept = queries.access_entries(store, "2026-09-01", "2026-10-01")
    assert [(e["name"], e["request_id"]) for e in kept] == [("Ana Torres", None)]
    assert queries_access.access_requests(store) == []
