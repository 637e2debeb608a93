"""Restore drills (issue 17): a backup restored into a scratch target, verified, cleaned up and reported.

On the real peers: a Bacula file backup drilled into a scratch folder passes with its evidence (file
count, size, the sample's MD5 against the catalog, seconds); a pg_dump backed up through Bacula is
restored into a throwaway PostgreSQL database where a query returns its rows, and the database is dropped;
a volume corrupted on purpose fails the drill, the cleanup still happens and the alert is raised. Then the
drill report's rows, the monthly report's section, and the drill calendar with an injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from openpyxl import load_workbook

from agent.alerts.book import AlertBook
from agent.backups import drill_checks, drills
from agent.backups.backend import JobResult
from agent.backups.bacula import BaculaBackend
from agent.backups.service import BackupService
from agent.core.settings import load_all
from agent.documents.compose import compose
from agent.errors import BackendError
from agent.runbook.engine import Engine
from agent.runbook.model import load
from agent.runbook.schedules import ScheduleKeeper
from agent.store import Store, queries_drills
from tests.agentd import PEOPLE
from tests.conftest import REPO

LIMA = ZoneInfo("America/Lima")


def _asset(id_, job, resources, backend="vtl", **kw):
    return {"id": id_, "owner": "Especialista en IS", "name": f"Activo {id_}", "type": "carpeta", "server": "fs-01",
            "resources": [str(r) for r in resources], "periodicity": "diario", "time": "01:00", "level": "completo",
            "criticality": "critico", "retention": "30 días", "backend": backend, "job": job, **kw}


def _settings(site, tmp_path, smtp, assets, backends, pg=None):
    site.ssh_creds = {}
    site.hosts["fs-01"] = {"ansible_host": "127.0.0.9", "oti_kind": "server_virtual"}
    (tmp_path / "matriz.yaml").write_text(yaml.safe_dump({"assets": assets}, allow_unicode=True, sort_keys=False))
    drills_cfg = {"enabled": True, "scratch": "scratch", "seed": 7, "sample": 3, "timeout": "90s"}
    if pg is not None:
        drills_cfg["postgres"] = {"host": "127.0.0.1", "port": pg.port, "user": "postgres"}
    site.extra["backups"] = {"matrix": "matriz.yaml", "backends": backends, "poll_every": "200ms", "retries": 0,
                             "drills": drills_cfg}
    site.extra["documents_dir"] = "docs-out"
    site.extra["runbooks_dir"] = str(REPO / "runbooks")
    site.extra["people"] = PEOPLE
    port, _inbox = smtp
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example"}
    settings = load_all(site.write())
    return settings, Store(settings.config.store.url, settings.config.base_dir)


def _drill(settings, store, asset, rule="ultima") -> tuple[str, str]:
    """Run simulacro-restauracion in process, as the daemon would; (run id, final status)."""
    engine = Engine(settings, store)
    book = load(REPO / "runbooks" / "simulacro-restauracion.yaml")
    run_id = engine.start(book, book.resolve_params({"activo": asset, "regla": rule}), "agente:schedule")
    return run_id, asyncio.run(engine.execute(run_id))


def _files(folder, n, size=150_000):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i}.dat").write_bytes(os.urandom(size))
    return folder


def _sheet(path, name):
    rows = [[c.value for c in r] for r in load_workbook(path)[name].iter_rows()]
    head = next(i for i, r in enumerate(rows) if r and r[0] in ("N°", "Activo de información"))
    return [dict(zip(rows[head], r, strict=True)) for r in rows[head + 1:] if any(r)]


def _dump(pg, path):
    pg.psql("create table expedientes (id int primary key, asunto text)")
    pg.psql("insert into expedientes select g, 'expediente ' || g from generate_series(1, 25) g")
    done = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "alfresco", "-Fc", "-f", str(path),
                           "alfresco"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_bacula_file_backup_and_database_dump_drilled_into_scratch_targets(site, tmp_path, bacula, postgres, smtp):
    docs = _files(tmp_path / "docs", 5)
    (tmp_path / "dumps").mkdir()
    _dump(postgres, tmp_path / "dumps" / "alfresco.dump")
    peer = bacula({"BackupDocs": [docs], "BackupDB": [tmp_path / "dumps"]})
    # drills restore onto the agent's own file daemon (here the only one), which reads what came back
    backends = {"vtl": {"type": "bacula", "options": {"config": str(peer.bconsole_conf), "drill_client": "oti-fd"}}}
    settings, store = _settings(site, tmp_path, smtp, [
        _asset("docs", "BackupDocs", [docs], rto="1h"),
        _asset("bd", "BackupDB", [tmp_path / "dumps"], type="base de datos", drill_query="select * from expedientes")],
        backends, postgres)
    svc = BackupService(settings, store)
    for asset in ("docs", "bd"):
        assert asyncio.run(svc.run(settings.assets.get(asset))).good

    run_id, status = _drill(settings, store, "docs")
    d = queries_drills.drill(store, run_id)
    assert status == "successful" and d["result"] == "ok", (status, d)
    checks = {c["check"]: c for c in d["checks"]}
    assert checks["archivos restaurados"]["found"] == "5" == checks["archivos restaurados"]["expected"]
    assert checks["tamaño total (bytes)"]["found"] == str(5 * 150_000)
    sums = [c for c in d["checks"] if c["check"].startswith("MD5 de ")]
    assert len(sums) == 3 and all(c["ok"] and c["found"] == "igual" for c in sums)       # the catalog's MD5
    assert checks["tiempo de recuperación"]["expected"] == "≤ 1 h 00 min" and checks["tiempo de recuperación"]["ok"]
    assert 0 < d["seconds"] < 3600 and d["objective_s"] == 3600 and d["rule"] == "ultima"
    assert d["cleanup"] and not (tmp_path / "scratch" / run_id).exists()
    assert d["volumes"] and d["levels"] == "Full" and d["target_kind"] == "carpeta"

    # the drill report (Anexo 06 style): one drill, its checks one per row
    book = tmp_path / "docs-out" / "simulacros" / f"informe-simulacro-{run_id}.xlsx"
    drill_row = _sheet(book, "Simulacro")[0]
    assert drill_row["Resultado"] == "Conforme" and drill_row["Objetivo"] == "1 h 00 min"
    assert drill_row["Copia restaurada (fecha, tipo, volúmenes)"].count("Completo") == 1
    assert drill_row["Limpieza"] == "Realizada"
    rows = _sheet(book, "Verificaciones")
    assert len(rows) == len(d["checks"]) and all(r["Resultado"] == "Conforme" for r in rows)
    assert {r["Qué se verificó"] for r in rows} >= {"archivos restaurados", "tamaño total (bytes)"}
    _port, inbox = smtp
    mailed = [m for m, s in zip(inbox.messages, inbox.subjects(), strict=True) if "Simulacro de restauración" in s]
    assert mailed and mailed[-1]["To"] == "jefa@entidad.example" and "conforme" in mailed[-1]["Subject"]

    # the dump: restored into a throwaway database, queried, dropped; a database a cancelled drill left is swept
    runbook = load(REPO / "runbooks" / "simulacro-restauracion.yaml")
    active = Engine(settings, store).start(runbook, runbook.resolve_params({"activo": "bd"}), "agente:schedule")
    for db in ("oti_simulacro_20200101_000000_simulacro_restauracion_dead", drill_checks.database_name(active, 0)):
        postgres.psql(f"create database {db}", db="postgres", user="postgres")
    run_id, status = _drill(settings, store, "bd", rule="aleatoria")
    d = queries_drills.drill(store, run_id)
    assert status == "successful" and d["result"] == "ok", d
    assert "base de datos oti_simulacro_20200101_000000_simulacro_restauracion_dead de un simulacro anterior " \
           "eliminada" in d["cleanup_note"]
    found = {c["check"].split(" ")[0] + " " + c["check"].split(" ")[1]: c for c in d["checks"]}
    assert found["pg_restore --list"]["ok"] and found["pg_restore --list"]["found"].endswith("objetos")
    query = next(c for c in d["checks"] if c["check"].startswith("consulta en oti_simulacro_"))
    assert query["ok"] and query["found"] == "25 fila(s)"
    assert d["target_kind"] == "postgresql" and "oti_simulacro_" in d["target"] and d["rule"] == "aleatoria"
    left = postgres.psql("select datname from pg_database where datname like 'oti_simulacro_%'", db="postgres",
                         user="postgres")
    assert left == drill_checks.database_name(active, 0) and d["cleanup"]            # the active run's is kept
    assert not [a for a in AlertBook(settings, store).list() if a["reading"].startswith("restore_drill_ok")]


def test_a_corrupted_volume_fails_the_drill_cleans_up_and_raises_the_alert(site, tmp_path, bacula, smtp):
    docs = _files(tmp_path / "docs", 4, size=400_000)
    peer = bacula({"BackupDocs": [docs]})
    backends = {"vtl": {"type": "bacula", "options": {"config": str(peer.bconsole_conf), "drill_client": "oti-fd"}}}
    settings, store = _settings(site, tmp_path, smtp, [_asset("docs", "BackupDocs", [docs])], backends)
    backup = asyncio.run(BackupService(settings, store).run(settings.assets.get("docs")))
    assert backup.good and backup.volumes
    # a drill client the director does not have is refused (bconsole would pick another one by itself)
    wrong = BaculaBackend("vtl", BaculaBackend.Options(config=peer.bconsole_conf, drill_client="nope-fd"), settings)
    with pytest.raises(BackendError, match="no client 'nope-fd'"):
        wrong.scratch_restore(backup.job_id, str(tmp_path / "scratch" / "x"))
    # the tape's data is damaged on purpose: the middle of the volume file overwritten
    slots = {label: n for n, _, label in (ln.partition(":") for ln in (peer.vtl / "barcodes").read_text().splitlines())}
    volume = peer.vtl / f"slot{slots[backup.volumes[0]]}"
    size = volume.stat().st_size
    assert size > 1_000_000
    with open(volume, "r+b") as f:
        for offset in range(size // 4, size - 70_000, 200_000):
            f.seek(offset)
            f.write(random.Random(offset).randbytes(4096))

    run_id, status = _drill(settings, store, "docs")
    d = queries_drills.drill(store, run_id)
    assert d["result"] == "failed" and status == "completed_with_failures", (status, d)
    assert any(not c["ok"] for c in d["checks"]) and d["error"]
    assert d["cleanup"] and not (tmp_path / "scratch" / run_id).exists()           # cleaned up all the same
    open_alerts = [a for a in AlertBook(settings, store).list() if a["reading"].startswith("restore_drill_ok")]
    assert len(open_alerts) == 1 and open_alerts[0]["severity"].name == "CRITICAL", open_alerts
    assert open_alerts[0]["device"] == "fs-01"
    book = tmp_path / "docs-out" / "simulacros" / f"informe-simulacro-{run_id}.xlsx"
    assert _sheet(book, "Simulacro")[0]["Resultado"] == "Fallido"
    _port, inbox = smtp
    assert any("fallido" in s for s in inbox.subjects())


def test_files_backend_drill_the_monthly_section_and_the_report(site, tmp_path, smtp):
    config = _files(tmp_path / "oficina" / "config", 3, size=10_000)
    backends = {"local": {"type": "files", "options": {"dest": "copias", "jobs": {"agente": [str(config)]}}}}
    settings, store = _settings(site, tmp_path, smtp, [
        _asset("agente", "agente", [config], backend="local", rto="30m"),
        _asset("otro", "agente", [config], backend="local", criticality="no_critico", drill="mensual")], backends)
    assert asyncio.run(BackupService(settings, store).run(settings.assets.get("agente"))).good
    run_id, status = _drill(settings, store, "agente")
    d = queries_drills.drill(store, run_id)
    assert status == "successful" and d["result"] == "ok", d
    sums = [c for c in d["checks"] if c["check"].startswith("SHA256 de ")]
    assert len(sums) == 3 and all(c["ok"] for c in sums)

    month = d["at"].astimezone(LIMA).strftime("%Y-%m")
    done = compose("informe-mensual", settings, store, now=d["at"] + timedelta(days=40), month=month)
    rows = done.page.sections["simulacros"]
    assert [(r["activo"], r["resultado"][0]) for r in rows] == [("Activo agente", "Conforme"),
                                                                ("Activo otro", "Sin simulacro en el mes")]
    assert rows[0]["objetivo"] == "30 min" and rows[0]["tiempo"][0].endswith(" s")
    assert done.page.header["simulacros"] == "1 de 1 conforme(s); 1 activo(s) sin el simulacro previsto"


def test_a_bacula_drill_without_drill_client_is_refused_before_restoring(tmp_path):
    """Without drill_client Bacula would restore onto the backup's own client, under the agent's scratch path
    on that server: out of the agent's reach to verify or remove. Refused before bconsole is even called."""
    backend = BaculaBackend("vtl", BaculaBackend.Options(config=tmp_path / "absent-bconsole.conf"), None)
    with pytest.raises(BackendError, match=r"options\.drill_client"):
        backend.scratch_restore("12", str(tmp_path / "scratch" / "run"))
    assert not (tmp_path / "scratch").exists()


def test_leftovers_of_ended_drills_are_swept_and_an_active_ones_kept(site, tmp_path, smtp):
    """A cancelled drill never reaches its cleanup: the next one removes the folders of runs that ended (or that
    the journal does not know), keeps an active run's, and follows no link in the scratch root."""
    config = _files(tmp_path / "oficina" / "config", 2, size=1_000)
    backends = {"local": {"type": "files", "options": {"dest": "copias", "jobs": {"agente": [str(config)]}}}}
    settings, store = _settings(site, tmp_path, smtp, [_asset("agente", "agente", [config], backend="local")],
                                backends)
    assert asyncio.run(BackupService(settings, store).run(settings.assets.get("agente"))).good
    engine = Engine(settings, store)
    book = load(REPO / "runbooks" / "simulacro-restauracion.yaml")
    active, cancelled = (engine.start(book, book.resolve_params({"activo": "agente"}), "agente:schedule")
                         for _ in range(2))
    engine.journal.set_run(cancelled, "canceled")
    scratch = tmp_path / "scratch"
    for name in (active, cancelled, "20200101-000000-simulacro-restauracion-dead"):
        _files(scratch / name / "oficina", 1, size=100)
    outside = _files(tmp_path / "ajeno", 1, size=100)
    (scratch / "enlace").symlink_to(outside)

    run_id, status = _drill(settings, store, "agente")
    d = queries_drills.drill(store, run_id)
    assert status == "successful" and d["result"] == "ok", d
    assert sorted(p.name for p in scratch.iterdir()) == sorted([active, "enlace"])     # this run's went too
    assert (outside / "f0.dat").is_file() and (scratch / "enlace").is_symlink()
    for name in (cancelled, "20200101-000000-simulacro-restauracion-dead"):
        assert f"carpeta {scratch.resolve() / name} de un simulacro anterior eliminada" in d["cleanup_note"]
    assert active not in d["cleanup_note"] and d["cleanup"]


def test_files_backend_leaves_symbolic_links_out_and_the_drill_passes(site, tmp_path, smtp):
    """A folder with links (absolute, pointing outside it) is backed up without them, say so, and restores."""
    config = _files(tmp_path / "oficina" / "config", 2, size=1_000)
    outside = _files(tmp_path / "fuera", 1, size=100)
    (config / "a-archivo").symlink_to(outside / "f0.dat")
    (config / "a-carpeta").symlink_to(outside)
    backends = {"local": {"type": "files", "options": {"dest": "copias", "jobs": {"agente": [str(config)]}}}}
    settings, store = _settings(site, tmp_path, smtp, [_asset("agente", "agente", [config], backend="local")],
                                backends)
    backup = asyncio.run(BackupService(settings, store).run(settings.assets.get("agente")))
    assert backup.good and backup.files == 2 and backup.backend_status == "2 enlaces simbólicos no copiados"
    folder = tmp_path / "copias" / "agente"
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o600"}     # archive and manifest
    assert oct(folder.stat().st_mode & 0o777) == "0o700" and len(list(folder.iterdir())) == 2

    run_id, status = _drill(settings, store, "agente")
    d = queries_drills.drill(store, run_id)
    assert status == "successful" and d["result"] == "ok", d
    assert {c["check"]: c["found"] for c in d["checks"]}["archivos restaurados"] == "2"
    backend = BackupService(settings, store).backend("local")
    where = tmp_path / "restaurado"
    assert backend.restore(backup.job_id, str(where)).good
    restored = where / str(config).lstrip("/")
    assert sorted(p.name for p in restored.iterdir()) == ["f0.dat", "f1.dat"]       # the links not restored


def _alfresco_set(folder, n=4):
    """An Alfresco backup set as the office makes them: the content store, the dump, a sha256sum manifest."""
    store = _files(folder / "contentstore" / "2026" / "11" / "20", n, size=20_000)
    (folder / "alfresco.sql").write_text("-- pg_dump of the repository (plain text: no scratch database here)\n")
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    (folder / "MANIFEST.sha256").write_text("".join(
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names))
    return store


def test_an_alfresco_set_is_drilled_against_its_own_manifest(site, tmp_path, smtp):
    """The catalog's sample proves the backup gave back what it took; the set's manifest proves the content
    store was whole when it was taken: a file changed before the backup passes the first and fails the second."""
    good, broken = tmp_path / "sets" / "good", tmp_path / "sets" / "broken"
    _alfresco_set(good)
    content = _alfresco_set(broken)
    (content / "f1.dat").write_bytes(b"changed after the manifest was written")
    backends = {"local": {"type": "files", "options": {"dest": "copias", "jobs": {"good": [str(good)],
                                                                                   "broken": [str(broken)]}}}}
    settings, store = _settings(site, tmp_path, smtp, [_asset("alf", "good", [good], backend="local"),
                                                       _asset("alf-roto", "broken", [broken], backend="local")],
                                backends)
    svc = BackupService(settings, store)
    for asset in ("alf", "alf-roto"):
        assert asyncio.run(svc.run(settings.assets.get(asset))).good
    run_id, status = _drill(settings, store, "alf")
    d = queries_drills.drill(store, run_id)
    manifest = [c for c in d["checks"] if c["check"].startswith("contenido según")]
    assert status == "successful" and d["result"] == "ok", d
    assert [(c["expected"], c["found"], c["ok"]) for c in manifest] == [("5 archivo(s) con su SHA-256",
                                                                         "5 de 5 iguales", True)]
    run_id, status = _drill(settings, store, "alf-roto")
    d = queries_drills.drill(store, run_id)
    manifest = [c for c in d["checks"] if c["check"].startswith("contenido según")]
    assert d["result"] == "failed" and status != "successful"
    assert manifest[0]["found"] == "4 de 5 iguales; contentstore/2026/11/20/f1.dat distinto" and not manifest[0]["ok"]
    assert all(c["ok"] for c in d["checks"] if c["check"].startswith("SHA256 de "))   # the backup itself is whole
    assert "contenido según broken/MANIFEST.sha256" in d["error"]


def test_the_drill_calendar_starts_a_critical_asset_once_a_month(site, tmp_path, smtp):
    backends = {"local": {"type": "files", "options": {"dest": "copias", "jobs": {"j": [str(tmp_path)]}}}}
    settings, store = _settings(site, tmp_path, smtp, [
        _asset("critico", "j", [tmp_path], backend="local"),
        _asset("normal", "j", [tmp_path], backend="local", criticality="no_critico"),
        _asset("trimestral", "j", [tmp_path], backend="local", criticality="no_critico", drill="trimestral")],
        backends)
    specs = drills.drill_schedules(settings)
    assert [(s.name, s.params) for s in specs] == [("simulacro-critico", {"activo": "critico"}),
                                                   ("simulacro-trimestral", {"activo": "trimestral"})]
    started = []

    def start(spec, due):
        started.append((spec.params["activo"], due))
        return f"run-{len(started)}"

    keepers = [ScheduleKeeper(specs, LIMA, store, start, lambda run: False) for _ in range(2)]   # two daemons
    for now in (datetime(2027, 2, 2, 10, 0, 30, tzinfo=LIMA), datetime(2027, 2, 2, 10, 5, tzinfo=LIMA),
                datetime(2027, 2, 20, 9, 0, tzinfo=LIMA)):
        for keeper in keepers:
            keeper.tick(now)
    assert started == [("critico", datetime(2027, 2, 2, 10, 0, tzinfo=LIMA))]        # once, by one of the two
    for keeper in keepers:
        keeper.tick(datetime(2027, 4, 2, 10, 1, tzinfo=LIMA))
    assert sorted(a for a, _due in started[1:]) == ["critico", "trimestral"]          # April: both due


def test_the_pick_rules():
    now = datetime(2027, 3, 10, tzinfo=UTC)
    jobs = [JobResult(str(i), "J", "Full", "ok", started=now - timedelta(days=d)) for i, d in enumerate((60, 20, 5, 1))]
    jobs.append(JobResult("9", "J", "Full", "failed", started=now))
    assert drills.pick(jobs, "ultima", 30, now).job_id == "3"
    picked = {drills.pick(jobs, "aleatoria", 30, now, random.Random(s)).job_id for s in range(40)}
    assert picked == {"1", "2", "3"}                                    # never the failed one, nor one past retention
    assert drills.pick(jobs[:1], "aleatoria", 30, now) is None
    with pytest.raises(ValueError):
        drills.pick(jobs, "primera", 30, now)
