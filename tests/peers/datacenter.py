"""A simulated datacenter on loopback for the shutdown and startup runbooks.

Physical servers and Oracle hosts are ipmi_sim BMCs whose "host" is an sshd (power on brings SSH
up, off takes it down). Virtual servers, the backup server and the PBX are sshd processes; their
hypervisor starts them again with `fake-start-vm`. UPS, precision AC and switch are snmpsim
recordings. Fake `poweroff`, `start-vm` and Oracle commands log every call, so a test can count
exactly which power commands were sent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.agentd import PEOPLE
from tests.peers.common import free_tcp_port
from tests.peers.ipmi import PASSWORD, USER, Bmc, start_bmc

PHYSICAL = [("hv-01", "server_physical", "critico", 1, None), ("hv-02", "server_physical", "no_critico", 2, None),
            ("ora-prod", "db", "critico", 1, "primary"), ("ora-dg", "db", "critico", 2, "standby")]
VMS = [("vm-app", "critico", 1, "hv-01"), ("vm-alfresco", "critico", 2, "hv-01"), ("vm-intranet", "no_critico", 3, "hv-02")]
OTHERS = [("backup-01", "backup"), ("pbx-01", "pbx")]

SCRIPTS = {
    "fake-poweroff": """#!/bin/sh
port=$(echo "$SSH_CONNECTION" | awk '{print $4}')
echo "$(date +%s.%N) poweroff $(cat @ROOT@/ports/$port)" >> @ROOT@/power.log
setsid sh -c "sleep 0.3; kill \\$(cat @ROOT@/pids/$port) 2>/dev/null" </dev/null >/dev/null 2>&1 &
""",
    "fake-start-vm": """#!/bin/bash
vm=$1; port=$(cat @ROOT@/vms/$vm/port)
[ -n "$SSH_CONNECTION" ] && echo "$(date +%s.%N) start-vm $vm" >> @ROOT@/power.log
# already running? (a killed sshd may linger as a zombie here, so ask the port, not the pid)
(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && exit 0
setsid /usr/sbin/sshd -D -f @ROOT@/vms/$vm/sshd_config </dev/null >/dev/null 2>&1 &
echo $! > @ROOT@/pids/$port
""",
    "fake-oracle": """#!/bin/sh
action=$1; db=$2; s=@ROOT@/oracle/$db
echo "$(date +%s.%N) $action $db" >> @ROOT@/oracle.log
case $action in
  stop_instance) echo down > $s.instance ;;
  start_instance) echo up > $s.instance ;;
  stop_replication) echo off > $s.apply ;;
  start_replication) [ "$(cat $s.instance)" = up ] || { echo "ORA-01034: ORACLE not available" >&2; exit 1; }
                     echo on > $s.apply ;;
  status) [ "$(cat $s.instance)" = up ] || { echo "Database is not running."; exit 1; }; echo "Database is running." ;;
esac
""",
}


@dataclass
class Datacenter:
    """The running simulation and the files a config needs."""

    root: Path
    key: Path
    known_hosts: Path
    bmcs: dict[str, Bmc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    secrets: Path | None = None        # the folder of the last config written: the AC's community is there

    def ac_power(self, on: bool) -> None:
        """A person switches the precision AC on or off: its SNMP card goes on answering, with the unit's
        state (the community of the config points at the recording of the unit on, or off)."""
        if self.secrets is not None:            # replaced whole: a daemon starting meanwhile never reads it empty
            tmp = self.secrets / ".liebert-crac.tmp"
            tmp.write_text(("liebert-crac" if on else "liebert-crac-off") + "\n")
            tmp.replace(self.secrets / "liebert-crac")

    def person_does(self, step_id: str) -> None:
        """What the person confirming a step of the shutdown or the startup does with their hands here."""
        if step_id == "apagar-aires-incendio-aniego":          # activity 14
            self.ac_power(False)
        elif step_id == "encender-aires":                     # activity 18
            self.ac_power(True)

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def power_log(self) -> list[str]:
        """Return the VM/backup/PBX power commands: 'poweroff NAME', 'start-vm NAME'."""
        log = self.root / "power.log"
        return [" ".join(line.split()[1:]) for line in log.read_text().splitlines()] if log.exists() else []

    def oracle_log(self) -> list[str]:
        log = self.root / "oracle.log"
        return [" ".join(line.split()[1:]) for line in log.read_text().splitlines()] if log.exists() else []

    def oracle_state(self, db: str) -> tuple[str, str]:
        return ((self.root / "oracle" / f"{db}.instance").read_text().strip(),
                (self.root / "oracle" / f"{db}.apply").read_text().strip())

    def sshd_up(self, name: str) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.ports[name]), timeout=0.5):
                return True
        except OSError:
            return False

    def all_on(self) -> None:
        """Bring every server up and every database open with replication on; clear the logs."""
        for bmc in self.bmcs.values():
            bmc.power(True)
        for vm, *_ in VMS:
            subprocess.run([self.bin("fake-start-vm"), vm], check=True, env=_no_ssh_env())
        for name, _kind in OTHERS:
            subprocess.run([self.bin("fake-start-vm"), name], check=True, env=_no_ssh_env())
        for db in ("PROD", "PRODDG"):
            (self.root / "oracle" / f"{db}.instance").write_text("up\n")
            (self.root / "oracle" / f"{db}.apply").write_text("on\n")
        for log in ("power.log", "oracle.log"):
            (self.root / log).write_text("")
        self.ac_power(True)
        _wait_ports([p for n, p in self.ports.items()])

    def stop(self) -> None:
        """Stop every simulated host and BMC."""
        for bmc in self.bmcs.values():
            bmc.power(False)
            bmc.process.terminate()
        for pid_file in (self.root / "pids").glob("*"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass
        for bmc in self.bmcs.values():
            bmc.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def inventory(self, snmp_port: int) -> dict:
        """Return the inventory of the simulated datacenter."""
        hosts: dict[str, dict] = {}
        for name, kind, crit, order, role in PHYSICAL:
            h = {"ansible_host": "127.0.0.1", "oti_kind": kind, "oti_criticality": crit, "oti_order": order,
                 "oti_ipmi": {"address": "127.0.0.1", "port": self.bmcs[name].port, "credential": "bmc"},
                 "oti_ssh": {"credential": "root", "port": self.ports[name]}}
            if role:
                db = "PROD" if role == "primary" else "PRODDG"
                cmd = self.bin("fake-oracle")
                h |= {"oti_role": role, "oti_oracle": {
                    "database": db, "stop_replication": f"{cmd} stop_replication {{db}}",
                    "start_replication": f"{cmd} start_replication {{db}}", "stop_instance": f"{cmd} stop_instance {{db}}",
                    "start_instance": f"{cmd} start_instance {{db}}", "status_command": f"{cmd} status {{db}}"}}
            hosts[name] = h
        for name, crit, order, hv in VMS:
            hosts[name] = {"ansible_host": "127.0.0.1", "ansible_port": self.ports[name],
                           "ansible_python_interpreter": "/usr/bin/python3",   # not root's pyenv shim
                           "oti_kind": "server_virtual", "oti_criticality": crit,
                           "oti_order": order, "oti_hypervisor": hv,
                           "oti_ssh": {"credential": "root", "port": self.ports[name]}}
        for name, kind in OTHERS:
            hosts[name] = {"ansible_host": "127.0.0.1", "oti_kind": kind,
                           "oti_ssh": {"credential": "root", "port": self.ports[name]}}
        for name, kind, profile, community in (("ups-01", "ups", "ups-rfc1628", "ups-rfc1628"),
                                               ("aap-01", "ac", "liebert-gp", "liebert-crac"),
                                               ("sw-01", "switch", "switch-ifmib", "switch24")):
            hosts[name] = {"ansible_host": "127.0.0.1", "oti_kind": kind, "oti_criticality": "critico",
                           "oti_snmp": {"profile": profile, "credential": community, "port": snmp_port, "timeout": 2}}
        return {"all": {"children": {"centro_de_datos": {"hosts": hosts}}}}

    def write_config(self, folder: Path, snmp_port: int, smtp_port: int) -> Path:
        """Write inventory, secrets and config for the engine; return the config path."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "inventory.yaml").write_text(yaml.safe_dump(self.inventory(snmp_port), sort_keys=False))
        secrets = self.secrets = folder / "secrets"
        secrets.mkdir(exist_ok=True)
        for name, value in (("bmc", PASSWORD), ("smtp", "mailpw"), ("ups-rfc1628", "ups-rfc1628"),
                            ("liebert-crac", "liebert-crac"), ("switch24", "switch24")):
            (secrets / name).write_text(value + "\n")
        snmp = {c: {"version": "v2c", "community": f"file:secrets/{c}"}
                for c in ("ups-rfc1628", "liebert-crac", "switch24")}
        snmp["snmp-escritura"] = {"version": "v2c", "community": "file:secrets/ups-rfc1628"}
        config = {
            "agent": {"name": "dc-test", "site": "sede-central"},
            "store": {"url": "sqlite:///var/oti.db"},
            "inventory": "inventory.yaml",
            "runbooks_dir": str(Path(__file__).resolve().parents[2] / "runbooks"),
            "documents_dir": "var/documentos",
            "credentials": {"snmp": snmp, "ipmi": {"bmc": {"user": USER, "password": "file:secrets/bmc"}},
                            "ssh": {"root": {"user": "root", "key_file": str(self.key),
                                             "known_hosts": str(self.known_hosts)}}},
            "mail": {"host": "127.0.0.1", "port": smtp_port, "starttls": True, "user": "agent",
                     "password": "file:secrets/smtp", "sender": "oti-agent@entidad.example",
                     "recipients": {"jefa": ["jefa@entidad.example"], "gg": ["gg@entidad.example"],
                                    "com": ["com@entidad.example"], "isp": ["noc@isp.example"],
                                    "especialistas": ["is@entidad.example", "bd@entidad.example"]}},
            "people": PEOPLE,
            "http": {"port": 0},
            "check_groups": [
                {"name": "energia", "targets": {"kinds": ["ups", "ac"]}, "checks": [{"check": "snmp"}]},
                {"name": "red", "targets": {"kinds": ["switch"]}, "checks": [{"check": "snmp"}]},
                {"name": "servidores", "targets": {"kinds": ["server_virtual", "db"]},
                 "checks": [{"check": "ssh_host"}]}],
        }
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path


def _no_ssh_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}


def _wait_ports(ports: list[int], timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        for p in list(pending):
            try:
                with socket.create_connection(("127.0.0.1", p), timeout=0.3):
                    pending.discard(p)
            except OSError:
                pass
        time.sleep(0.05)
    if pending:
        raise RuntimeError(f"simulated hosts did not listen on {sorted(pending)}")


def _sshd_config(folder: Path, port: int, host_key: Path, authorized: Path) -> Path:
    path = folder / "sshd_config"
    path.write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100
LogLevel ERROR
""")
    return path


def start_datacenter() -> Datacenter:
    """Create keys, scripts, BMCs and hosts; everything starts powered on."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="oti-dc-"))
    root.chmod(0o755)
    for sub in ("bin", "pids", "ports", "vms", "oracle", "keys", "bmc"):
        (root / sub).mkdir()
    for name, text in SCRIPTS.items():
        path = root / "bin" / name
        path.write_text(text.replace("@ROOT@", str(root)))
        path.chmod(0o755)
    keys = root / "keys"
    for key in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / key)], check=True)
    authorized = keys / "authorized_keys"
    shutil.copyfile(keys / "client.pub", authorized)
    authorized.chmod(0o644)
    dc = Datacenter(root, keys / "client", keys / "known_hosts")
    host_pub = " ".join((keys / "host.pub").read_text().split()[:2])
    names = [p[0] for p in PHYSICAL] + [v[0] for v in VMS] + [o[0] for o in OTHERS]
    for name in names:
        port = free_tcp_port()
        dc.ports[name] = port
        (root / "ports" / str(port)).write_text(name)
    (keys / "known_hosts").write_text("".join(f"[127.0.0.1]:{p} {host_pub}\n" for p in dc.ports.values()))
    for name, *_ in PHYSICAL:
        folder = root / "bmc" / name
        folder.mkdir()
        _sshd_config(folder, dc.ports[name], keys / "host", authorized)
        dc.bmcs[name] = start_bmc(name, folder)
    for name in [v[0] for v in VMS] + [o[0] for o in OTHERS]:
        folder = root / "vms" / name
        folder.mkdir()
        (folder / "port").write_text(str(dc.ports[name]))
        _sshd_config(folder, dc.ports[name], keys / "host", authorized)
    dc.all_on()
    return dc
