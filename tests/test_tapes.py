"""The tape inventory (Anexo 04), custody boxes and the daily bitácora (Anexo 03), through the CLI,
against a real Bacula whose small tapes fill up, and a real SMTP server for the custody company."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta

import pytest
import yaml
from openpyxl import load_workbook

from agent.backups.service import BackupService
from agent.backups.tapes import TapeError, TapeInventory
from agent.core.times import utc
from agent.store import Store
from tests.operator import cli
from tests.test_backups import LIMA, _site

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates


def _rows(path, first="N°"):
    rows = [[c.value for c in r] for r in load_workbook(path).active.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == first)
    return rows[head], rows[head + 1:]


def test_tapes_custody_and_the_documents(site, tmp_path, bacula, smtp):
    port, inbox = smtp
    (tmp_path / "docs").mkdir()
    for i in range(3):
        (tmp_path / "docs" / f"d{i}.dat").write_bytes(os.urandom(500_000))
    (tmp_path / "db").mkdir()
    peer = bacula({"BackupDocs": [tmp_path / "docs"], "BackupDB": [tmp_path / "db"]}, volume_bytes="1M", slots=10,
                  label=8)
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"custodia": ["operaciones@resguardo.example"]}}
    settings = _site(site, tmp_path, peer, custody={"company": "Resguardo S.A.C."}, responsible="Luis Quispe")
    config = site.root / "config.yaml"
    conf = yaml.safe_load(config.read_text())
    conf["backups"]["backends"]["vtl"]["options"]["storage"] = "VTL"
    config.write_text(yaml.safe_dump(conf, allow_unicode=True))
    config = site.root / "config.yaml"
    store = Store(settings.config.store.url, settings.config.base_dir)
    svc = BackupService(settings, store)

    done = cli(config, "backups", "run", "docs")                      # 1.5 MB on 1 MB tapes: two tapes
    assert done.returncode == 0, done.stdout + done.stderr
    run = svc.runs(asset="docs")[-1]
    used = run["volumes"].split(",")
    assert len(used) == 2 and run["status"] == "ok"

    synced = cli(config, "tapes", "sync").stdout
    assert "8 tapes (8 new)" in synced
    # Bacula keeps a volume 30 days; the matrix keeps "docs" 4 years: said for each tape that holds it
    keep = utc(run["ended_at"] or run["started_at"]) + timedelta(days=1461)
    for label in used:
        assert f"{label}: vtl may recycle it from" in synced and f"which the asset matrix keeps until " \
            f"{keep:%Y-%m-%d}" in " ".join(synced.split()), synced
    labelled = cli(config, "tapes", "label", "9-10", "--pool", "TapePool")       # two new tapes arrive
    assert labelled.returncode == 0 and "TAPE009, TAPE010" in labelled.stdout, labelled.stdout + labelled.stderr
    assert len(TapeInventory(store).list()) == 10
    inv = TapeInventory(store)
    tapes = {t["label"]: t for t in inv.list()}
    full = [lb for lb in used if tapes[lb]["status"] == "full"]
    assert len(full) == 1 and all(tapes[lb]["location"] == "biblioteca" for lb in used)
    assert any("docs" in j for j in inv.jobs_by_tape()[full[0]])
    not_full = next(lb for lb in tapes if lb not in full)

    # bad input names the tape and changes nothing
    bad = cli(config, "tapes", "box", "prepare", "CAJA-01", "TAPE999")
    assert bad.returncode != 0 and "TAPE999" in bad.stderr and "the backend does not know" in bad.stderr
    bad = cli(config, "tapes", "box", "prepare", "CAJA-01", not_full)
    assert bad.returncode != 0 and "not full" in bad.stderr
    assert inv.boxes() == {}

    # activities 6-7: the full tape leaves the library, goes in a box, the box goes to custody
    assert cli(config, "tapes", "box", "prepare", "CAJA-01", full[0], "--seal", "P-0001").returncode == 0
    refused = cli(config, "tapes", "box", "send", "CAJA-01")
    assert refused.returncode != 0 and "still in the library" in refused.stderr
    peer.eject(full[0])
    cli(config, "tapes", "sync")
    assert inv.tape(full[0])["location"] == "oficina"
    sent = cli(config, "tapes", "box", "send", "CAJA-01")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    message = inbox.messages[-1]
    assert "Entrega de caja CAJA-01" in inbox.subjects()[-1]
    body = message.get_payload(decode=True).decode()
    assert full[0] in body and "P-0001" in body and "Resguardo S.A.C." in body
    cli(config, "tapes", "sync")
    assert inv.tape(full[0])["location"] == "custodia"            # sync keeps what only the agent knows

    # Anexo 04, read back
    out = cli(config, "tapes", "inventory")
    assert out.returncode == 0, out.stderr
    header, rows = _rows(out.stdout.split()[-1])
    assert header[:3] == ["N°", "Cinta (etiqueta)", "Pool"]
    row = {r[1]: dict(zip(header, r, strict=True)) for r in rows}[full[0]]
    assert row["Ubicación"] == "Empresa de resguardo" and row["Caja"] == "CAJA-01" and row["Precinto"] == "P-0001"
    assert row["Estado"] == "Completa" and "docs" in row["Trabajos que contiene"]
    assert row["Fecha de envío"] == datetime.now(LIMA).strftime("%d/%m/%Y")
    assert f"la matriz exige conservarla hasta {keep.astimezone(LIMA):%d/%m/%Y} (docs)" in row["Retención hasta"]

    # activities 13-14: requested back in an emergency, received with another seal: recorded, flagged
    assert cli(config, "tapes", "box", "request", "CAJA-01", "--reason", "restauración").returncode == 0
    assert "Servicio de emergencia" in inbox.subjects()[-1]
    got = cli(config, "tapes", "box", "receive", "CAJA-01", "--seal", "P-0002")
    assert got.returncode == 0 and "distinto" in got.stdout
    assert inv.tape(full[0])["location"] == "oficina"
    assert [m["movement"] for m in inv.movements("CAJA-01")] == ["preparada", "enviada", "solicitada", "recibida"]
    assert {m["by"] for m in inv.movements("CAJA-01")} == {"Luis Quispe (luis)"}      # the OS user's person
    try:
        inv.receive("CAJA-01", "luis")
        raise AssertionError("a box received twice")
    except TapeError as err:
        assert "not with the custody company" in str(err)

    # Anexo 03 of today, read back: one line per job, in the manual's columns
    out = cli(config, "backups", "bitacora")
    assert out.returncode == 0, out.stderr
    header, rows = _rows([p for p in out.stdout.split() if p.endswith(".xlsx")][0])
    assert header == ["N°", "Fecha", "Servidor", "Activo de información", "Tipo de copia", "Hora de inicio",
                      "Hora de fin", "Tamaño", "Archivos", "Estado", "Cintas utilizadas", "Observaciones"]
    line = dict(zip(header, rows[0], strict=True))
    assert line["Activo de información"] == "Carpetas de trabajo" and line["Servidor"] == "fs-01"
    assert line["Tipo de copia"] == "Completo" and line["Estado"] == "Conforme"
    assert line["Tamaño"].endswith("MB") and line["Archivos"] >= 3
    assert set(line["Cintas utilizadas"].split(", ")) == set(used)
    assert "ejecutada a pedido" in line["Observaciones"]
    asyncio.run(asyncio.sleep(0))
