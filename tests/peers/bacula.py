"""A real Bacula (director, storage and file daemons, SQLite catalog) on loopback, with an
8-slot virtual tape library: Bacula's own `disk-changer` over files, tapes TAPE001..TAPE008.

Recipe: ../shared/testbed (bacula/*.conf, beds.sh). Each job of `jobs` backs up its folders; one
restore job `RestoreFiles` restores anywhere (`where=` given by the caller).
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.common import free_tcp_port, stop, wait_tcp

DISK_CHANGER = "/etc/bacula/scripts/disk-changer"
TABLES = "/usr/share/bacula-director/make_sqlite3_tables"


@dataclass
class Bacula:
    root: Path
    jobs: dict[str, list[Path]]
    slots: int = 8
    label: int | None = None        # label only the first N slots (the rest are new tapes for the test)
    volume_bytes: str = "20M"
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self):
        self.dir_port, self.fd_port, self.sd_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
        self.etc, self.work, self.vtl = self.root / "etc", self.root / "work", self.root / "vtl"
        self.bconsole_conf = self.etc / "bconsole.conf"

    # ------------------------------------------------------------ set-up
    def start(self) -> Bacula:
        for d in (self.etc, self.work / "dir", self.work / "sd", self.work / "fd", self.vtl):
            d.mkdir(parents=True, exist_ok=True)
        (self.vtl / "conf").write_text(f"maxslot={self.slots}\nmaxdrive=0\n")
        (self.vtl / "barcodes").write_text("".join(f"{i}:TAPE{i:03d}\n" for i in range(1, self.slots + 1)))
        for i in range(1, self.slots + 1):
            (self.vtl / f"slot{i}").touch()
        self._write_configs()
        script = Path(TABLES).read_text().replace("cd /var/lib/bacula", f"cd {self.work / 'dir'}")
        subprocess.run(["sh", "-c", script.replace("XXX_DBNAME_XXX", "bacula")], check=True,
                       capture_output=True)
        for name in ("dir", "sd", "fd"):
            check = subprocess.run([f"bacula-{name}", "-t", "-c", str(self.etc / f"bacula-{name}.conf")],
                                   capture_output=True, text=True)
            if check.returncode != 0:
                raise RuntimeError(f"bacula-{name} config refused: {check.stdout}{check.stderr}")
        for name, port in (("sd", self.sd_port), ("fd", self.fd_port), ("dir", self.dir_port)):
            log = self.root / f"{name}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen([f"bacula-{name}", "-f", "-c", str(self.etc / f"bacula-{name}.conf")],
                                        stdout=out, stderr=subprocess.STDOUT)
            self.procs.append(proc)
            wait_tcp(port, proc, f"bacula-{name}", log)
        want = self.label or self.slots
        out = self.console("label barcodes storage=VTL pool=TapePool slots=1-%d drive=0\nyes" % want, timeout=60)
        labelled = out.count("successfully created")
        if labelled != want:
            self.stop()
            raise RuntimeError(f"bacula: labelled {labelled} of {want} tapes:\n{out[-2000:]}")
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        self.procs.clear()

    def console(self, commands: str, timeout: float = 120) -> str:
        """Run bconsole commands (one per line) and return what it printed."""
        done = subprocess.run(["bconsole", "-n", "-c", str(self.bconsole_conf)], input=commands + "\n",
                              capture_output=True, text=True, timeout=timeout)
        return done.stdout + done.stderr

    def eject(self, volume: str) -> None:
        """Take a tape out of the library: its data (the slot file) leaves, its slot shows empty."""
        slots = self._barcodes()
        slot = next(n for n, label in slots.items() if label == volume)
        shelf = self.root / "shelf"
        shelf.mkdir(exist_ok=True)
        (self.vtl / f"slot{slot}").replace(shelf / volume)
        (self.vtl / f"slot{slot}").touch()
        (shelf / f"{volume}.slot").write_text(str(slot))
        slots[slot] = ""
        self._write_barcodes(slots)
        self.console("update slots storage=VTL drive=0")

    def insert(self, volume: str) -> None:
        """Put an ejected tape back in its slot."""
        shelf = self.root / "shelf"
        slot = int((shelf / f"{volume}.slot").read_text())
        (shelf / volume).replace(self.vtl / f"slot{slot}")
        slots = self._barcodes()
        slots[slot] = volume
        self._write_barcodes(slots)
        self.console("update slots storage=VTL drive=0")

    def _barcodes(self) -> dict[int, str]:
        return {int(n): label for n, _, label in
                (ln.partition(":") for ln in (self.vtl / "barcodes").read_text().splitlines())}

    def _write_barcodes(self, slots: dict[int, str]) -> None:
        (self.vtl / "barcodes").write_text("".join(f"{n}:{label}\n" for n, label in sorted(slots.items())))

    def _write_configs(self) -> None:
        w, sock = self.work, "127.0.0.1"
        jobs = []
        for name, paths in self.jobs.items():
            files = "\n".join(f"    File = {p}" for p in paths)
            jobs.append(textwrap.dedent(f"""\
                FileSet {{
                  Name = "{name}-set"
                  Include {{
                    Options {{
                      signature = MD5
                    }}
                {files}
                  }}
                }}
                Job {{
                  Name = "{name}"
                  Type = Backup
                  Level = Full
                  Client = oti-fd
                  FileSet = "{name}-set"
                  Storage = VTL
                  Pool = TapePool
                  Messages = Standard
                  Write Bootstrap = "{w}/dir/{name}.bsr"
                }}
                """))
        first = next(iter(self.jobs))
        (self.etc / "bacula-dir.conf").write_text(textwrap.dedent(f"""\
            Director {{
              Name = oti-dir
              DIRport = {self.dir_port}
              DirAddress = {sock}
              QueryFile = "/etc/bacula/scripts/query.sql"
              WorkingDirectory = "{w}/dir"
              PidDirectory = "{w}/dir"
              Maximum Concurrent Jobs = 5
              Password = "dir-secret"
              Messages = Daemon
              FD Connect Timeout = 5 sec
              SD Connect Timeout = 5 sec
            }}
            Catalog {{
              Name = MyCatalog
              dbname = "bacula"; dbuser = ""; dbpassword = ""
            }}
            Client {{
              Name = oti-fd
              Address = {sock}
              FDPort = {self.fd_port}
              Catalog = MyCatalog
              Password = "fd-secret"
              File Retention = 60 days
              Job Retention = 6 months
              AutoPrune = yes
            }}
            Storage {{
              Name = VTL
              Address = {sock}
              SDPort = {self.sd_port}
              Password = "sd-secret"
              Device = VTL-Changer
              Media Type = VTape
              Autochanger = yes
              Maximum Concurrent Jobs = 1
            }}
            Pool {{
              Name = TapePool
              Pool Type = Backup
              Storage = VTL
              Recycle = yes
              AutoPrune = yes
              Volume Retention = 30 days
              Maximum Volume Bytes = {self.volume_bytes}
            }}
            Pool {{
              Name = Scratch
              Pool Type = Backup
            }}
            Job {{
              Name = "RestoreFiles"
              Type = Restore
              Client = oti-fd
              FileSet = "{first}-set"
              Storage = VTL
              Pool = TapePool
              Messages = Standard
              Where = {self.root}/restore
            }}
            Messages {{
              Name = Standard
              console = all, !skipped, !saved
              append = "{w}/dir/bacula.log" = all, !skipped
              catalog = all
            }}
            Messages {{
              Name = Daemon
              console = all, !skipped, !saved
              append = "{w}/dir/bacula.log" = all, !skipped
            }}
            """) + "\n".join(jobs))
        (self.etc / "bacula-sd.conf").write_text(textwrap.dedent(f"""\
            Storage {{
              Name = oti-sd
              SDPort = {self.sd_port}
              SDAddress = {sock}
              WorkingDirectory = "{w}/sd"
              Pid Directory = "{w}/sd"
              Plugin Directory = "/usr/lib/bacula"
              Maximum Concurrent Jobs = 10
            }}
            Director {{
              Name = oti-dir
              Password = "sd-secret"
            }}
            Autochanger {{
              Name = VTL-Changer
              Device = VTL-Drive0
              Changer Command = "{DISK_CHANGER} %c %o %S %a %d"
              Changer Device = "{self.vtl}/conf"
            }}
            Device {{
              Name = VTL-Drive0
              Drive Index = 0
              Media Type = VTape
              Device Type = File
              Archive Device = "{self.vtl}/drive0"
              Autochanger = yes
              RemovableMedia = yes
              RandomAccess = no
              AutomaticMount = yes
              AlwaysOpen = yes
              LabelMedia = no
            }}
            Messages {{
              Name = Standard
              director = oti-dir = all
            }}
            """))
        (self.etc / "bacula-fd.conf").write_text(textwrap.dedent(f"""\
            FileDaemon {{
              Name = oti-fd
              FDport = {self.fd_port}
              FDAddress = {sock}
              WorkingDirectory = "{w}/fd"
              Pid Directory = "{w}/fd"
              Plugin Directory = "/usr/lib/bacula"
              Maximum Concurrent Jobs = 10
            }}
            Director {{
              Name = oti-dir
              Password = "fd-secret"
            }}
            Messages {{
              Name = Standard
              director = oti-dir = all, !skipped, !restored
            }}
            """))
        self.bconsole_conf.write_text(textwrap.dedent(f"""\
            Director {{
              Name = oti-dir
              DIRport = {self.dir_port}
              address = {sock}
              Password = "dir-secret"
            }}
            """))

    def kill_fd(self) -> None:
        """Stop the file daemon (a backup then fails: 'Unable to connect to Client')."""
        stop(self.procs[1])


def wait_until(pred, timeout: float = 30.0, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return False
