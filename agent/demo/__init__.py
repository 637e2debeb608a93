"""`make demo` / `oti-agent demo`: a simulated datacenter on loopback, and the daemon watching it.

snmpsim serves a UPS, a precision AC and two switches from recorded walks; the local host is read
with psutil. The demo writes its config, inventory and secrets under the work folder, so a person
can read them and point `oti-agent check -c` at them while the daemon runs.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from rich.console import Console

from agent.demo import simulator

DEVICES = [  # (device, inventory group, kind, profile, community, recording, criticality, description)
    ("ups-principal", "sistemas_apoyo", "ups", "ups-rfc1628", "ups-principal", "ups-rfc1628.snmprec", "critico",
     "UPS del centro de datos"),
    ("aap-01", "sistemas_apoyo", "ac", "liebert-gp", "aap-01", "liebert-crac.snmprec", "critico",
     "Aire acondicionado de precisión 1"),
    ("sw-acceso-01", "gabinete_comunicaciones", "switch", "switch-ifmib", "sw-acceso-01", "switch24.snmprec",
     "no_critico", "Switch de acceso, piso 1"),
]
CISCO = ("sw-core", "gabinete_comunicaciones", "switch", "switch-cisco", "sw-core", None, "critico",
         "Switch core Cisco Catalyst 3750")


CHECK_GROUPS = """\
check_groups:
  - name: energia-y-clima
    interval: 15s
    timeout: 10s
    targets: {kinds: [ups, ac]}
    checks: [{check: snmp}]
  - name: comunicaciones
    interval: 30s
    timeout: 15s
    targets: {kinds: [switch]}
    checks: [{check: snmp}]
  - name: servidor-agente
    interval: 15s
    targets: {names: [oti-agent-host]}
    checks: [{check: local_host}]
  - name: agentes-de-monitoreo
    interval: 5m
    targets: {kinds: [ups, ac, switch]}
    checks: [{check: agent_present}]
"""


def write_files(workdir: Path, port: int, sim_port: int, devices: list[tuple]) -> Path:
    """Write the demo's secrets, inventory and config; return the config path."""
    secrets = workdir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    for name, _group, _kind, _profile, community, *_ in devices:
        (secrets / f"{name}.community").write_text(community + "\n")
        secrets.joinpath(f"{name}.community").chmod(0o600)
    (workdir / "inventory.yaml").write_text(_inventory(devices, sim_port))
    creds = "".join(f"    {d[0]}: {{version: v2c, community: \"file:secrets/{d[0]}.community\"}}\n" for d in devices)
    config = workdir / "config.yaml"
    config.write_text(textwrap.dedent(f"""\
        # Demo config written by `oti-agent demo`.
        agent: {{name: oti-agent-demo, site: demo}}
        store: {{url: "sqlite:///oti-agent.db"}}
        http: {{listen: 127.0.0.1, port: {port}}}
        inventory: inventory.yaml
        credentials:
          snmp:
        """) + creds + CHECK_GROUPS)
    return config


def _inventory(devices: list[tuple], sim_port: int) -> str:
    hosts: dict[str, list[str]] = {}
    for name, group, kind, profile, _community, _rec, crit, descr in devices:
        hosts.setdefault(group, []).append(
            f"        {name}:\n          ansible_host: 127.0.0.1\n          oti_kind: {kind}\n"
            f"          oti_criticality: {crit}\n          oti_description: \"{descr}\"\n"
            f"          oti_snmp: {{profile: {profile}, credential: {name}, port: {sim_port}}}\n")
    text = ["# Demo datacenter on loopback, written by `oti-agent demo`.\nall:\n  children:\n"]
    for group, entries in hosts.items():
        text.append(f"    {group}:\n      hosts:\n" + "".join(entries))
    text.append("    agente:\n      hosts:\n        oti-agent-host:\n          ansible_host: 127.0.0.1\n"
                "          oti_kind: server_virtual\n          oti_monitoring: {type: service, service: none}\n"
                "          oti_description: \"Servidor del agente (psutil)\"\n")
    return "".join(text)


def run_demo(workdir: Path, port: int, console: Console) -> None:
    """Start the simulator and the daemon; stop both on Ctrl-C."""
    from agent.core.settings import load_all
    from agent.daemon import Daemon

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    devices = list(DEVICES)
    recordings = {d[4]: simulator.RECORDINGS / d[5] for d in devices}
    if simulator.CISCO_WALK.exists():
        devices.append(CISCO)
        recordings[CISCO[4]] = simulator.CISCO_WALK
    sim_dir = workdir / "sim"
    simulator.prepare_data(sim_dir, recordings)
    sim_port = simulator.free_udp_port()
    console.print(f"starting simulated datacenter (snmpsim) on udp 127.0.0.1:{sim_port} ...")
    sim = simulator.start(sim_dir, [("127.0.0.1", sim_port)], ready_community=devices[0][4])
    try:
        config = write_files(workdir, port, sim_port, devices)
        settings = load_all(config)
        rel = config.relative_to(Path.cwd()) if config.is_relative_to(Path.cwd()) else config
        console.print(textwrap.dedent(f"""
            [bold green]oti-agent demo is running[/bold green]: {len(settings.inventory)} devices, store {workdir}/oti-agent.db
              metrics:    http://127.0.0.1:{port}/metrics
              try:        .venv/bin/oti-agent check -c {rel}
                          .venv/bin/oti-agent inventory -c {rel}
                          curl -s http://127.0.0.1:{port}/metrics | grep ups_battery_runtime
              files:      {rel} (config), {workdir}/inventory.yaml
            Ctrl-C stops the daemon and the simulator.
            """))
        asyncio.run(Daemon.create(settings).serve())
    finally:
        sim.stop()
        console.print("demo stopped; simulator ended")
