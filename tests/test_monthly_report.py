"""The monthly IT services report over a month of recorded data, read back from its XLSX and PDF."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from agent.alerts import AlertBook
from agent.core.results import State
from agent.core.settings import load_all
from agent.store import Store
from agent.store.schema import backup_runs, custody_movements, uptime_days
from agent.store.store import StateChange
from tests.operator import cli
from tests.test_backups import _site

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates


def _sheet(book, name):
    rows = [[c.value for c in r] for r in book[name].iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] in ("N°", "Fecha ingreso"))
    return [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:]]


def test_monthly_report_over_a_recorded_month(site, tmp_path, smtp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    port, inbox = smtp
    site.hosts["sw-core-01"] = {"ansible_host": "127.0.0.20", "oti_kind": "switch", "oti_location": "Cuarto piso 3",
                                "oti_vendor": {"name": "Redes SAC", "email": "noc@redes.example"}}
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"jefa": ["jefa@entidad.example"], "especialistas": ["is@entidad.example"]}}
    site.extra["alerts"] = {"policies": [{"name": "redes", "steps": [{"to": ["especialistas"]},
                                                                     {"after": "30m", "vendor": True, "cc": ["jefa"]}]}]}
    settings = _site(site, tmp_path)
    config = site.root / "config.yaml"
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)

    # October 2026, as the daemon would have recorded it: one check run a minute per device; the
    # switch did not answer for one hour on the 14th; the file server never missed a run
    with store.engine.begin() as conn:
        for day in range(1, 32):
            for device in ("sw-core-01", "fs-01"):
                down = 60 if (device, day) == ("sw-core-01", 14) else 0
                conn.execute(insert(uptime_days).values(device=device, check_name="snmp", day=f"2026-10-{day:02d}",
                                                        runs=1440, up_runs=1440 - down))
        for day in range(1, 32):                                   # the daily file-server backup: 2 failures
            start = datetime(2026, 10, day, 6, 0, tzinfo=UTC)
            conn.execute(insert(backup_runs).values(
                asset="docs", slot=start, attempt=1, trigger="schedule", backend="vtl", job_name="BackupDocs",
                job_id=str(day), level="Full", status="failed" if day in (9, 21) else "ok", started_at=start,
                ended_at=start + timedelta(minutes=20), bytes=10**9, files=1000, volumes="TAPE001"))
        conn.execute(insert(custody_movements).values(box="CAJA-03", movement="enviada", tapes="TAPE001,TAPE002",
                                                      seal="P-77", by="luis", at=datetime(2026, 10, 30, 15, tzinfo=UTC)))

    # the compliance verdict of a Windows server, as the wsus probe leaves it
    from agent.core.results import CheckResult, Reading

    store.record([CheckResult("wsus", "fs-01", datetime.now(UTC), 0.1, [Reading(
        "compliance_ok", 0.0, State.CRITICAL, labels=(("area", "wsus"), ("host", "srv-app-01")),
        message="actualizaciones de seguridad pendientes: KB5070100 (30 d)")])])

    # the switch's outage was an alert escalated to its vendor
    clock = [datetime(2026, 10, 14, 15, 0, tzinfo=UTC)]
    book = AlertBook(settings, store, clock=lambda: clock[0])
    book.process([StateChange("sw-core-01", "if_oper_status", "snmp", State.OK, State.CRITICAL, None, "down",
                              "enlace troncal caído", clock[0])])
    book.tick()
    clock[0] += timedelta(minutes=31)
    book.tick()
    alert_id = book.list()[0]["id"]
    book.resolve(alert_id, "luis", "proveedor reemplazó el módulo SFP")

    for args in (["--date", "2026-10-07", "--name", "Juan Pérez", "--dni", "40123456", "--company", "Redes SAC",
                  "--activity", "Cambio de módulo SFP", "--in", "09:10", "--out", "10:05"],
                 ["--date", "2026-10-21", "--name", "Rosa Díaz", "--dni", "41234567", "--company", "Energía SAC",
                  "--activity", "Mantenimiento preventivo de UPS", "--in", "14:00"]):
        done = cli(config, "access-log", "add", *args)
        assert done.returncode == 0, done.stderr
    bad = cli(config, "access-log", "add", "--name", "X", "--dni", "1", "--company", "Y", "--activity", "Z",
              "--in", "25:00")
    assert bad.returncode != 0 and "25:00" in bad.stderr
    # the accompanying specialist is who ran the command
    from agent.store import queries

    assert [e["recorded_by"] for e in queries.access_entries(store, "2026-10-01", "2026-10-31")] \
        == ["Luis Quispe (luis)"] * 2

    done = cli(config, "report", "monthly", "--month", "2026-10", "--send")
    assert done.returncode == 0, done.stdout + done.stderr
    paths = [p for p in done.stdout.split() if p.startswith("/")]
    book_x = load_workbook([p for p in paths if p.endswith(".xlsx")][0])
    assert book_x.sheetnames == ["Disponibilidad", "Switches", "Incidentes", "Respaldos", "Custodia", "Cumplimiento",
                                 "Red", "Acceso", "Licencias", "Simulacros", "Firmas"]
    assert _sheet(book_x, "Red") == []                    # no syslog receiver on this site: the section is empty
    compliance = {r["Equipo"]: r for r in _sheet(book_x, "Cumplimiento")}
    assert compliance["srv-app-01"]["Conforme"] == "No" and "KB5070100" in compliance["srv-app-01"]["Observaciones"]
    avail = {r["Equipo"]: r for r in _sheet(book_x, "Disponibilidad")}
    assert avail["sw-core-01"]["Disponibilidad"] == "99.87 %" and avail["fs-01"]["Disponibilidad"] == "100.00 %"
    assert avail["sw-core-01"]["Alertas"] == 1
    switch = _sheet(book_x, "Switches")[0]
    assert switch["Switch"] == "sw-core-01" and switch["Ubicación"] == "Cuarto piso 3"
    incident = _sheet(book_x, "Incidentes")[0]
    assert incident["Clasificación"] == "Incidente" and incident["Estado"] == "Resuelta"
    backups = _sheet(book_x, "Respaldos")
    docs = [r for r in backups if r["Activo de información"] == "Carpetas de trabajo"][0]
    assert (docs["Ejecuciones"], docs["Conformes"], docs["Fallidas"], docs["Éxito"]) == (31, 29, 2, "93.55 %")
    # no drill recorded: the critical asset (a database, drilled monthly by default) shows its drill as missing
    drills = _sheet(book_x, "Simulacros")
    assert [(r["Activo de información"], r["Resultado"]) for r in drills] == [("BD_Oracle_1", "Sin simulacro en el mes")]
    assert _sheet(book_x, "Custodia")[0]["Caja"] == "CAJA-03"
    access = _sheet(book_x, "Acceso")
    assert [(a["Fecha ingreso"], a["Nombre y apellidos"], a["Hora de ingreso"], a["Hora de salida"]) for a in access] \
        == [("07/10/2026", "Juan Pérez", "09:10", "10:05"), ("21/10/2026", "Rosa Díaz", "14:00", None)]
    text = subprocess.run(["pdftotext", [p for p in paths if p.endswith(".pdf")][0], "-"], capture_output=True,
                          text=True).stdout
    assert "Informe mensual de servicios TI" in text and "octubre de 2026" in text and "Rosa Díaz" in text
    assert any("Informe mensual de servicios TI — octubre de 2026" in s for s in inbox.subjects())

    # the daily checklist gives each host's compliance its own line, not its WSUS server's
    today = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("America/Lima")).date().isoformat()
    daily = cli(config, "report", "daily", "--date", today, "--format", "xlsx")
    assert daily.returncode == 0, daily.stderr
    rows = [[c.value for c in r] for r in load_workbook(daily.stdout.split()[-1]).active.iter_rows()]
    lines = {r[1]: r for r in rows if r[1]}
    line = lines["Cumplimiento de parches (WSUS) de srv-app-01"]
    assert line[3] == "X" and "KB5070100" in line[4]
    assert "compliance_ok" not in (lines["Operatividad de fs-01 (servidor virtual)"][4] or "")
