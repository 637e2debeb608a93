"""The daemon's own sections of the config: who it is, its store, its HTTP server, its scheduler, its trap
receiver; and the duration type every section uses. `agent.core.config` gathers them into AgentConfig."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from agent.core import config_rules as rules

DEFAULT_HTTP_PORT = 9877
DEFAULT_TIMEZONE = "America/Lima"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> Any:
    """Seconds from '500ms', '30s', '5m', '1h', '1d' or a number (anything else is returned as is)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration (examples: 30, '30s', '5m', '1h', '1d')")
        return float(match.group(1)) * _UNIT_S[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
"""Seconds, written as a number or as '500ms', '30s', '5m', '1h'."""
Delay = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""A Duration that may be 0 (at once)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Model):
    """Who this agent is."""

    name: str = "oti-agent"
    site: str = "sede-central"
    timezone: Annotated[str, AfterValidator(rules.timezone)] = DEFAULT_TIMEZONE


class RetentionSection(_Model):
    """How long the store keeps what grows with time; the daemon prunes hourly and, on SQLite, truncates the
    write-ahead log. The office's records (runs and their journals, backups, restores, tapes, custody and
    access logs) are kept longer by default: they are what an auditor asks for."""

    history_days: int = Field(400, ge=1, description="readings' state changes (the monthly report's source)")
    alerts_days: int = Field(400, ge=1, description="resolved alerts and their events")
    mail_days: int = Field(90, ge=1, description="mail already sent (the outbox)")
    uptime_days: int = Field(800, ge=1, description="daily availability rows")
    runs_days: int = Field(1825, ge=1, description="finished runs with their steps, decisions and journal")
    network_events_days: int = Field(400, ge=1, description="network equipment's syslog events (configuration, "
                                     "ports, VPN)")


class StoreSection(_Model):
    """Where the agent keeps what it knows."""

    url: Annotated[str, AfterValidator(rules.store_url)] = Field(
        "sqlite:///var/oti-agent.db", description="SQLAlchemy URL (sqlite or postgresql+psycopg, no password in "
        "it); a relative SQLite path is taken from the config file's folder")
    latest_every: Duration = Field(300.0, description="rewrite a device's latest readings at least this often; "
                                   "state changes are always written at once")
    retry_every: Duration = Field(30.0, description="how often `serve` tries again to open a store it cannot write "
                                  "(a full disk), before it starts")
    lease: Duration = Field(30.0, ge=1.0, description="two agents on one PostgreSQL store: the leader's lease, "
                         "renewed every third of it; the standby takes over this long after the leader's last "
                         "renewal (a SQLite store has one agent, which always leads)")
    retention: RetentionSection = RetentionSection()


class HttpSection(_Model):
    """The daemon's HTTP server: the API (/api/v1), the web pages and /metrics, over TCP (TLS when a
    certificate is given) and over a local UNIX socket for the CLI."""

    listen: Annotated[str, AfterValidator(rules.listen_address)] = "127.0.0.1"
    port: int = Field(DEFAULT_HTTP_PORT, ge=0, le=65535)
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) to serve HTTPS; with tls_key")
    tls_key: Path | None = Field(None, description="its private key (PEM, readable by the agent's user only)")
    socket: Path | None = Field(Path("var/oti-agent.sock"), description="the local socket the CLI talks to "
                                "(who connects is known by their OS user); relative to the config's folder; "
                                "null: none")
    public_url: str | None = Field(None, pattern=r"^https?://[^\s/@]+(/\S*)?$",
                                   description="the base URL put in mailed links (default: "
                                   "http(s)://listen:port)")
    grafana_url: str | None = Field(None, pattern=r"^https?://[^\s@]+$",
                                    description="the office's Grafana dashboard, linked from the console's "
                                    "Estado page")

    @model_validator(mode="after")
    def _tls_pair(self):
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    def base_url(self) -> str:
        """The URL people reach the daemon at: `public_url`, else the listen address and port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.listen}]" if ":" in self.listen else self.listen
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"


class SchedulerSection(_Model):
    """How much runs at once."""

    max_concurrency: int = Field(64, ge=1, le=4096, description="probes in flight at once, all groups together")
    ssh_threads: int = Field(16, ge=1, le=256, description="threads for blocking SSH probes")


class TrapsSection(_Model):
    """The daemon's SNMP notification receiver: a trap from a device of the inventory polls that device at once,
    so its alert opens or resolves in seconds instead of at the next interval; other senders are counted and
    dropped."""

    enabled: bool = False
    listen: Annotated[str, AfterValidator(rules.listen_address)] = "0.0.0.0"
    port: int = Field(162, ge=0, le=65535, description="162 needs root or CAP_NET_BIND_SERVICE")
    credentials: list[str] | None = Field(None, description="the credentials.snmp entries whose community or v3 "
                                          "user (with its engine_id) traps may carry; default: all")
    min_gap: float = Field(2.0, ge=0, le=600, description="seconds: traps from one device closer than this cause "
                           "one poll, not one each (a flapping port sends dozens)")


class SyslogSection(_Model):
    """The daemon's syslog receiver (S.04.03.02_P flow 3): the network equipment's configuration changes, port
    changes and VPN logins, recognised by the patterns of agent/monitoring/syslog_patterns.yaml and the files
    named here, kept for the monthly report. Messages from an address no device of the inventory has are
    counted and dropped; so are those that find the queue full."""

    enabled: bool = False
    listen: Annotated[str, AfterValidator(rules.listen_address)] = "0.0.0.0"
    port: int = Field(514, ge=0, le=65535, description="UDP, and TCP when `tcp`; 514 needs root or "
                      "CAP_NET_BIND_SERVICE (1514 is the usual unprivileged choice)")
    tcp: bool = True
    queue: int = Field(10000, ge=10, le=1_000_000, description="messages waiting to be classified, at most")
    patterns: list[Path] = Field([], description="YAML files of extra patterns, relative to the config's folder")
