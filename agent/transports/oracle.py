"""Oracle status through python-oracledb (thin mode: no Oracle client needed).

No Oracle database can run on the test machines: `interpret()` is tested on recorded query
results, and `query_status()` on a real connection attempt that is refused.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from agent.core.secrets import SecretRef, library_text, resolve, without_userinfo
from agent.errors import ConfigError, ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.transports.base import AccessModel, CredentialModel, Transport


class OracleAccess(AccessModel):
    """How to stop and start an Oracle database and its replication, by commands run on its host over SSH
    (`oti_oracle`), and how to ask its status through python-oracledb.

    `{db}` in a command is replaced by `database`. Defaults follow Data Guard Broker and srvctl."""

    database: str
    stop_replication: str = "dgmgrl -silent / \"edit database '{db}' set state='APPLY-OFF'\""
    start_replication: str = "dgmgrl -silent / \"edit database '{db}' set state='APPLY-ON'\""
    stop_instance: str = "srvctl stop database -d {db} -o immediate"
    start_instance: str = "srvctl start database -d {db}"
    status_command: str = "srvctl status database -d {db}"
    dsn: str | None = Field(None, description="host:port/service for status queries through python-oracledb")
    credential: str | None = Field(None, description="a key of the config's credentials.oracle")

    def command(self, action: str) -> str:
        """The configured command of an action (stop_instance, status_command...), for this database."""
        return getattr(self, action).replace("{db}", self.database)


class OracleCredential(CredentialModel):
    """A database login for status queries."""

    user: str
    password: SecretRef


TRANSPORT = Transport("oracle", "Oracle databases: commands on their host, status through python-oracledb",
                      OracleAccess, OracleCredential)

STATUS_SQL = ("SELECT d.name, d.database_role, d.open_mode, i.status, "
              "(SELECT value FROM v$dataguard_stats WHERE name = 'apply lag') AS apply_lag "
              "FROM v$database d CROSS JOIN v$instance i")


def interpret(row: dict) -> tuple[bool, str]:
    """Judge one status row: (answers properly, Spanish description)."""
    role, mode, status = row.get("DATABASE_ROLE"), row.get("OPEN_MODE"), row.get("STATUS")
    lag = row.get("APPLY_LAG")
    if role == "PRIMARY":
        ok = status == "OPEN" and mode == "READ WRITE"
    else:   # a physical standby is healthy mounted or open read-only, applying redo
        ok = status in ("MOUNTED", "OPEN") and mode in ("MOUNTED", "READ ONLY", "READ ONLY WITH APPLY")
    text = f"{row.get('NAME')}: {role}, {mode}, instancia {status}" + (f", retraso de aplicación {lag}" if lag else "")
    return ok, text


def _query(dsn: str, user: str, password: str, timeout: float) -> dict:
    import oracledb

    try:
        with oracledb.connect(user=user, password=password, dsn=dsn, tcp_connect_timeout=timeout) as conn:
            cur = conn.cursor()
            cur.execute(STATUS_SQL)
            names = [d[0] for d in cur.description]
            return dict(zip(names, cur.fetchone(), strict=True))
    except oracledb.Error as err:
        (error,) = err.args
        code = getattr(error, "full_code", "") or ""
        if code in ("ORA-01017", "ORA-28000"):
            raise ProbeAuthFailed(f"oracle {dsn}: login as {user} refused ({code})") from None
        if "timed out" in str(error).lower():
            raise ProbeTimeout(f"oracle {dsn}: no answer within {timeout:g}s") from None
        raise ProbeUnavailable(f"oracle {without_userinfo(dsn)}: {library_text(str(error).splitlines()[0])}") from None


async def query_status(device, ctx, timeout: float = 10.0) -> tuple[bool, str]:
    """Ask the database its role, open mode and apply lag; return (healthy, description)."""
    ora = device.oracle
    if ora is None or not ora.dsn or not ora.credential:
        raise ConfigError(f"device {device.name}: oti_oracle needs dsn and credential for status queries")
    cred = ctx.config.credential("oracle", ora.credential, device.name)
    password = resolve(cred.password, base_dir=ctx.config.base_dir).get_secret_value()
    row = await asyncio.to_thread(_query, ora.dsn, cred.user, password, timeout)
    return interpret(row)
