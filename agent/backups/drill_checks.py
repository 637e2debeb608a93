"""What a restore drill checks, and how it cleans up (issue 17).

Files: the restored copy under the scratch folder against the backend's catalog of the backup — how
many files came back, their total size, and the checksum of a sample (the digest the catalog recorded:
Bacula's FileSet `signature`, the files backend's SHA-256). A backup set that carries its own sha256sum
manifest (Alfresco's sets: the content store and the dump) is checked in full against it. Database dumps (PostgreSQL custom-format
archives found among the restored files): `pg_restore --list` reads the archive's table of contents,
and, when `backups.drills.postgres` names a scratch server, the dump is restored into a throwaway
database `oti_simulacro_<run>` where a query must return rows. Cleanup removes the folder and drops the
databases, and says whether both are gone. Every check is a dict {check, expected, found, ok}.

A cancelled or crashed run never reaches its cleanup, so the next drill sweeps first what runs no longer
active left behind: their subfolders of the scratch root and their `oti_simulacro_*` databases.

The programs (pg_restore, psql) come from Debian's postgresql-client; the password, when there is one,
goes to them in PGPASSWORD only.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from agent.backups.backend import BackupBackend, CatalogFile
from agent.core.secrets import resolve
from agent.errors import BackendError

DUMP_MAGIC = b"PGDMP"
DB_PREFIX = "oti_simulacro_"
_OURS = re.compile(r"^oti_simulacro_[a-z0-9_]+$")      # only names database_name can make are ever dropped
MAX_DUMPS = 3
DEFAULT_QUERY = ("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN "
                 "('pg_catalog', 'information_schema')")
PG_TIMEOUT = 3600.0


def check(what: str, expected, found, ok: bool) -> dict:
    """One verification as the report shows it."""
    return {"check": what, "expected": str(expected), "found": str(found), "ok": bool(ok)}


def restored_path(where: Path, entry: CatalogFile) -> Path:
    """Where a catalog file lands under a restore's `where` (the original path below it)."""
    return where / entry.path.lstrip("/")


def verify_files(backend: BackupBackend, catalog: list[CatalogFile], where: Path, sample: int,
                 rng: random.Random) -> list[dict]:
    """File count, total size and a sample's checksums of the restored copy against the catalog."""
    if not catalog:
        return [check("archivos en el catálogo de la copia", "al menos 1", 0, False)]
    here = {e.path: restored_path(where, e) for e in catalog}
    present = [e for e in catalog if here[e.path].is_file()]
    size = sum(here[e.path].stat().st_size for e in present)
    out = [check("archivos restaurados", len(catalog), len(present), len(present) == len(catalog)),
           check("tamaño total (bytes)", sum(e.size for e in catalog), size, size == sum(e.size for e in catalog))]
    signed = [e for e in catalog if e.algo]
    if not signed:
        return out + [check("sumas de verificación en el catálogo", "registradas", "el catálogo no las guarda "
                            "(active signature en el FileSet)", False)]
    for e in sorted(rng.sample(signed, min(sample, len(signed))), key=lambda e: e.path):
        path = here[e.path]
        if not path.is_file():
            out.append(check(f"{e.algo.upper()} de {e.path}", "igual al catálogo", "no restaurado", False))
            continue
        raw = _digest(path, e.algo)
        same = backend.same_digest(e, raw)
        out.append(check(f"{e.algo.upper()} de {e.path}", "igual al catálogo", "igual" if same else
                         f"distinta ({raw.hex()[:16]}…)", same))
    return out


def _digest(path: Path, algo: str) -> bytes:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


def verify_manifests(catalog: list[CatalogFile], where: Path, name: str) -> list[dict]:
    """Every restored `name` file (sha256sum format; an Alfresco backup set's manifest of its content store
    and dump) checked in full: each file it names, below the manifest's folder, has that SHA-256. The
    catalog's sample says the backup program gave back what it took; this says the set was whole when taken."""
    out = []
    for e in (e for e in catalog if Path(e.path).name == name):
        manifest = restored_path(where, e)
        if manifest.is_file():
            out.append(_manifest_check(manifest))
    return out


def _manifest_check(manifest: Path) -> dict:
    folder, total, bad = manifest.parent.resolve(), 0, []
    for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        found = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip())
        total += 1
        path = (folder / found.group(2)).resolve() if found else None
        if path is None or folder not in path.parents:      # a line that is no entry, or one out of the set
            bad.append(f"línea {total} no es «sha256  ruta» dentro del conjunto")
        elif not path.is_file():
            bad.append(f"{found.group(2)} no restaurado")
        elif _digest(path, "sha256").hex() != found.group(1).lower():
            bad.append(f"{found.group(2)} distinto")
    what = f"contenido según {manifest.parent.name}/{manifest.name}"
    found_text = f"{total - len(bad)} de {total} iguales" + (f"; {'; '.join(bad[:3])}" if bad else "")
    return check(what, f"{total} archivo(s) con su SHA-256", found_text, total > 0 and not bad)


def dumps(catalog: list[CatalogFile], where: Path) -> list[Path]:
    """The restored files that are PostgreSQL custom-format dumps (by their magic), at most MAX_DUMPS."""
    out = []
    for e in catalog:
        path = restored_path(where, e)
        try:
            with open(path, "rb") as f:
                if f.read(len(DUMP_MAGIC)) == DUMP_MAGIC:
                    out.append(path)
        except OSError:
            continue
        if len(out) == MAX_DUMPS:
            break
    return out


def database_name(run_id: str, n: int) -> str:
    """The throwaway database of a run's n-th dump: oti_simulacro_<run> (safe characters, 63 at most)."""
    base = re.sub(r"[^a-z0-9_]", "_", run_id.lower())
    return f"{DB_PREFIX}{base}"[:60] + (f"_{n}" if n else "")


class ScratchPostgres:
    """The scratch PostgreSQL server of `backups.drills.postgres`, through psql and pg_restore."""

    def __init__(self, cfg, base_dir: Path | None):
        self.cfg, self.base_dir = cfg, base_dir

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PGCONNECT_TIMEOUT": "10"}
        if self.cfg.password:
            env["PGPASSWORD"] = resolve(self.cfg.password, base_dir=self.base_dir).get_secret_value()
        return env

    def _conn(self, db: str) -> list[str]:
        return ["-h", self.cfg.host, "-p", str(self.cfg.port), "-U", self.cfg.user, "-d", db]

    def run(self, args: list[str], timeout: float = PG_TIMEOUT) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=self._env())
        except FileNotFoundError:
            raise BackendError(f"{args[0]} is not installed (Debian's postgresql-client)") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"{args[0]} did not end within {timeout:g}s") from None

    def psql(self, db: str, sql: str) -> subprocess.CompletedProcess:
        return self.run(["psql", "-X", "-Atq", *self._conn(db), "-v", "ON_ERROR_STOP=1", "-c", sql], 600)

    def create(self, db: str) -> subprocess.CompletedProcess:
        return self.psql(self.cfg.maintenance_db, f'CREATE DATABASE "{db}" TEMPLATE template0')

    def restore(self, db: str, dump: Path) -> subprocess.CompletedProcess:
        return self.run(["pg_restore", *self._conn(db), "--no-owner", "--no-acl", "--exit-on-error", str(dump)])

    def drop(self, db: str) -> subprocess.CompletedProcess:
        return self.psql(self.cfg.maintenance_db, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def exists(self, db: str) -> bool:
        done = self.psql(self.cfg.maintenance_db, f"SELECT 1 FROM pg_database WHERE datname = '{db}'")
        return done.returncode == 0 and done.stdout.strip() == "1"


def list_dump(dump: Path) -> dict:
    """`pg_restore --list`: the archive's table of contents is readable. It reads a file and connects
    nowhere, so it gets no more of the agent's environment than PATH and LANG (no secret)."""
    what = f"pg_restore --list {dump.name}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, timeout=600,
                              env=env)
    except FileNotFoundError:
        return check(what, "índice legible", "pg_restore no está instalado", False)
    except subprocess.TimeoutExpired:
        return check(what, "índice legible", "pg_restore no terminó en 600 s", False)
    entries = [ln for ln in done.stdout.splitlines() if ln.strip() and not ln.startswith(";")]
    found = f"{len(entries)} objetos" if done.returncode == 0 else _tail(done.stderr)
    return check(what, "índice legible", found, done.returncode == 0 and bool(entries))


def verify_dump(pg: ScratchPostgres, db: str, dump: Path, query: str) -> list[dict]:
    """Restore a dump into the throwaway database `db` and run the asset's query there."""
    made = pg.create(db)
    if made.returncode != 0:
        return [check(f"base de datos temporal {db}", "creada", _tail(made.stderr), False)]
    done = pg.restore(db, dump)
    out = [check(f"pg_restore de {dump.name} en {db}", "sin errores", "sin errores" if done.returncode == 0
                 else _tail(done.stderr), done.returncode == 0)]
    answer = pg.psql(db, query or DEFAULT_QUERY)
    rows = [r for r in answer.stdout.splitlines() if r.strip()]
    if query:
        ok, found = answer.returncode == 0 and bool(rows), f"{len(rows)} fila(s)"
    else:
        count = int(rows[0]) if answer.returncode == 0 and rows and rows[0].isdigit() else 0
        ok, found = count > 0, f"{count} tabla(s)"
    out.append(check(f"consulta en {db}: {query or 'tablas restauradas'}", "devuelve filas",
                     found if answer.returncode == 0 else _tail(answer.stderr), ok))
    return out


def cleanup(where: Path, scratch_root: Path, pg: ScratchPostgres | None, databases: list[str]) -> tuple[bool, str]:
    """Remove the restored folder and drop the throwaway databases; (everything gone?, what was done)."""
    notes, ok = [], True
    if where.exists():
        if scratch_root.resolve() not in where.resolve().parents:
            return False, f"{where} no está dentro de {scratch_root}: no se borra"
        shutil.rmtree(where, ignore_errors=True)
    gone = not where.exists()
    ok &= gone
    notes.append(f"carpeta {where} " + ("eliminada" if gone else "NO eliminada"))
    for db in databases:
        if pg is None:
            continue
        pg.drop(db)
        dropped = not pg.exists(db)
        ok &= dropped
        notes.append(f"base de datos {db} " + ("eliminada" if dropped else "NO eliminada"))
    return ok, "; ".join(notes)


def sweep_folders(scratch_root: Path, active: Callable[[str], bool]) -> list[str]:
    """Remove the subfolders of the scratch root whose run (the folder's name) is not `active` (left by a
    cancelled or crashed drill); what was done, one note each. Only real folders directly inside the
    resolved root: a link is neither followed nor removed, and rmtree does not follow the links inside."""
    root = scratch_root.resolve()
    if not root.is_dir():
        return []
    notes = []
    with os.scandir(root) as entries:
        leftovers = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not active(e.name)]
    for path in sorted(leftovers):
        if path.parent != root or path.is_symlink():
            continue
        shutil.rmtree(path, ignore_errors=True)
        gone = not os.path.lexists(path)
        notes.append(f"carpeta {path} de un simulacro anterior " + ("eliminada" if gone else "NO eliminada"))
    return notes


def sweep_databases(pg: ScratchPostgres, active: set[str]) -> list[str]:
    """Drop the `oti_simulacro_*` databases of the scratch server that belong to no run in `active`; one note
    each. Raises BackendError when psql cannot run."""
    done = pg.psql(pg.cfg.maintenance_db, f"SELECT datname FROM pg_database WHERE datname LIKE '{DB_PREFIX}%'")
    if done.returncode != 0:
        return [f"bases de datos de simulacros anteriores: no se pudieron listar ({_tail(done.stderr)})"]
    keep = {database_name(run_id, 0) for run_id in active}
    notes = []
    for db in sorted(set(done.stdout.split())):
        if not _OURS.match(db) or _belongs(db, keep):
            continue
        pg.drop(db)
        notes.append(f"base de datos {db} de un simulacro anterior " + ("NO eliminada" if pg.exists(db)
                                                                          else "eliminada"))
    return notes


def _belongs(db: str, keep: set[str]) -> bool:
    """Whether `db` is an active run's database: its first (`name`) or a later dump's (`name_<n>`)."""
    return any(db == k or (db.startswith(k + "_") and db[len(k) + 1:].isdigit()) for k in keep)


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return " / ".join(lines[-2:])[:300] or "falló sin mensaje"
