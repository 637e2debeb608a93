"""S.04.04.01.01_P, IT asset management: the licensing master and the devices' warranties edited in the console
(staff read it, only the OTI's operators change it); a licence 30 days from its end raises one alert on an
injected clock, mailed through a real SMTP server by the normal escalation, not raised twice, and resolved
by the renewal recorded; the master (Anexo 1), the maintenance sheet (Anexo 2) and a service record (Anexo 3)
read back from their PDFs with their rows and signature lines; the monthly report's «Licencias y garantías»;
closing an alert escalated to its vendor asks for its service record."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from agent.alerts import AlertBook
from agent.assets.expiry import ExpiryWatch
from agent.assets.licences import Licences, check
from agent.assets.maintenance import MaintenanceSheet
from agent.assets.service_records import ServiceRecords
from agent.assets.warranties import Warranties
from agent.core.results import State
from agent.core.settings import load_all
from agent.documents.compose import compose
from agent.store import StateChange, Store, queries
from tests.console import Person, set_passwords, text_of

T0 = datetime(2031, 3, 2, 14, 0, tzinfo=UTC)               # 09:00 in Lima, a Sunday of 2031
HOSTILE = "<script>alert(1)</script>"
VENDOR = {"name": "Energía y Clima S.A.C.", "email": "soporte@energia.example", "contract": "C-2030-014"}


def _mail(site, port: int) -> dict:
    return {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
            "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
            "recipients": {"especialistas": ["sd@entidad.example"], "jefa": ["jefa@entidad.example"]}}


def _site(site, port: int):
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.51", "oti_kind": "ups", "oti_vendor": VENDOR,
                            "oti_description": "UPS del centro de datos"}
    site.hosts["srv-app-01"] = {"ansible_host": "127.0.0.52", "oti_kind": "server_physical"}
    site.extra["mail"] = _mail(site, port)
    site.extra["alerts"] = {"policies": [
        {"name": "vencimientos", "steps": [{"to": ["especialistas"]}, {"after": "1h", "vendor": True, "cc": ["jefa"]}]}]}
    site.extra["renewals"] = {"notice_days": [60, 30, 7]}
    return site.write()


def _licence(**typed) -> dict:
    values, errors = check({"software": "Microsoft 365 E3", "reg_siaf": "SIAF-1203", "orden": "OS-0451",
                            "cantidad": "150", "tipo": "Suscripción anual", "ubicacion": "Nube (Microsoft)",
                            "inicio": "2030-04-01", "termino": "2031-04-01", "vida_util": "12",
                            "valor": "120,000.00", "estado": "vigente", "nota_ccp": "CCP 0877", "mes": "04/2030",
                            **typed})
    assert not errors, errors
    return values


def test_expiry_notice_is_raised_once_mailed_and_cleared_by_the_renewal(site, smtp):
    port, inbox = smtp
    inbox.messages.clear()
    settings = load_all(_site(site, port))
    store = Store(settings.config.store.url, settings.config.base_dir)
    clock = [T0]
    book = AlertBook(settings, store, clock=lambda: clock[0])
    watch = ExpiryWatch(settings, store, book, clock=lambda: clock[0])
    item = Licences(store, lambda: clock[0]).add(_licence(), "Luis Quispe (luis)")     # ends 01/04/2031

    clock[0] = datetime(2031, 1, 20, 14, 0, tzinfo=UTC)         # 71 days before 01/04/2031: nothing yet
    assert watch.run() == {"raised": 0, "cleared": 0}
    clock[0] = datetime(2031, 1, 31, 14, 0, tzinfo=UTC)         # 60 days before
    assert watch.run()["raised"] == 1
    first = [a for a in book.list() if a["device"] == "licencias"]
    assert len(first) == 1 and first[0]["severity"] == State.WARNING
    assert first[0]["text"] == "Microsoft 365 E3 (ITEM 1) vence el 01/04/2031"
    assert "en 60 días" in first[0]["message"] and "actividades 14–15 y 31–32" in first[0]["message"]
    assert watch.run()["raised"] == 0                            # the same day again: nothing new
    clock[0] += timedelta(days=1)
    assert watch.run()["raised"] == 0                            # the next day: the 60-day notice is given

    book.tick()                                                  # the normal escalation mails it
    mails = [m for m, s in zip(inbox.messages, inbox.subjects(), strict=True) if "licencias" in s]
    assert len(mails) == 1 and mails[0]["To"] == "sd@entidad.example"
    body = mails[0].get_payload(decode=True).decode()
    assert "Microsoft 365 E3 (ITEM 1) vence el 01/04/2031" in body

    clock[0] = datetime(2031, 3, 3, 14, 0, tzinfo=UTC)          # 29 days left: the 30-day notice supersedes
    assert watch.run()["raised"] == 1
    open_now = [a for a in book.list() if a["device"] == "licencias"]
    assert len(open_now) == 1 and 'umbral="30"' in open_now[0]["reading"]
    assert book.get(first[0]["id"])["comment"] == "sustituida por el aviso de 30 días"

    renewed = Licences(store, lambda: clock[0]).update(item, _licence(termino="2032-04-01"), "Luis Quispe (luis)")
    assert renewed is True
    assert watch.clear("licence", str(item), "Luis Quispe (luis)", "renovada hasta el 01/04/2032") == 1
    assert [a for a in book.list() if a["device"] == "licencias"] == []
    assert watch.run()["raised"] == 0                            # a year away again: quiet
    renewals = queries.renewal_rows(store, datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
    assert [(r["previous_end"], r["new_end"]) for r in renewals] == [("2031-04-01", "2032-04-01")]

    # a warranty found 5 days from its end: only the nearest (critical) notice; the daily look resolves it when
    # the end moves (a renewal recorded elsewhere)
    Warranties(store, lambda: clock[0]).set("ups-01", {"vendor": VENDOR["name"], "contract": "C-2030-014",
                                                       "starts": "2028-03-08", "ends": "2031-03-08",
                                                       "status": "vigente", "note": None}, "Luis Quispe (luis)")
    assert watch.run()["raised"] == 1
    ups = [a for a in book.list() if a["device"] == "ups-01"]
    assert len(ups) == 1 and ups[0]["severity"] == State.CRITICAL and 'umbral="7"' in ups[0]["reading"]
    Warranties(store, lambda: clock[0]).set("ups-01", {"vendor": VENDOR["name"], "contract": "C-2031-002",
                                                       "starts": "2031-03-08", "ends": "2034-03-08",
                                                       "status": "vigente", "note": None}, "Luis Quispe (luis)")
    assert watch.run() == {"raised": 0, "cleared": 1}
    assert book.get(ups[0]["id"])["comment"] == "renovada hasta el 08/03/2034"


def _expiry_alert(store, device: str, within_s: float = 30.0) -> dict:
    """The expiry notice the daemon raises for a device, waited for (bounded)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = [a for a in queries.alerts_list(store) if a["device"] == device and a["check_name"] == "assets.expiry"]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no expiry notice for {device} within {within_s:g}s")


def _sheet(paths, name: str) -> list[dict]:
    book = load_workbook(next(p for p in paths if p.suffix == ".xlsx"))
    rows = [[c.value for c in r] for r in book[name].iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] in ("ITEM", "N°", "N.º", "Nro."))
    return [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:]]


def _pdf_text(paths) -> str:
    pdf = next(p for p in paths if p.suffix == ".pdf")
    return re.sub(r"\s+", " ", subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                              check=True, text=True).stdout)


def test_the_three_annexes_and_the_monthly_section_render(site, smtp):
    settings = load_all(_site(site, smtp[0]))
    store = Store(settings.config.store.url, settings.config.base_dir)
    clock = lambda: T0  # noqa: E731
    Licences(store, clock).add(_licence(), "Luis Quispe (luis)")
    Licences(store, clock).add(_licence(software="Antivirus corporativo", termino="2031-12-31", valor="36,000.00",
                                        vida_util="24", inicio="2029-12-31"), "Luis Quispe (luis)")
    Warranties(store, clock).set("ups-01", {"vendor": VENDOR["name"], "contract": "C-2030-014", "starts": "2028-04-10",
                                            "ends": "2031-04-10", "status": "vigente", "note": None}, "Luis")
    book = AlertBook(settings, store, clock=clock)
    alert = book.process([StateChange("ups-01", "output_source", "snmp", State.OK, State.CRITICAL, None, "battery",
                                      "UPS en batería", T0)])[0]
    acta = ServiceRecords(store, clock).add(
        {"at": T0, "user": "Carla Ramos", "unit": "Oficina de Administración", "reason": "UPS en batería",
         "goods": '[{"descripcion": "UPS del centro de datos", "marca_modelo": "APC Symmetra", '
                  '"cod_patrimonial": "746408500123", "serie": "QS1234", "observacion": "banco de baterías"}]',
         "requirement": "Cambio del banco de baterías\nPrueba de autonomía", "observation": "baterías hinchadas",
         "diagnosis": "fin de vida útil", "conclusions": "operativo tras el cambio"},
        "Luis Quispe — Especialista en Infraestructura y Soporte", device="ups-01", alert_id=alert)
    MaintenanceSheet(store, clock).add(
        {"kind": "correctivo", "day": "2031-03-02", "service": "Cambio de baterías", "provider": VENDOR["name"],
         "description": "Reemplazo del banco de baterías", "document": "OS-0999", "detail": "16 baterías 12V",
         "goods": "ups-01", "final_state": "Operativo", "remarks": HOSTILE}, "Luis", device="ups-01",
        alert_id=alert, service_record_id=acta)

    done = compose("maestro-licencias", settings, store, now=T0, por="Rosa Vega — Especialista")
    rows = _sheet(done.paths, "Licenciamiento")                 # sixteen narrow columns: read in the XLSX
    assert list(rows[0]) == ["ITEM", "REG SIAF", "ORDEN", "CANTIDAD ADQUIRIDA", "SOFTWARE Y/O LICENCIA DE SOFTWARE",
                             "TIPO DE LICENCIA", "UBICACIÓN", "INICIO", "TERMINO", "ESTIMACION VIDA UTIL (MESES)",
                             "VALOR ADQUISICION S/", "AMORTIZ. ACUMULADA S/", "SALDO NETO AL dd.mm.aa S/", "ESTADO",
                             "NOTA CCP", "Mes"]
    first = rows[0]
    assert (first["ITEM"], first["REG SIAF"], first["CANTIDAD ADQUIRIDA"], first["INICIO"], first["TERMINO"]) == (
        1, "SIAF-1203", 150, "01/04/2030", "01/04/2031")
    # 11 of its 12 months amortised at 02/03/2031
    assert (first["VALOR ADQUISICION S/"], first["AMORTIZ. ACUMULADA S/"], first["SALDO NETO AL dd.mm.aa S/"]) == (
        "120,000.00", "110,000.00", "10,000.00")
    assert first["ESTADO"] == "Por vencer (30 días)" and rows[1]["ESTADO"] == "Vigente"
    assert [(r["Equipo"], r["Proveedor"], r["Estado"]) for r in _sheet(done.paths, "Garantías")] == [
        ("ups-01", "Energía y Clima S.A.C.", "Por vencer (39 días)"), ("srv-app-01", None, "sin garantía registrada")]
    master = _pdf_text(done.paths)
    assert "Código: S.04.04.01.01_P — Anexo 1" in master and "Saldo neto al 02.03.31" in master
    assert "Elaborado por" in master and "Rosa Vega — Especialista" in master
    assert "Revisado por" in master and "Mariella Paredes — Jefa de la OTI" in master

    sheet = compose("ficha-mantenimientos", settings, store, now=T0)
    text = _pdf_text(sheet.paths)
    assert "Anexo 2" in text and "Cambio de baterías" in text and "OS-0999 (acta N° 1)" in text
    assert "Correctivo" in text and "Elaborado por" in text and "Revisado por" in text
    assert HOSTILE not in sheet.paths[0].read_text() and "&lt;script&gt;" in sheet.paths[0].read_text()

    record = _pdf_text(compose("acta-servicio", settings, store, now=T0, acta=acta).paths)
    assert "Anexo 3" in record and "02/03/2031 09:00" in record and "Carla Ramos" in record
    assert "746408500123" in record and "✓ Cambio del banco de baterías" in record
    assert "DIAGNÓSTICO: fin de vida útil" in record and "Se hace de conocimiento" in record
    assert f"N° {alert} (ups-01)" in record
    assert "Especialista de la OTI" in record and "Luis Quispe — Especialista en Infraestructura y Soporte" in record
    assert "Usuario" in record and "Carla Ramos — Oficina de Administración" in record

    Licences(store, lambda: datetime(2031, 3, 20, 15, tzinfo=UTC)).update(
        2, _licence(software="Antivirus corporativo", termino="2033-12-31", valor="36,000.00", vida_util="24",
                    inicio="2029-12-31"), "Luis Quispe (luis)")
    monthly = compose("informe-mensual", settings, store, now=datetime(2031, 4, 1, 15, tzinfo=UTC), month="2031-03")
    words = _pdf_text(monthly.paths)
    assert "Licencias y garantías" in words and "2 por vencer en 90 días, 1 renovada(s) en el mes" in words
    assert "Microsoft 365 E3 (ITEM 1)" in words and "Por vencer en 1 día " in words
    assert "Garantía de ups-01" in words and "Por vencer en 10 días" in words
    assert "Renovada el 20/03/2031 (antes 31/12/2031) por Luis Quispe (luis)" in words


def test_console_edits_the_master_and_staff_only_read_it(site, agentd, smtp):
    config = _site(site, smtp[0])
    set_passwords(config, ("luis", "joanna", "rosa"))
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)
    book = AlertBook(settings, store)                             # the UPS went on battery; escalated to its vendor
    alert = book.process([StateChange("ups-01", "output_source", "snmp", State.OK, State.CRITICAL, None, "battery",
                                      "UPS en batería", datetime.now(UTC))])[0]
    book.escalate(alert, "Luis Quispe (luis)")
    book.escalate(alert, "Luis Quispe (luis)")
    today = datetime.now(ZoneInfo(settings.config.agent.timezone)).date()     # the daemon's own clock: relative dates
    Warranties(store).set("srv-app-01", {"vendor": "Servidores SAC", "contract": "G-1", "starts": "2020-01-01",
                                         "ends": (today + timedelta(days=5)).isoformat(), "status": "vigente",
                                         "note": None}, "Luis Quispe (luis)")
    daemon = agentd(config)
    form = {"software": f"Autodesk {HOSTILE}", "reg_siaf": "SIAF-77", "orden": "OC-12", "cantidad": "5",
            "tipo": "Perpetua", "ubicacion": "Oficina de Proyectos", "inicio": "2030-01-15", "termino": "2035-01-15",
            "vida_util": "60", "valor": "25000", "estado": "vigente", "nota_ccp": "", "mes": "01/2030"}
    with Person(daemon, "rosa") as rosa:                          # an especialista (BD): OTI staff
        bad = rosa.post("/licencias/licencia", dict(form, cantidad="cero", termino="2029-01-01"))
        assert bad.status_code == 400
        words = text_of(bad.text)
        assert "Cantidad adquirida: escriba un número entero" in words and "Término: es anterior al inicio." in words
        done = rosa.post("/licencias/licencia", form)
        assert done.status_code == 303, done.text
        listing = rosa.get(done.headers["location"])
        assert "Licencia ITEM 1 guardada en el maestro." in text_of(listing.text)
        assert HOSTILE not in listing.text and "Autodesk &lt;script&gt;" in listing.text
        renewed = rosa.post("/licencias/licencia/1", dict(form, termino="2036-01-15"))
        assert renewed.status_code == 303 and "aviso=renovada" in renewed.headers["location"]
        edit = rosa.get("/licencias/licencia/1")
        assert 'value="2036-01-15"' in edit.text and 'value="25,000.00"' in edit.text
        warranty = rosa.get("/licencias/garantia/ups-01")
        assert 'value="Energía y Clima S.A.C."' in warranty.text and 'value="C-2030-014"' in warranty.text
        saved = rosa.post("/licencias/garantia/ups-01", {"proveedor": VENDOR["name"], "contrato": "C-2030-014",
                                                         "inicio": "2030-05-01", "termino": "2033-05-01",
                                                         "estado": "vigente", "nota": ""})
        assert saved.status_code == 303, saved.text
        acta = rosa.post("/licencias/acta", {"fecha": "2031-03-02", "hora": "10:30", "usuario": "Carla Ramos",
                                             "unidad": "OTI", "motivo": "revisión", "equipo": "ups-01",
                                             "b1_descripcion": "UPS", "requerimiento": "Revisión", "diagnostico": "ok",
                                             "conclusiones": "operativo"})
        assert acta.status_code == 303, acta.text
        work = rosa.post("/licencias/mantenimiento", {"tipo": "preventivo", "fecha": "2031-03-02", "servicio": "Limpieza",
                                                      "proveedor": "OTI", "descripcion": "Mantenimiento preventivo",
                                                      "equipos": "ups-01", "estado_final": "operativo",
                                                      "equipo": "ups-01", "acta": "1", "alerta": "99"})
        assert work.status_code == 400 and "no existe la alerta N° 99" in text_of(work.text)
        closed = rosa.post(f"/alertas/{alert}/resolver", {"comentario": "el proveedor cambió las baterías"})
        assert closed.status_code == 303 and closed.headers["location"] == f"/licencias/acta?alerta={alert}&aviso=resuelta"
        asked = rosa.get(closed.headers["location"])
        assert "Fue escalada al proveedor: registre el acta de servicio" in text_of(asked.text)
        assert '<option value="ups-01" selected>' in asked.text and 'value="ups-01 — UPS del centro de datos"' in asked.text
        vendor = rosa.post("/licencias/acta", {"fecha": "2031-03-02", "hora": "16:00", "usuario": "Luis Quispe",
                                               "unidad": "OTI", "motivo": "UPS en batería", "equipo": "ups-01",
                                               "alerta": str(alert), "b1_descripcion": "ups-01 — UPS del centro de datos",
                                               "requerimiento": "Cambio de baterías", "diagnostico": "baterías al fin de su vida",
                                               "conclusiones": "operativo"})
        assert vendor.status_code == 303 and "n=2" in vendor.headers["location"]
        notice = _expiry_alert(store, "srv-app-01")             # the daemon's daily look, once at its start
        assert notice["severity"] == State.CRITICAL and 'umbral="7"' in notice["reading"]
        renew = rosa.post("/licencias/garantia/srv-app-01", {"proveedor": "Servidores SAC", "contrato": "G-2",
                                                             "inicio": "2020-01-01", "termino": "2099-01-01",
                                                             "estado": "vigente", "nota": ""})
        assert renew.status_code == 303 and "aviso=renovada" in renew.headers["location"]
        cleared = queries.alerts_list(store, None, [notice["id"]])[0]
        assert cleared["status"] == "resolved" and cleared["resolved_by"] == "Rosa Vega (rosa)"
        assert cleared["comment"] == "renovada hasta el 01/01/2099 (actividad 27)"
        page = text_of(rosa.get("/licencias").text)
        assert "01/05/2033" in page and "Carla Ramos" in page
        document = rosa.post("/licencias/documento", {"tipo": "maestro"})
        assert document.status_code == 303 and "maestro-licencias" in document.headers["location"]
    with Person(daemon, "joanna") as joanna:                      # General Management: reads, does not edit
        page = joanna.get("/licencias")
        assert page.status_code == 200 and "Autodesk" in text_of(page.text) and "Editar o renovar" not in page.text
        refused = joanna.post("/licencias/licencia/1", dict(form, termino="2040-01-01"))
        assert refused.status_code == 403 and "especialistas" in text_of(refused.text)
    history = queries.alert_events(store, [alert])[alert]
    assert any(e["event"] == "comment" and "Acta de servicio de mantenimiento técnico N° 2" in e["detail"]
               for e in history)
    assert [r["ends"] for r in queries.asset_rows(store, "licences")] == ["2036-01-15"]
    assert [(r["kind"], r["item"], r["by"]) for r in queries.renewal_rows(
        store, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))] == [
        ("licence", "1", "Rosa Vega (rosa)"), ("warranty", "srv-app-01", "Rosa Vega (rosa)")]
    assert queries.asset_rows(store, "service_records")[0]["recorded_by"].startswith("Rosa Vega — ")
