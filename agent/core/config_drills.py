"""The restore drills' section of the config (`backups.drills`, issue 17): when the drill calendar starts
the `simulacro-restauracion` runbook, where the scratch targets are, how much is checked."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.core.config_daemon import Duration, _Model
from agent.core.secrets import SecretRef


class DrillPostgres(_Model):
    """The PostgreSQL server a database dump is restored into, as a throwaway database `oti_simulacro_<run>`
    (never a production server: the role needs CREATEDB, and the database is dropped afterwards)."""

    host: str = Field("127.0.0.1", description="host of the scratch PostgreSQL server")
    port: int = Field(5432, ge=1, le=65535)
    user: str = Field("postgres", description="a role that may create and drop databases")
    password: SecretRef | None = Field(None, description="its password, as a reference (${ENV} or file:); "
                                       "given to pg_restore and psql in PGPASSWORD only")
    maintenance_db: str = Field("postgres", description="the database createdb and dropdb connect to")


class DrillsSection(_Model):
    """Restore drills on the asset matrix's calendar (each asset's `drill` and `rto`)."""

    enabled: bool = Field(False, description="the daemon starts the drills the matrix's calendar makes due (off "
                          "until the office has a scratch folder, and a scratch PostgreSQL for dumps, sized for them)")
    day: int = Field(2, ge=1, le=28, description="day of the month a due drill starts on")
    time: str = Field("10:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                      description="wall time it starts at (office hours: the jefa reads the report the same day)")
    runbook: str = Field("simulacro-restauracion", description="the runbook a drill runs")
    scratch: Path = Field(Path("var/simulacros"), description="folder the backups are restored under, one "
                          "subfolder per run, removed afterwards (reachable by the agent: the backup's restore "
                          "client writes there)")
    sample: int = Field(5, ge=1, le=1000, description="files whose checksum is compared with the catalog")
    manifest: str = Field("MANIFEST.sha256", pattern=r"^[^/\\]+$",
                          description="name of the sha256sum manifests a backup set carries (Alfresco's sets: "
                          "the content store and the dump); every file a restored manifest names is checked")
    seed: int | None = Field(None, description="seed of the random rule and of the sample (tests); None: random")
    postgres: DrillPostgres | None = Field(None, description="where a database dump is restored; None: dumps "
                                           "are checked with pg_restore --list only")
    timeout: Duration = Field(6 * 3600.0, description="a drill's restore still running after this fails")
