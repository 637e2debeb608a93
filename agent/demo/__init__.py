"""`make demo` / `oti-agent demo`: a simulated datacenter on loopback, and the daemon watching it.

snmpsim serves a UPS, a precision AC and two switches from recorded walks; the local host is read
with psutil. The demo writes its config, inventory and secrets under the work folder, so a person
can read them and point `oti-agent check -c` at them while the daemon runs.
"""

from __future__ import annotations

import asyncio
import getpass
import secrets
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
RUNBOOKS = Path(__file__).resolve().parent / "runbooks"
# the shipped runbooks the demo runs besides its own: the restore drill of its one backed-up asset
SHIPPED = Path(__file__).resolve().parents[2] / "runbooks"
FROM_SHIPPED = ("simulacro-restauracion.yaml",)
# the on-call engineer who logs in to the console, the two people the demo's approvals ask (local passwords,
# printed once), and whoever runs the demo (its OS user, for the CLI)
PEOPLE = [("lquispe", "Luis Quispe", "especialista_is"), ("mparedes", "Mariella Paredes", "jefa"),
          ("jsalas", "Joanna Salas", "gg")]
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


POWER = """\
power:                        # --power-failure: the staged shutdown on the UPS's budget and the gated return
  enabled: true
  ups: [ups-principal]
  notify: [jefa]
  shutdown:
    runbook: apagado-demo
    margin: 8m                # the recording on battery says 9 min left: within the budget at once
    battery_floor: 0.1
    emergency:
      approvals: {aprobacion-jefa: {expire_after: 1m, on_expiry: approve}}   # the jefa may cancel within 1 min
      skip_approvals: [aprobacion-gg]
  startup:
    runbook: encendido-demo
    mains_stable_for: 15s
    battery_recharged: 0.8
    ask_first: true           # the jefa confirms the return in the console
"""
ON_BATTERY = "ups-principal-bateria"      # the UPS's community while the demo's mains are out


def _backups(workdir: Path) -> str:
    """One asset backed up for real without Bacula: the agent's own config and the demo's runbooks, with the
    `files` backend (tar.gz + manifest). Its daily time is a minute ago, so the daemon backs it up as it
    starts; a one-shot schedule then drills it (simulacro-restauracion), which files its report."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from agent.core.config import DEFAULT_TIMEZONE

    now = datetime.now(ZoneInfo(DEFAULT_TIMEZONE))
    (workdir / "matriz.yaml").write_text(textwrap.dedent(f"""\
        # Matriz de activos de la demo (Anexo 01), escrita por `oti-agent demo`.
        assets:
          - {{id: agente, owner: Especialista en IS, name: Configuración del agente, type: carpeta,
             server: oti-agent-host, resources: [config.yaml, inventory.yaml, runbooks],
             periodicity: diario, time: "{now - timedelta(minutes=1):%H:%M}", level: completo,
             criticality: critico, retention: 30 días, backend: local, job: agente, rto: 15m}}
        """))
    return textwrap.dedent(f"""\
        backups:
          matrix: matriz.yaml
          check_every: 10s
          poll_every: 1s
          backends:
            local: {{type: files, options: {{dest: var/copias, keep_days: 30,
                                            jobs: {{agente: [config.yaml, inventory.yaml, runbooks]}}}}}}
          drills: {{scratch: var/simulacros}}
        schedules:
          - {{name: simulacro-demo, runbook: simulacro-restauracion, params: {{activo: agente}},
             at: "{now + timedelta(seconds=20):%Y-%m-%d %H:%M:%S}", holidays: allow}}
        """)


def write_files(workdir: Path, port: int, sim_port: int, devices: list[tuple], power: bool = False) -> Path:
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
        runbooks_dir: {_runbooks(workdir)}
        """) + _people() + "credentials:\n  snmp:\n" + creds + CHECK_GROUPS + (POWER if power else "")
        + _backups(workdir))
    return config


def _runbooks(workdir: Path) -> Path:
    """The demo's runbooks folder: its own runbooks and the shipped restore drill, copied (a runbook must be
    a file of the folder itself, not a link out of it)."""
    folder = workdir / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    for path in [*RUNBOOKS.glob("*.yaml"), *(SHIPPED / n for n in FROM_SHIPPED if (SHIPPED / n).exists())]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder

def _people() -> str:
    """The demo's people: the jefa and GG with local passwords, and the person running the demo (its OS
    user), an IS specialist, so that the CLI acts as them."""
    user = getpass.getuser()
    lines = ["people:\n  persons:\n",
             f"    - {{login: {user}, name: \"Especialista de la demo ({user})\", os_user: {user}, "
             "roles: [especialista_is, coordinador]}\n"]
    lines += [f"    - {{login: {login}, name: \"{name}\", email: {login}@entidad.example, roles: [{role}]}}\n"
              for login, name, role in PEOPLE]
    return "".join(lines)


def demo_passwords(settings) -> dict[str, str]:
    """Give the demo's people a local password the first time (returned, to be printed once)."""
    from agent.people.accounts import Accounts
    from agent.store import Store

    accounts, made = Accounts(Store.for_config(settings.config)), {}
    for login, _name, _role in PEOPLE:
        if not accounts.exists(login):
            made[login] = secrets.token_urlsafe(12)
            accounts.set_password(login, made[login])
    return made


def _inventory(devices: list[tuple], sim_port: int) -> str:
    hosts: dict[str, list[str]] = {}
    for name, group, kind, profile, _community, _rec, crit, descr in devices:
        hosts.setdefault(group, []).append(
            f"        {name}:\n          ansible_host: 127.0.0.1\n          oti_kind: {kind}\n"
            f"          oti_criticality: {crit}\n          oti_description: \"{descr}\"\n"
            f"          oti_snmp: {{credential: {name}, port: {sim_port}}}   # profiles detected ({profile}...)\n")
    text = ["# Demo datacenter on loopback, written by `oti-agent demo`.\nall:\n  children:\n"]
    for group, entries in hosts.items():
        text.append(f"    {group}:\n      hosts:\n" + "".join(entries))
    text.append("    agente:\n      hosts:\n        oti-agent-host:\n          ansible_host: 127.0.0.1\n"
                "          oti_kind: server_virtual\n          oti_monitoring: {type: service, service: none}\n"
                "          oti_description: \"Servidor del agente (psutil)\"\n")
    return "".join(text)


def run_demo(workdir: Path, port: int, console: Console, power_failure_after: float | None = None) -> None:
    """Start the simulator and the daemon; stop both on Ctrl-C."""
    from agent.core.settings import load_all
    from agent.daemon import Daemon

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    devices = list(DEVICES)
    recordings = {d[4]: simulator.RECORDINGS / d[5] for d in devices}
    recordings[ON_BATTERY] = simulator.RECORDINGS / "ups-onbattery.snmprec"
    if simulator.CISCO_WALK.exists():
        devices.append(CISCO)
        recordings[CISCO[4]] = simulator.CISCO_WALK
    sim_dir = workdir / "sim"
    simulator.prepare_data(sim_dir, recordings)
    sim_port = simulator.free_udp_port()
    console.print(f"starting simulated datacenter (snmpsim) on udp 127.0.0.1:{sim_port} ...")
    sim = simulator.start(sim_dir, [("127.0.0.1", sim_port)], ready_community=devices[0][4])
    try:
        config = write_files(workdir, port, sim_port, devices, power=power_failure_after is not None)
        settings = load_all(config)
        passwords = demo_passwords(settings)
        rel = config.relative_to(Path.cwd()) if config.is_relative_to(Path.cwd()) else config
        docs = settings.config.path(settings.config.documents_dir)
        docs = docs.relative_to(Path.cwd()) if docs.is_relative_to(Path.cwd()) else docs
        console.print(textwrap.dedent(f"""
            [bold green]oti-agent demo is running[/bold green]: {len(settings.inventory)} devices, store {workdir}/oti-agent.db
              console:    http://127.0.0.1:{port}/   (log in as lquispe, the on-call
                          engineer; the jefa and GG approve in a second browser
                          session: their logins are below)
              metrics:    http://127.0.0.1:{port}/metrics
              API:        http://127.0.0.1:{port}/api/v1/docs  (401 without a login)
              try:        .venv/bin/oti-agent check -c {rel}
                          .venv/bin/oti-agent run apagado-demo -c {rel}
                          curl -s http://127.0.0.1:{port}/metrics | grep ups_battery_runtime
              files:      {rel} (config), {workdir}/inventory.yaml
              documents:  {docs}/
                          a restore drill runs 20 s after start and files its report
                          there (no mail server here: its mail to the jefa fails, and
                          the run says so). Where a PDF came from:
                          .venv/bin/oti-agent verify -c {rel} \\
                              {docs}/simulacros/*.pdf
                          or its code at http://127.0.0.1:{port}/verificar
            Ctrl-C stops the daemon and the simulator.
            """))
        for login, password in passwords.items():
            person = settings.people.person(login)
            console.print(f"  demo person [bold]{login}[/bold] ({person.name}, {settings.people.title(person.roles[0])})"
                          f": password [bold]{password}[/bold]  (shown once; change it with oti-agent users passwd)",
                          highlight=False, soft_wrap=True)
        if not passwords:
            console.print("  demo people lquispe, mparedes (jefa) and jsalas (gg): their passwords were shown when the demo "
                          "first ran; set new ones with oti-agent users passwd LOGIN -c " + str(rel), soft_wrap=True)
        if power_failure_after is not None:
            from agent.demo.power import play

            play(workdir, settings, power_failure_after, console)
        asyncio.run(Daemon.create(settings).serve())
    finally:
        sim.stop()
        console.print("demo stopped; simulator ended")
