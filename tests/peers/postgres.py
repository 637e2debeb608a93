"""A throwaway PostgreSQL 15 cluster on loopback (initdb as the postgres user, trust auth), with a
role and database `alfresco`. Recipe: ../shared/testbed README §4."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.peers.common import free_tcp_port

PGBIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Postgres:
    root: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=alfresco user=alfresco connect_timeout=3"

    def psql(self, sql: str, db: str = "alfresco", user: str = "alfresco") -> str:
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", db, "-Atqc", sql],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr}")
        return done.stdout.strip()

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> Postgres:
    """Start a cluster; raise with its log if it does not come up."""
    root = Path(tempfile.mkdtemp(prefix="oti-pg-"))
    root.chmod(0o755)
    (root / "sock").mkdir()
    subprocess.run(["chown", "-R", "postgres:postgres", str(root)], check=True)
    init = subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / "initdb"), "-D", str(root / "data"),
                           "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                          capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr[-1500:]}")
    port = free_tcp_port()
    start = subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / "pg_ctl"), "-D", str(root / "data"),
                            "-l", str(root / "postgres.log"), "-w", "-t", "60", "-o",
                            f"-p {port} -k {root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                           capture_output=True, text=True, timeout=90)
    if start.returncode != 0:
        log = (root / "postgres.log").read_text(errors="replace")[-1500:] if (root / "postgres.log").exists() else ""
        raise RuntimeError(f"postgres did not start: {start.stderr} {log}")
    pg = Postgres(root, port)
    try:
        pg.psql("create role alfresco login", db="postgres", user="postgres")
        pg.psql("create database alfresco owner alfresco", db="postgres", user="postgres")
    except Exception:
        pg.stop()                          # never leave a cluster running behind a failed start
        raise
    return pg
