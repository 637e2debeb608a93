"""Backups on the asset matrix's calendar, against a real Bacula with a virtual tape library."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from openpyxl import load_workbook

from agent.backups.service import BackupService
from agent.core.calendar import Periodicity
from agent.core.settings import load_all
from agent.errors import ConfigError
from agent.store import Store

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates

LIMA = ZoneInfo("America/Lima")


def _site(site, tmp_path, bacula_peer=None, assets=None, **backups):
    site.ssh_creds = {}
    site.hosts["fs-01"] = {"ansible_host": "127.0.0.9", "oti_kind": "server_virtual"}
    site.hosts["ora-prod"] = {"ansible_host": "127.0.0.10", "oti_kind": "db"}
    matrix = {"assets": assets or [
        {"id": "docs", "owner": "Especialista en IS", "name": "Carpetas de trabajo", "type": "carpeta",
         "server": "fs-01", "resources": [str(tmp_path / "docs")], "periodicity": "diario", "time": "01:00",
         "level": "completo", "criticality": "no_critico", "retention": "4 años", "backend": "vtl",
         "job": "BackupDocs"},
        {"id": "bd-prod", "owner": "Especialista BD", "name": "BD_Oracle_1", "type": "base de datos",
         "server": "127.0.0.10", "resources": [str(tmp_path / "db")], "category": "bases_de_datos",
         "periodicity": "L M X J V", "time": "02:00", "level": "incremental", "full_every": "semanal",
         "backend": "vtl", "job": "BackupDB"}]}
    (tmp_path / "matriz.yaml").write_text(yaml.safe_dump(matrix, allow_unicode=True, sort_keys=False))
    backends = {"vtl": {"type": "bacula", "options": {"config": str(bacula_peer.bconsole_conf) if bacula_peer
                                                      else "/nonexistent/bconsole.conf"}}}
    site.extra["backups"] = {"matrix": "matriz.yaml", "backends": backends, "poll_every": "200ms", **backups}
    site.extra["documents_dir"] = "docs-out"
    return load_all(site.write())


def _data(tmp_path):
    for name, n in (("docs", 4), ("db", 2)):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        for i in range(n):
            (d / f"{name}{i}.dat").write_bytes(os.urandom(200_000))
    return {"BackupDocs": [tmp_path / "docs"], "BackupDB": [tmp_path / "db"]}


def test_bad_asset_matrix_is_refused_with_file_and_line(site, tmp_path):
    settings_file = None
    with pytest.raises(ConfigError) as err:
        _site(site, tmp_path, assets=[
            {"id": "x", "owner": "o", "name": "n", "type": "carpeta", "server": "fs-01", "resources": ["/srv"],
             "periodicity": "cada rato", "time": "01:00", "level": "completo", "criticality": "critico",
             "backend": "vtl", "job": "J"},
            {"id": "y", "owner": "o", "name": "n", "type": "carpeta", "server": "fs-01", "resources": ["/srv"],
             "periodicity": "diario", "time": "25:00", "level": "completo", "criticality": "critico",
             "backend": "cinta", "job": "J"}])
    text = str(err.value)
    assert "matriz.yaml:" in text and "assets.0.periodicity" in text and "'cada rato' is not a periodicity" in text
    assert "assets.1.time" in text
    assert settings_file is None


@pytest.mark.parametrize(("written", "days"), [
    ("L M M J V", "lunes, martes, miércoles, jueves, viernes"),       # the manual's own heading, by position
    ("L M M J V S D", "lunes, martes, miércoles, jueves, viernes, sábado, domingo"),
    ("L M X J V", "lunes, martes, miércoles, jueves, viernes"),
    ("M M", "martes, miércoles"),
    ("lunes, Miércoles", "lunes, miércoles"),
    ("J L", "lunes, jueves")])
def test_the_manuals_weekday_letters_mean_the_manuals_days(written, days):
    assert Periodicity.parse(written).describe() == days.capitalize()


def test_a_day_list_read_two_ways_is_refused_naming_the_asset_and_line(site, tmp_path):
    asset = {"owner": "o", "name": "n", "type": "carpeta", "server": "fs-01", "resources": ["/srv"],
             "time": "01:00", "level": "completo", "criticality": "critico", "backend": "vtl", "job": "J"}
    with pytest.raises(ConfigError) as err:
        _site(site, tmp_path, assets=[{"id": "ok", **asset, "periodicity": "diario"},
                                      {"id": "ambigua", **asset, "periodicity": "L M J V"}])
    text = str(err.value)
    assert "matriz.yaml:" in text and "assets.1.periodicity" in text, text
    assert "lunes, martes, jueves, viernes or lunes, miércoles, jueves, viernes" in text, text
    line = next(i for i, t in enumerate((tmp_path / "matriz.yaml").read_text().splitlines(), 1) if "L M J V" in t)
    assert f"matriz.yaml:{line}" in text, text
    with pytest.raises(ValueError, match="not in the manual's order"):
        Periodicity.parse("J M")


def test_critical_assets_are_started_first(site, tmp_path):
    asset = {"owner": "o", "name": "n", "type": "carpeta", "server": "fs-01", "resources": ["/srv"],
             "periodicity": "diario", "level": "completo", "backend": "vtl", "job": "J"}
    settings = _site(site, tmp_path, assets=[
        {"id": "a-no-critico", **asset, "time": "01:00", "criticality": "no_critico"},
        {"id": "b-critico", **asset, "time": "01:30", "criticality": "critico"},
        {"id": "c-critico", **asset, "time": "01:00", "criticality": "critico"}])
    svc = BackupService(settings, Store(settings.config.store.url, settings.config.base_dir))
    due = svc.due(datetime(2026, 11, 23, 2, 0, tzinfo=LIMA))
    assert [a.id for a, _slot in due] == ["c-critico", "b-critico", "a-no-critico"]


def test_calendar_runs_each_slot_once_and_only_the_latest_missed(site, tmp_path):
    settings = _site(site, tmp_path)
    store = Store(settings.config.store.url, settings.config.base_dir)
    svc = BackupService(settings, store)
    sat = datetime(2026, 11, 21, 3, 0, tzinfo=LIMA)        # Saturday: the weekday asset is not due, and
    assert [(a.id, s.hour) for a, s in svc.due(sat)] == [("docs", 1)]     # Friday's is beyond catch_up
    mon = datetime(2026, 11, 23, 1, 30, tzinfo=LIMA)       # Monday 01:30: docs (01:00) due, bd-prod at 02:00 not yet
    assert [(a.id, s) for a, s in svc.due(mon)] == [("docs", datetime(2026, 11, 23, 1, 0, tzinfo=LIMA))]
    mon_late = datetime(2026, 11, 23, 2, 30, tzinfo=LIMA)
    due = {a.id: s for a, s in svc.due(mon_late)}
    assert due == {"docs": datetime(2026, 11, 23, 1, 0, tzinfo=LIMA),
                   "bd-prod": datetime(2026, 11, 23, 2, 0, tzinfo=LIMA)}   # Friday's missed slot is not replayed


def test_backups_on_calendar_then_a_failure_retried_and_alerted(site, tmp_path, bacula):
    peer = bacula(_data(tmp_path))
    settings = _site(site, tmp_path, peer, retries=1, retry_delay="1s")
    store = Store(settings.config.store.url, settings.config.base_dir)
    clock = [datetime(2026, 11, 23, 1, 30, tzinfo=LIMA)]
    svc = BackupService(settings, store, clock=lambda: clock[0])

    first = asyncio.run(svc.tick())                                  # Monday 01:30: docs only
    assert [(r.name, r.level, r.status) for r in first] == [("BackupDocs", "Full", "ok")]
    assert asyncio.run(svc.tick()) == []                             # the slot is not run twice
    clock[0] = datetime(2026, 11, 23, 2, 30, tzinfo=LIMA)
    second = asyncio.run(svc.tick())
    assert [(r.name, r.level, r.status) for r in second] == [("BackupDB", "Full", "ok")]   # first run: Full
    clock[0] = datetime(2026, 11, 24, 2, 30, tzinfo=LIMA)
    third = sorted(asyncio.run(svc.tick()), key=lambda r: r.name)
    assert [(r.name, r.level) for r in third] == [("BackupDB", "Incremental"), ("BackupDocs", "Full")]

    # what Bacula's own catalog says matches what the agent recorded
    catalog = peer.console("list jobs")
    for r in first + second + third:
        assert f"| {r.job_id} " in catalog
    runs = svc.runs()
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs)
    assert all(r["volumes"].startswith("TAPE") and r["bytes"] > 0 for r in runs if r["level"] == "Full")
    docs = [r for r in runs if r["asset"] == "docs"][0]
    assert docs["files"] >= 4 and docs["bytes"] >= 800_000

    # activity 3-4: the file daemon dies; the job fails, is run again, then alerts with Bacula's own lines
    peer.kill_fd()
    clock[0] = datetime(2026, 11, 25, 2, 30, tzinfo=LIMA)
    failed = {r.name: r for r in asyncio.run(svc.tick())}
    assert failed["BackupDocs"].status == "failed"
    attempts = [r for r in svc.runs(asset="docs") if r["status"] == "failed"]
    assert [r["attempt"] for r in attempts] == [1, 2]
    assert any("Unable to connect to Client" in e for e in attempts[-1]["errors"])
    alerts = [c for c in store.changes(device="fs-01") if c["reading"] == 'backup_last_run_ok{asset="docs"}']
    assert [c["to_state"] for c in alerts][-2:] == [0, 1]           # OK, then WARNING: docs is "no crítico"
    assert "Unable to connect to Client" in alerts[-1]["message"]
    db = [c for c in store.changes(device="ora-prod") if c["reading"] == 'backup_last_run_ok{asset="bd-prod"}']
    assert db[-1]["to_state"] == 2                                   # a critical asset's failure is CRITICAL

    # what the daemon does every morning at log_time: yesterday's bitácora and the tape inventory
    from agent.daemon import Daemon

    daemon = Daemon.create(settings)
    for name in ("bitacora-copias", "inventario-cintas"):
        asyncio.run(daemon.write_document(name, now=clock[0]))
    today = clock[0].date()
    out = tmp_path / "docs-out"
    assert (out / "bitacoras" / f"bitacora-copias-{today - timedelta(days=1)}.xlsx").exists()
    inventory = load_workbook(out / "cintas" / f"inventario-cintas-{today}.xlsx").active
    assert sum(1 for row in inventory.iter_rows() if str(row[1].value).startswith("TAPE")) == 8


def test_daemon_runs_what_is_due_and_exports_freshness(site, tmp_path, bacula):
    import subprocess
    import time
    import urllib.request

    from tests.operator import OTI
    from tests.peers.common import free_tcp_port, stop

    peer = bacula(_data(tmp_path))
    now = datetime.now(LIMA)
    earlier, later = (now - timedelta(minutes=2)).strftime("%H:%M"), (now + timedelta(hours=3)).strftime("%H:%M")
    site.http_port = free_tcp_port()
    site.group("respaldos", ["backup_freshness"], interval="1s", timeout="0.5s", names=["fs-01", "ora-prod"])
    _site(site, tmp_path, peer, check_every="1s")
    matrix = yaml.safe_load((tmp_path / "matriz.yaml").read_text())
    matrix["assets"][0]["time"] = earlier                  # docs: due since two minutes ago
    matrix["assets"][1].update(time=later, periodicity="diario")   # bd-prod: not yet, never backed up
    (tmp_path / "matriz.yaml").write_text(yaml.safe_dump(matrix, allow_unicode=True))
    proc = subprocess.Popen([OTI, "serve", "-c", str(site.root / "config.yaml")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline and 'oti_backup_last_size_bytes{asset="docs"' not in text:
            assert proc.poll() is None, proc.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{site.http_port}/metrics", timeout=5) as resp:
                    text = resp.read().decode()
            except OSError:
                pass
            time.sleep(0.3)
        assert 'oti_backup_last_size_bytes{asset="docs"' in text, text[-2000:]
        assert "Bacula" not in text and "dir-secret" not in text
        states = [ln for ln in text.splitlines() if ln.startswith("oti_reading_state") and "backup_age" in ln]
        assert not any('asset="docs"' in ln for ln in states), states            # fresh: OK, no state series
        assert any('asset="bd-prod"' in ln and ln.endswith(" 2.0") for ln in states), states
    finally:
        stop(proc)
    catalog = peer.console("list jobs")
    assert "BackupDocs" in catalog and "BackupDB" not in catalog.split("list jobs", 1)[-1]
