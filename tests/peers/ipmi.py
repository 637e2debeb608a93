"""OpenIPMI's ipmi_sim BMCs on loopback; the chassis program in chassis.sh really changes power."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from agent.demo.simulator import free_udp_port
from tests.peers.common import stop

CHASSIS = Path(__file__).resolve().parent / "chassis.sh"
USER, PASSWORD = "admin", "secret"


@dataclass
class Bmc:
    """One simulated BMC and its server's state folder."""

    name: str
    port: int
    folder: Path
    process: subprocess.Popen

    def power(self, on: bool) -> None:
        """Switch the server on or off directly (test set-up, not logged as an agent command)."""
        subprocess.run([str(CHASSIS), str(self.folder), "set", "power", "1" if on else "0"], check=True)
        (self.folder / "chassis.log").write_text("")

    def is_on(self) -> bool:
        """Return the server's power state."""
        out = subprocess.run([str(CHASSIS), str(self.folder), "get", "power"], capture_output=True, text=True)
        return out.stdout.strip() == "power:1"

    def commands(self) -> list[str]:
        """Return the power commands the BMC received ('set power 0', 'set shutdown 1', ...)."""
        log = self.folder / "chassis.log"
        return [" ".join(line.split()[1:]) for line in log.read_text().splitlines()] if log.exists() else []


def start_bmc(name: str, folder: Path) -> Bmc:
    """Start ipmi_sim for one server on a free UDP port of 127.0.0.1; wait until it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    port = free_udp_port()
    (folder / "lan.conf").write_text(f"""name "{name}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcd{port % 100:02d}
  endlan
  chassis_control "{CHASSIS} {folder}"
  user 1 true  ""      "test"   user  10 none md2 md5 straight
  user 2 true  "{USER}" "{PASSWORD}" admin 10 none md2 md5 straight
""")
    (folder / "sim.emu").write_text("mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n"
                                    "sel_enable 0x20 1000 0x0a\nmc_enable 0x20\n")
    proc = subprocess.Popen(["ipmi_sim", "-c", str(folder / "lan.conf"), "-f", str(folder / "sim.emu"),
                             "-s", str(folder / "state"), "-n"], stdout=subprocess.DEVNULL,
                            stderr=open(folder / "ipmi_sim.log", "w"), start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ipmi_sim for {name} exited: {(folder / 'ipmi_sim.log').read_text()[-500:]}")
        probe = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", str(port), "-U", USER,
                                "-P", PASSWORD, "-N", "1", "-R", "1", "chassis", "power", "status"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return Bmc(name, port, folder, proc)
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"ipmi_sim for {name} did not answer on 127.0.0.1:{port}")
