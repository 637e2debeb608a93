"""The evidence of the restore drills (issue 17): one row per drill (simulacro de restauración).

Part of the one schema (it shares `agent/store/schema.py`'s metadata). Written only by
`agent/backups/drills.py`: which backup was picked and by which rule, where it was restored, when the
restore started and the verification ended (the measured recovery time), what was checked, whether the
scratch target was cleaned up, and how the drill ended. Never pruned: like restores, an office record
an auditor asks for.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Integer, String, Table, Text

from agent.store.schema import metadata

restore_drills = Table(
    "restore_drills", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, unique=True),   # the simulacro-restauracion run
    Column("asset", String(128), nullable=False),
    Column("backend", String(64)),
    Column("job_name", String(128)),                # the backend's job of the asset
    Column("jobs", Text),                           # the job ids restored (a chain: full, then the rest)
    Column("backup_date", DateTime(timezone=True)),
    Column("levels", Text),                         # Full + Incremental ...
    Column("volumes", Text),                        # the tapes (or archives) read, comma-separated
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("rule", String(16), nullable=False),     # ultima | aleatoria
    Column("target_kind", String(16)),              # carpeta | postgresql
    Column("target", Text),                         # the folder, and the scratch database when there is one
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("seconds", Float),                       # measured recovery time: restore + verification
    Column("objective_s", Float),                   # the recovery time the office wants (the matrix's rto)
    Column("result", String(16), nullable=False),   # ok | failed
    Column("checks", Text),                         # JSON [{check, expected, found, ok}]
    Column("cleanup", Boolean, nullable=False, default=False),
    Column("cleanup_note", Text),
    Column("error", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)
