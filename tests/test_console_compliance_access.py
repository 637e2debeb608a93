"""The console's «Cumplimiento» and «Registro de acceso» against the real daemon: the compliance verdicts the
probes left (a host that does not comply with its reasons, an exception with who granted it and until
when, an expired one); an entry filled at the door, authorised by the jefa with a comment, its time out
recorded, in the month's list with who authorised it; an especialista cannot authorise; a hostile name
is text; a store of version 9 keeps its entries at version 10."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, timedelta

from agent.core.compliance import CompliancePolicy, Facts, judge, readings
from agent.core.results import CheckResult
from agent.core.settings import load_all
from agent.store import Store, queries
from agent.store.migrations import MIGRATIONS
from tests.console import Person, set_passwords, text_of

HOSTILE = "<script>alert(1)</script>"


def _store(config) -> Store:
    settings = load_all(config)
    return Store(settings.config.store.url, settings.config.base_dir)


def _verdicts(store: Store, policy: CompliancePolicy, now: datetime) -> None:
    """What the WSUS and antivirus probes leave in the store (agent.core.compliance's own readings)."""
    wsus = readings(
        "wsus",
        "srv-app-01",
        judge("srv-app-01", Facts(missing=[("KB5070100", 30), ("KB5070200", 2)]), policy, now),
    )
    wsus += readings("wsus", "srv-bd-01", judge("srv-bd-01", Facts(missing=[]), policy, now))
    av = readings(
        "antivirus",
        "srv-fs-01",
        judge(
            "srv-fs-01",
            Facts(antivirus=False, antivirus_detail="agente detenido", signature_age_days=12),
            policy,
            now,
        ),
    )
    av += readings(
        "antivirus",
        "srv-web-01",
        judge(
            "srv-web-01", Facts(antivirus=True, antivirus_detail="activo", signature_age_days=9), policy, now
        ),
    )
    store.record(
        [
            CheckResult("wsus", "wsus-01", now, 0.1, wsus),
            CheckResult("av_console", "consola-av", now, 0.1, av),
        ]
    )


def test_compliance_page_shows_reasons_and_exceptions(site, agentd):
    today = date.today()
    in_force, expired = today + timedelta(days=30), today - timedelta(days=10)
    site.hosts["wsus-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "server_virtual"}
    site.hosts["consola-av"] = {"ansible_host": "127.0.0.42", "oti_kind": "server_virtual"}
    site.extra["compliance"] = {
        "max_missing_days": 14,
        "max_signature_age_days": 3,
        "exceptions": [
            {
                "host": "srv-web-01",
                "rule": "signatures",
                "until": in_force.isoformat(),
                "reason": "equipo en baja",
                "granted_by": "Mariella Paredes",
            },
            {
                "host": "srv-app-01",
                "rule": "updates",
                "until": expired.isoformat(),
                "reason": "ventana de cambios",
                "granted_by": "Mariella Paredes",
            },
        ],
    }
    config = site.write()
    store = _store(config)
    _verdicts(store, CompliancePolicy.model_validate(site.extra["compliance"]), datetime.now(UTC))
    set_passwords(config, ("luis", "joanna"))
    daemon = agentd(config)

    with Person(daemon, "luis") as luis:
        answer = luis.get("/cumplimiento")
        assert answer.status_code == 200, answer.text
        words = text_of(answer.text)
    assert "2 de 4 equipos no cumplen la política" in words
    wsus, av = words.index("Parches (WSUS)"), words.index("Antivirus")
    assert wsus < av
    app = words[words.index("srv-app-01", wsus) : words.index("srv-bd-01", wsus)]
    assert (
        "No conforme desde" in app and "KB5070100 (30 d)" in app and "KB5070200" not in app
    )  # within the 14 days
    assert f"Excepción vencida actualizaciones de seguridad pendientes hasta el {expired:%d/%m/%Y}" in app
    assert "Conforme" in words[words.index("srv-bd-01", wsus) : av]
    antivirus = words[av : words.index("Excepciones (")]
    assert antivirus.index("srv-fs-01") < antivirus.index("srv-web-01")  # who does not comply, first
    fs = antivirus[antivirus.index("srv-fs-01") : antivirus.index("srv-web-01")]
    assert "No conforme" in fs and "agente detenido" in fs and "firmas de hace 12 días" in fs
    web = antivirus[antivirus.index("srv-web-01") :]
    assert "Exceptuado firmas del antivirus : firmas de hace 9 días" in web
    assert f"excepción hasta {in_force:%d/%m/%Y} (equipo en baja; autorizó Mariella Paredes)" in web
    table = words[words.index("Excepciones (") :]
    assert table.startswith("Excepciones (1 vigentes)")
    assert (
        f"srv-web-01 firmas del antivirus {in_force:%d/%m/%Y} equipo en baja Mariella Paredes Vigente"
        in table
    )
    assert (
        f"srv-app-01 actualizaciones de seguridad pendientes {expired:%d/%m/%Y} ventana de cambios "
        "Mariella Paredes Vencida" in table
    )
    with Person(daemon, "joanna") as joanna:  # General Management: not hers
        assert joanna.get("/cumplimiento").status_code == 403


def _entry(person: Person, **changes) -> tuple[int, str]:
    form = {
        "fecha": "2026-10-07",
        "nombre": "Juan Pérez",
        "tipo_documento": "dni",
        "documento": "40123456",
        "entidad": "Redes SAC",
        "actividad": "Cambio de módulo SFP",
        "hora_ingreso": "09:10",
        **changes,
    }
    answer = person.post("/acceso", form)
    if answer.status_code != 303:
        return 0, answer.text
    return int(re.search(r"[?&]n=(\d+)", answer.headers["location"])[1]), answer.headers["location"]


def test_an_entry_is_filled_authorised_left_and_listed(site, agentd):
    site.hosts["srv-app-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "server_virtual"}
    config = site.write()
    set_passwords(config, ("luis", "mariella", "rosa"))
    daemon = agentd(config)
    store = _store(config)
    with Person(daemon, "luis") as luis, Person(daemon, "mariella") as jefa, Person(daemon, "rosa") as rosa:
        # a wrong DNI and time: the form again, naming the fields, with what was typed (as text)
        _none, page = _entry(luis, nombre=HOSTILE, documento="4012", hora_ingreso="25:00")
        words = text_of(page)
        assert (
            "Número de documento: un DNI tiene 8 dígitos" in words
            and "Hora de ingreso: escriba la hora" in words
        )
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page and HOSTILE not in page
        assert 'value="Redes SAC"' in page and "Cambio de módulo SFP</textarea>" in page
        assert queries.access_entries(store, "2026-10-01", "2026-11-01", statuses=None) == []

        entry, where = _entry(luis, nombre=HOSTILE)
        assert where.startswith("/acceso?aviso=registrado")
        refused, _ = _entry(
            luis, nombre="Pedro Ruiz", documento="a1234567", tipo_documento="pasaporte", hora_ingreso="15:00"
        )
        assert f"Ingreso N° {entry} registrado: espera la autorización" in text_of(luis.get(where).text)

        # the especialista sees the entry waiting, without the buttons; the endpoint refuses her
        page = rosa.get("/acceso").text
        assert "Ingresos por autorizar (2)" in text_of(page) and 'value="autorizar"' not in page
        assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert (
            rosa.post(f"/acceso/{entry}/decision", {"decision": "autorizar", "comentario": "sí"}).status_code
            == 403
        )
        assert queries.access_entry(store, entry)["status"] == "requested"

        # the jefa: refusing needs a reason; she authorises one with a comment and refuses the other
        page = jefa.get("/acceso").text
        assert f'action="/acceso/{entry}/decision"' in page and 'value="autorizar"' in page
        no_reason = jefa.post(f"/acceso/{refused}/decision", {"decision": "denegar", "comentario": ""})
        assert no_reason.status_code == 400 and "escriba en el comentario el motivo" in text_of(
            no_reason.text
        )
        done = jefa.post(
            f"/acceso/{entry}/decision", {"decision": "autorizar", "comentario": "coordinado por correo"}
        )
        assert done.status_code == 303 and "aviso=autorizado" in done.headers["location"]
        assert (
            jefa.post(
                f"/acceso/{refused}/decision", {"decision": "denegar", "comentario": "sin fecha disponible"}
            ).status_code
            == 303
        )
        again = jefa.post(f"/acceso/{entry}/decision", {"decision": "denegar", "comentario": "no"})
        assert again.status_code == 409 and "ya fue autorizado por Mariella Paredes (mariella)" in text_of(
            again.text
        )
        row = queries.access_entry(store, entry)
        assert (
            row["status"],
            row["decided_by"],
            row["decided_as"],
            row["decision_comment"],
            row["recorded_by"],
        ) == (
            "authorised",
            "Mariella Paredes (mariella)",
            "titular",
            "coordinado por correo",
            "Luis Quispe (luis)",
        )

        # the time out: not before the time in
        early = luis.post(f"/acceso/{entry}/salida", {"hora_salida": "08:00"})
        assert early.status_code == 400 and "anterior a la hora de ingreso (09:10)" in text_of(early.text)
        assert luis.post(f"/acceso/{entry}/salida", {"hora_salida": "10:05"}).status_code == 303
        assert luis.post(f"/acceso/{refused}/salida", {"hora_salida": "16:00"}).status_code == 400

        # the month's list: the monthly report's rows (not the refused one), with who authorised
        page = luis.get("/acceso", params={"mes": "2026-10"}).text
        words = text_of(page)
        listed = words[words.index("Ingresos del mes") : words.index("Solicitudes denegadas")]
        assert (
            f"{entry} 07/10/2026 {HOSTILE.replace('<', '&lt;').replace('>', '&gt;')} 40123456 Redes SAC "
            "Cambio de módulo SFP 09:10 10:05 Autorizado Mariella Paredes (mariella)"
        ) in listed
        assert "«coordinado por correo»" in listed and "Pedro Ruiz" not in listed
        assert "Pedro Ruiz" in words[words.index("Solicitudes") :] and "sin fecha disponible" in words
        assert 'href="/documentos?tipo=informe-mensual"' in page and HOSTILE not in page
        assert [e["id"] for e in queries.access_entries(store, "2026-10-01", "2026-11-01")] == [entry]


def test_a_store_of_version_9_keeps_its_access_entries(tmp_path, monkeypatch):
    from agent.access.log import AccessLog
    from agent.store import store as store_mod

    monkeypatch.setattr(store_mod, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 9])
    Store("sqlite:///var/old.db", tmp_path).close()
    monkeypatch.undo()
    path = tmp_path / "var" / "old.db"
    with sqlite3.connect(path) as db:  # as version 9 left the table, with one entry
        for column in ("status", "decided_by", "decided_as", "decided_at", "decision_comment"):
            db.execute(f"alter table access_log drop column {column}")
        db.execute(
            "insert into access_log (day, name, id_number, company, activity, time_in, time_out, "
            "recorded_by, created_at) values ('2026-09-14', 'Ana Torres', '41234567', 'Energía SAC', "
            "'Mantenimiento de UPS', '14:00', NULL, 'Luis Quispe (luis)', '2026-09-14 19:00:00')"
        )
    store = Store("sqlite:///var/old.db", tmp_path)
    assert store.migrate() == MIGRATIONS[-1][0] >= 10
    (old,) = queries.access_entries(store, "2026-09-01", "2026-10-01")
    assert (old["name"], old["time_in"], old["status"], old["decided_by"]) == (
        "Ana Torres",
        "14:00",
        "authorised",
        None,
    )
    AccessLog(store).leave(old["id"], "15:30")
    new = AccessLog(store).add(
        date(2026, 9, 15),
        "Juan Pérez",
        "40123456",
        "Redes SAC",
        "Cambio de SFP",
        "09:00",
        None,
        "Luis Quispe (luis)",
    )
    assert queries.access_entry(store, new)["status"] == "requested"
    assert [e["time_out"] for e in queries.access_entries(store, "2026-09-01", "2026-10-01")] == [
        "15:30",
        None,
    ]
