"""The standing guard (issue 11): one distinctive value is every secret the config can reference, a day of
the agent's work runs on real peers (checks with it right and wrong, a daemon scraped, a runbook that
fails, documents written and mailed, an outbox that cannot log in), and then the value is looked for
everywhere the agent writes or shows things: 0 occurrences."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from agent.demo import simulator
from tests.conftest import dedent
from tests.operator import OTI
from tests.peers.common import free_tcp_port
from tests.peers.ipmi import USER as BMC_USER
from tests.peers.ipmi import start_bmc
from tests.peers.programs import path
from tests.peers.smtp import LOGIN as SMTP_LOGIN
from tests.peers.snmp import SIM_V3

CANARY = "Kn4ry-7q9X-secreto"          # >= 8 characters: also a valid (wrong) SNMPv3 key
SHAPES = [CANARY.encode(), base64.b64encode(CANARY.encode()), CANARY.encode().hex().encode(),
          base64.b64encode(b"svc-oti:" + CANARY.encode()), CANARY[::-1].encode()]

RUNBOOK = """\
id: canario
title: Prueba del canario
procedure: "prueba de secretos"
params:
  equipo: {type: str, default: srv-frase}
  motivo: {type: str, default: prueba}
steps:
  - id: saludo
    activity: 1
    name: Saluda al servidor con la llave con frase
    kind: ssh
    targets: {names: [srv-frase]}
    with: {command: "echo hola"}
  - id: estado-bd
    activity: 2
    name: Consulta el estado de la BD
    kind: oracle
    needs: [saludo]
    targets: {names: [ora-01]}
    with: {action: status}
    on_failure: continue
  - id: encendido
    activity: 3
    name: Consulta la energía del servidor
    kind: ipmi_power
    needs: [estado-bd]
    targets: {names: [ora-01]}
    with: {action: status}
    on_failure: continue
  - id: aviso
    activity: 4
    name: Avisa a la jefa
    kind: notify
    needs: [encendido]
    with: {to: [jefa], template: antivirus-reparado}
"""


class _Refuse(BaseHTTPRequestHandler):
    """A WinRM endpoint and an Alertmanager that refuse every login (401)."""

    def do_POST(self):                           # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(401)
        self.send_header("WWW-Authenticate", "Basic realm=oti")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class _Argv:
    """Every process's command line, sampled while the agent works: a secret on one is readable by any
    local user in /proc."""

    def __init__(self):
        self.seen: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        self.seen[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        pass
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def canary_site(site, snmpsim, sshd, smtp, tmp_path):
    """Every secret of the config is CANARY: right for the SNMP community and the SSH passphrase, wrong for
    SNMPv3, the BMC, SMTP, WinRM, Oracle and the Alertmanager."""
    work = tmp_path / "peers"
    simulator.prepare_data(work, {CANARY: simulator.RECORDINGS / "ups-rfc1628.snmprec"})
    port = simulator.free_udp_port()
    sim = simulator.start(work, [("127.0.0.1", port)], ready_community=CANARY)
    bmc = start_bmc("ora-01", tmp_path / "bmc")
    refuse = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=refuse.serve_forever, daemon=True).start()

    key = tmp_path / "id_canario"
    subprocess.run([path("ssh-keygen"), "-q", "-t", "ed25519", "-N", CANARY, "-C", "oti-canario", "-f", str(key)],
                   check=True)
    with open(sshd.public_dir / "authorized_keys", "a") as f:
        f.write(key.with_suffix(".pub").read_text())

    secret = site.secret("canario", CANARY)
    site.snmp_creds["comunidad"] = {"version": "v2c", "community": secret}
    site.snmp_creds["v3-mala"] = {"version": "v3", "user": SIM_V3["user"], "auth_key": secret, "priv_key": secret,
                                  "context": "switch24"}
    site.snmp_device("ups-canario", "ups", "ups-rfc1628", "comunidad", port)
    site.snmp_device("sw-v3", "switch", "switch-ifmib", "v3-mala", snmpsim.port)
    site.ssh_device("srv-frase", sshd)
    site.ssh_creds["ssh-srv-frase"].update(key_file=str(key), passphrase=secret)
    site.ipmi_creds["bmc"] = {"user": BMC_USER, "password": secret}
    site.hosts["ora-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "db",
                            "oti_ipmi": {"address": "127.0.0.1", "port": bmc.port, "credential": "bmc"},
                            "oti_oracle": {"database": "PROD", "dsn": f"127.0.0.1:{free_tcp_port()}/PROD",
                                           "credential": "ora"}}
    site.hosts["srv-win"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_virtual",
                             "oti_winrm": {"credential": "dominio", "port": refuse.server_address[1],
                                           "scheme": "http"}}
    site.group("energia", ["snmp"], interval="2s", timeout="1s", kinds=["ups", "switch"])
    site.group("servidores", ["ssh_host"], interval="2s", timeout="1s", names=["srv-frase"])
    site.group("windows", ["defender"], interval="2s", timeout="1s", names=["srv-win"])
    smtp_port, inbox = smtp
    site.http_port = free_tcp_port()
    (site.root / "runbooks").mkdir()
    (site.root / "runbooks" / "canario.yaml").write_text(RUNBOOK)
    site.extra = {
        "runbooks_dir": "runbooks", "documents_dir": "var/documentos",
        "mail": {"host": "127.0.0.1", "port": smtp_port, "starttls": True, "user": SMTP_LOGIN.decode(),
                 "password": secret, "sender": "oti-agent@entidad.example",
                 "recipients": {"jefa": ["jefa@entidad.example"], "especialistas": ["is@entidad.example"]}},
        "alerts": {"alertmanager": f"http://127.0.0.1:{refuse.server_address[1]}",
                   "alertmanager_auth": {"bearer_token": secret}},
    }
    config = site.write()
    data = yaml.safe_load(config.read_text())
    data["credentials"]["winrm"] = {"dominio": {"user": "svc-oti", "password": secret, "transport": "basic",
                                                "allow_plain_http": True}}
    data["credentials"]["oracle"] = {"ora": {"user": "oti_monitor", "password": secret}}
    config.write_text(yaml.safe_dump(data, sort_keys=False))

    wrapper = tmp_path / "bin"                    # ipmitool's argv and environment, as the agent gives them
    wrapper.mkdir()
    (wrapper / "ipmitool").write_text(dedent(f"""
        #!/bin/sh
        printf '%s\\n' "$@" >> {tmp_path}/ipmitool.argv
        env >> {tmp_path}/ipmitool.env
        exec {path("ipmitool")} "$@"
        """))
    (wrapper / "ipmitool").chmod(0o755)
    yield config, inbox
    refuse.shutdown()
    bmc.process.terminate()
    bmc.process.wait(10)
    sim.stop()


def _agent(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{config.parent / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run([OTI, *args, "-c", str(config)], capture_output=True, env=env, timeout=timeout)


def _scrape(port: int) -> bytes:
    """/metrics of the running daemon once every group has had its rounds (bounded)."""
    metrics = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:                  # two rounds of every group, then one scrape
        time.sleep(0.5)
        try:
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
        except OSError:
            continue
        if metrics.count(b'oti_check_runs_total{') >= 3 and b"sw-v3" in metrics and time.monotonic() > \
                deadline - 25:
            break
    return metrics


def _documents(root: Path):
    """(name, bytes) of everything the agent wrote under its folder: files as they are, XLSX members
    unzipped, PDFs as their text."""
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        if "secrets" in file.relative_to(root).parts or file.name.startswith("ipmitool."):
            continue
        yield str(file), file.read_bytes()
        if file.suffix == ".xlsx":
            with zipfile.ZipFile(file) as z:
                for member in z.namelist():
                    yield f"{file}!{member}", z.read(member)
        elif file.suffix == ".pdf":
            text = subprocess.run([path("pdftotext"), str(file), "-"], capture_output=True, check=True).stdout
            yield f"{file} (text)", text


def _hits(where: str, data: bytes) -> list[str]:
    return [f"{where}: {shape!r}" for shape in SHAPES if shape in data]


def test_one_secret_everywhere_is_found_nowhere(canary_site, tmp_path, agentd, monkeypatch):
    config, inbox = canary_site
    said: list[tuple[str, bytes]] = []
    mails_before = len(inbox.messages)
    monkeypatch.setenv("PATH", f"{config.parent / 'bin'}:{os.environ['PATH']}")   # the daemon's ipmitool too
    with _Argv() as argv:
        for args in (["config", "check"], ["check"]):
            done = _agent(config, *args)
            said.append((" ".join(args), done.stdout + done.stderr))
        daemon = agentd(config)                         # it carries the run out, polls, serves /metrics
        done = daemon.cli("run", "canario")             # the CLI asks it and follows the run
        said.append(("run canario", (done.stdout + done.stderr).encode()))
        assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
        metrics = _scrape(yaml.safe_load(config.read_text())["http"]["port"])
        daemon.stop()
        daemon_said = daemon.log.read_bytes()            # what the daemon said while it worked: var/serve.log
        assert b"Traceback" not in daemon_said, daemon_said.decode(errors="replace")[-3000:]
        said.append(("serve", daemon_said))
        for args in (["report", "daily", "--send"], ["report", "monitoring", "--send"], ["outbox", "list", "--all"],
                     ["alerts"], ["runs"]):
            done = _agent(config, *args)
            said.append((" ".join(args), done.stdout + done.stderr))

    # the day really happened: the secret was used, right and wrong, by every path
    text = {k: v.decode(errors="replace") for k, v in said}
    for device, up in (("ups-canario", 1), ("srv-frase", 1), ("sw-v3", 0), ("srv-win", 0)):
        assert re.search(rf'oti_up{{[^}}]*device="{device}"[^}}]*}} {up}\.0', metrics.decode()), device
    assert "sw-v3" in text["check"] and "srv-win" in text["check"] and "ora-01" not in text["check"]
    ran = text["run canario"]
    assert "`echo hola` en srv-frase: hola" in ran                               # the passphrase opened the key
    assert "DPY-6005" in ran and "session refused" in ran and "login as agent refused" in ran, ran
    assert "-E" in (tmp_path / "ipmitool.argv").read_text().split()             # the BMC was asked, password by env
    outbox = text["outbox list --all"]
    assert "checklist" in outbox.lower() or "Checklist" in outbox, outbox
    assert len(inbox.messages) == mails_before                                  # SMTP refused the login

    hits = []
    for where, data in said:
        hits += _hits(f"output of `{where}`", data)
    hits += _hits("/metrics", metrics)
    for where, data in _documents(config.parent):
        hits += _hits(where, data)
    for pid, cmdline in argv.seen.items():
        hits += _hits(f"argv of pid {pid} ({cmdline[:60]!r})", cmdline)
    hits += _hits("ipmitool's argv", (tmp_path / "ipmitool.argv").read_bytes())
    env = [line for line in (tmp_path / "ipmitool.env").read_text().splitlines() if CANARY in line]
    assert {line.split("=", 1)[0] for line in env} == {"IPMI_PASSWORD"}        # the one it needs, no other
    assert not hits, "\n".join(hits)
    assert len(argv.seen) > 10
