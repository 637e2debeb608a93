"""The Alfresco recovery end to end: a real PostgreSQL, a content store on disk, backup sets with
checksum manifests (the newest corrupt), the Alfresco probe stand-in, a server reached over SSH."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import yaml
from openpyxl import load_workbook

from agent.runbook.journal import TERMINAL, Journal
from agent.store import Store
from tests.conftest import REPO
from tests.operator import cli
from tests.peers.common import free_tcp_port

STANDIN = REPO / "tests" / "peers" / "alfresco" / "standin.py"
SEED = REPO / "tests" / "peers" / "alfresco" / "seed.py"
READY = "/alfresco/api/-default-/public/alfresco/versions/1/probes/-ready-"

CTL = """#!/bin/sh
# alfresco-ctl start|stop db|index|web: the service scripts of the test's Alfresco server
STATE={state}
echo "$1 $2" >> $STATE/order
case "$1 $2" in
  "start db") pg_isready -h 127.0.0.1 -p {pg_port} ;;
  "stop db") true ;;
  "start index"|"stop index") true ;;
  "start web")
    setsid {python} {standin} --port {http_port} --dir-root {dir_root} --check-period 2 \\
      --dsn "{dsn}" > $STATE/web.log 2>&1 < /dev/null &
    echo $! > $STATE/web.pid ;;
  "stop web") [ -f $STATE/web.pid ] && kill $(cat $STATE/web.pid) 2>/dev/null; rm -f $STATE/web.pid; true ;;
  *) echo "usage: $0 start|stop db|index|web" >&2; exit 2 ;;
esac
"""


def _backup_set(pg, dir_root, sets, name, dump_broken_before_summing=False):
    """What the office's backup script makes: a DB dump and the content store, with a manifest. With
    `dump_broken_before_summing`, the dump was already bad when the script summed it: the checksums
    verify, and only pg_restore finds out (activity 12's «archivos corruptos»)."""
    target = sets / name
    (target / "contentstore").mkdir(parents=True)
    subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "alfresco", "-Fc", "-d", "alfresco",
                    "-f", str(target / "alfresco.dump")], check=True)
    if dump_broken_before_summing:
        dump = target / "alfresco.dump"
        dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    subprocess.run(["cp", "-a", f"{dir_root}/contentstore/.", str(target / "contentstore")], check=True)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    sums = subprocess.run(["sha256sum", *files], cwd=target, capture_output=True, text=True, check=True).stdout
    (target / "MANIFEST.sha256").write_text(sums)
    return target


def _store_digest(dir_root):
    return {str(p.relative_to(dir_root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((dir_root / "contentstore").rglob("*.bin"))}


def _alfresco_server(site, tmp_path, datacenter, postgres, smtp, newest_dump_broken=False):
    """The Alfresco server and its two backup sets (the newer one corrupt), then the disaster; return
    what the checks need: the config, the folders, the state the good set holds."""
    port, inbox = smtp
    inbox.messages.clear()
    datacenter.all_on()          # its vm-alfresco is an sshd with root logins: the Alfresco server
    root = tmp_path / "srv"
    dir_root, sets, state = root / "alf_data", root / "backups", root / "state"
    for d in (dir_root / "contentstore", sets, state):
        d.mkdir(parents=True)
    http_port = free_tcp_port()
    ctl = root / "alfresco-ctl"
    ctl.write_text(CTL.format(state=state, pg_port=postgres.port, python=sys.executable, standin=STANDIN,
                              http_port=http_port, dir_root=dir_root, dsn=postgres.dsn))
    ctl.chmod(0o755)

    subprocess.run([sys.executable, str(SEED), postgres.dsn, str(dir_root), "30"], check=True, capture_output=True)
    _backup_set(postgres, dir_root, sets, "2026-11-20_0200")
    good_nodes, good_store = postgres.psql("select count(*) from alf_node_standin"), _store_digest(dir_root)
    subprocess.run([sys.executable, str(SEED), postgres.dsn, str(dir_root), "5"], check=True, capture_output=True)
    newest = _backup_set(postgres, dir_root, sets, "2026-11-21_0200", dump_broken_before_summing=newest_dump_broken)
    victim = sorted((newest / "contentstore").rglob("*.bin"))[3]
    if not newest_dump_broken:
        victim.write_bytes(b"corrupted on the tape" + victim.read_bytes()[21:])        # same size, wrong bytes

    # the disaster: content files lost, rows deleted; the stand-in says 503
    for p in sorted((dir_root / "contentstore").rglob("*.bin"))[:6]:
        p.unlink()
    postgres.psql("delete from alf_node_standin where id < 8")
    subprocess.run([str(ctl), "start", "web"], check=True)

    site.ssh_creds["root"] = {"user": "root", "key_file": str(datacenter.key),
                              "known_hosts": str(datacenter.known_hosts)}
    site.hosts["alfresco-01"] = {"ansible_host": "127.0.0.1", "ansible_port": datacenter.ports["vm-alfresco"],
                                 "ansible_python_interpreter": "/usr/bin/python3", "oti_kind": "server_virtual",
                                 "oti_ssh": {"credential": "root", "port": datacenter.ports["vm-alfresco"]}}
    site.extra["runbooks_dir"] = str(REPO / "runbooks")
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "sender": "oti-agent@entidad.example",
                          "recipients": {"jefa": ["jefa@entidad.example"], "uuoo": ["unidades@entidad.example"]}}
    config = site.write()
    params = ["ticket=GLPI-7781", "fecha=2026-11-21", f"copias={sets}", f"dir_root={dir_root}", f"ctl={ctl}",
              f"conexion_bd=-h 127.0.0.1 -p {postgres.port} -U alfresco -d alfresco",
              f"url_ready=http://127.0.0.1:{http_port}{READY}"]
    return SimpleNamespace(config=config, params=params, ctl=ctl, state=state, dir_root=dir_root, victim=victim,
                           good_nodes=good_nodes, good_store=good_store, http_port=http_port, inbox=inbox)


def _recover(server, postgres, agentd):
    """Start the recovery as luis; the jefa authorises it (after two refusals); return (run id, journal,
    the refusals)."""
    config, params, ctl = server.config, server.params, server.ctl
    plan = cli(config, "plan", "alfresco-restore", *[a for p in params for a in ("-p", p)])
    assert plan.returncode == 0, plan.stdout + plan.stderr
    daemon = agentd(config)
    proc = daemon.follow("run", "alfresco-restore", *[a for p in params for a in ("-p", p)])   # as luis
    journal = Journal(Store(yaml.safe_load(config.read_text())["store"]["url"], config.parent))
    deadline, run_id, refusals = time.monotonic() + 150, None, []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            runs = journal.runs(1)
            run_id = runs[0]["id"] if runs else None
            if run_id and journal.steps(run_id)["autoriza"]["status"] == "awaiting_approval":
                refusals.append(daemon.cli("approve", run_id, "autoriza"))           # the starter, luis
                refusals.append(daemon.cli("approve", run_id, "autoriza", person="rosa"))   # not the jefa
                ok = daemon.cli("approve", run_id, "autoriza", "--comment", "autorizada", person="mariella")
                assert ok.returncode == 0, ok.stdout + ok.stderr
            time.sleep(0.3)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run([str(ctl), "stop", "web"])
    assert proc.returncode == 0, stdout[-4000:] + stderr[-2000:] + daemon.tail()
    return run_id, journal, refusals


def test_alfresco_recovery_skips_a_corrupt_backup_and_comes_back_ready(site, tmp_path, datacenter, postgres,
                                                                       smtp, agentd):
    server = _alfresco_server(site, tmp_path, datacenter, postgres, smtp)
    run_id, journal, refusals = _recover(server, postgres, agentd)
    ctl, state, dir_root, victim, inbox = server.ctl, server.state, server.dir_root, server.victim, server.inbox
    good_nodes, good_store, http_port = server.good_nodes, server.good_store, server.http_port
    # who started the recovery cannot authorise it, nor can someone who is not the jefa
    assert [r.returncode for r in refusals] == [1, 1], [r.stderr for r in refusals]
    assert "cannot approve" in refusals[0].stderr and "Jefa de la OTI (jefa)" in refusals[1].stderr, \
        [r.stderr for r in refusals]
    assert [(d["by"], d["decision"]) for d in journal.decisions(run_id, "autoriza", kind="approval")] == \
        [("mariella", "approved")]

    steps = journal.steps(run_id)
    assert steps["preparar-servidor"]["status"] == "skipped"              # the server was ready (4 -> 7)
    assert steps["ubicar-cinta"]["status"] == "skipped"                   # a good set was on disk (8 -> 11)
    facts = journal.facts(run_id)
    assert facts["backup_set_name"] == "2026-11-20_0200"                  # the corrupt newer set was skipped
    assert "2026-11-21_0200" in facts["backup_sets_skipped"][0] and victim.name in facts["backup_sets_skipped"][0]
    # database and content store from the same set, the service started in order, ready
    assert postgres.psql("select count(*) from alf_node_standin") == good_nodes
    assert _store_digest(dir_root) == good_store
    order = (state / "order").read_text().split("\n")
    assert order.index("start db") < order.index("start index") < order.index("start web", 1)
    import urllib.request

    subprocess.run([str(ctl), "start", "web"], check=True)
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{READY}", timeout=2) as resp:
                assert b"readyProbe: Success" in resp.read()
                break
        except OSError:
            time.sleep(0.2)
    else:
        raise AssertionError("the restored Alfresco stand-in never answered ready")
    subprocess.run([str(ctl), "stop", "web"])
    subjects = inbox.subjects()
    assert any("Autorización para recuperar el gestor documental" in s for s in subjects)     # activity 2
    asked = [m for m, subject in zip(inbox.messages, subjects, strict=True)
             if "Se requiere su decisión" in subject and "Alfresco" in subject]      # activity 3: her link
    assert [m["To"] for m in asked] == ["jefa@entidad.example"] and "/decidir/" in asked[0].get_payload(
        decode=True).decode()
    assert any("El gestor documental Alfresco está disponible" in s for s in subjects)      # activity 14
    # Anexo 10: the helpdesk form's fields, filled from the run
    sheet = next((server.config.parent / "var").rglob(f"registro-solicitud-alfresco-{run_id}.xlsx"))
    rows = [[c.value for c in r] for r in load_workbook(sheet).active.iter_rows()]
    fields = {r[0]: r[1] for r in rows if r and r[0] and r[1] is not None}
    for field in ("Fecha de apertura", "Tiempo de respuesta", "Tiempo para resolver", "Tipo", "Categoría",
                  "Solicitante", "Con copia a", "Asignada a", "Estado", "Duración total", "Origen de la solicitud",
                  "Solicitud de validación", "Título", "Descripción", "Solicitudes enlazadas", "Archivo"):
        assert field in fields, (field, fields)
    assert fields["Solicitudes enlazadas"] == "GLPI-7781" and fields["Estado"] == "Resuelto"
    assert fields["Solicitud de validación"].startswith("Autorizada por Mariella") and "autorizada" in \
        fields["Solicitud de validación"]
    assert fields["Solicitante"].startswith("Luis Quispe") and fields["Tiempo para resolver"].endswith("min")
    assert os.path.isdir(dir_root / "contentstore")
    assert journal.run(run_id)["status"] in TERMINAL


def test_a_restore_that_fails_on_a_corrupt_dump_goes_back_to_8_and_restores_the_other_set(
        site, tmp_path, datacenter, postgres, smtp, agentd):
    # activity 12, No: «si la restauración falla por uno o varios archivos corruptos, se reintentará
    # solicitando nuevamente el mismo backup u otro – continuar con la actividad 8»
    server = _alfresco_server(site, tmp_path, datacenter, postgres, smtp, newest_dump_broken=True)
    run_id, journal, _refusals = _recover(server, postgres, agentd)
    assert journal.run(run_id)["status"] == "successful", journal.steps(run_id)
    back = journal.events_named(run_id, "sent_back")
    assert [(e["step_id"], e["target"]) for e in back] == [("evaluar-copia-disco", "restaurar-bd")]
    assert "vuelve a la actividad 8" in back[0]["detail"] and "pg_restore" in back[0]["detail"]
    facts = journal.facts(run_id)
    assert facts["backup_set_name"] == "2026-11-20_0200"            # the other set, the second round
    assert facts["backup_sets_failed"] == ["2026-11-21_0200"]
    assert postgres.psql("select count(*) from alf_node_standin") == server.good_nodes
    assert _store_digest(server.dir_root) == server.good_store
    assert journal.steps(run_id)["ubicar-cinta"]["status"] == "skipped"   # a good set was still on disk
