"""Antivirus compliance without Windows: `clamav` on Linux hosts over SSH, and `av_console` for the
exports of the management consoles (ESET PROTECT, Kaspersky, Trend Micro Apex, Symantec SEPM...).

`clamav`: the daemon running, and the signature date that `clamscan --version` prints
("ClamAV 1.0.7/27470/Wed Nov 25 08:19:59 2026"). `av_console`: a CSV the console exports, read
through a column mapping in the config — no code per product. A file that lacks a mapped column is
a finding that names the file and the columns, never a crash.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent.core.compliance import CompliancePolicy, Facts, judge, readings
from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import ProbeUnavailable
from checks.base import Check, NoOptions, ProbeContext

CLAM_SCRIPT = r"""LC_ALL=C; export LC_ALL
echo "##daemon"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then systemctl is-active clamav-daemon 2>/dev/null
elif pgrep -x clamd >/dev/null 2>&1; then echo active; else echo inactive; fi
echo "##version"; clamscan --version 2>/dev/null || clamdscan --version 2>/dev/null || echo missing
"""


def parse_clamav(text: str) -> tuple[bool, datetime | None, str]:
    """(daemon running, signature date, version line) from the probe script's output (pure)."""
    section, running, sigs, version = "", False, None, ""
    for line in text.splitlines():
        if line.startswith("##"):
            section = line[2:].strip()
            continue
        if section == "daemon" and line.strip():
            running = line.strip() == "active"
        elif section == "version" and line.strip():
            version = line.strip()
            parts = version.split("/")
            if len(parts) >= 3:
                try:
                    sigs = datetime.strptime(parts[2].strip(), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
                except ValueError:
                    sigs = None
    return running, sigs, version


@dataclass
class ClamAnswer:
    text: str
    policy: CompliancePolicy
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class ClamavCheck(Check):
    """ClamAV on a Linux host: daemon running, signatures fresh (over SSH)."""

    description = "ClamAV on a Linux host: clamd running and signatures younger than the policy allows"

    def applies(self, device: Device) -> bool:
        return device.ssh is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> ClamAnswer:
        _status, out, _err = await ctx.ssh(device, CLAM_SCRIPT, 30.0)
        return ClamAnswer(out, ctx.config.compliance)

    def evaluate(self, raw: ClamAnswer, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        running, sigs, version = parse_clamav(raw.text)
        if version == "missing":
            return [Reading("compliance_ok", 0.0, State.CRITICAL, labels=(("area", "antivirus"), ("host", device.name)),
                            message="ClamAV no está instalado")]
        facts = Facts(antivirus=running, antivirus_detail="clamd activo" if running else "clamd detenido",
                      signature_age_days=(raw.now - sigs).days if sigs else None)
        return readings("antivirus", device.name, judge(device.name, facts, raw.policy, raw.now), version)


class ColumnMap(BaseModel):
    """Which column of the export says what (names exactly as the console writes them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str
    protected: str | None = Field(None, description="column whose value tells the agent is working")
    protected_values: list[str] = Field(["yes", "true", "sí", "si", "ok", "protected", "protegido", "enabled",
                                         "activo", "1"], description="values meaning it is (case-insensitive)")
    realtime: str | None = None
    signature_date: str | None = None
    date_format: str = Field("%Y-%m-%d %H:%M:%S", description="strptime format of the date columns")


class ConsoleOptions(NoOptions):
    """Where the export is and how to read it."""

    file: Path = Field(description="the CSV the console exports (relative to the config file)")
    product: str = Field("consola", description="for the messages: ESET PROTECT, Kaspersky Security Center...")
    columns: ColumnMap
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    max_age_hours: float = Field(36.0, gt=0, description="an export older than this is stale")


@dataclass
class ConsoleAnswer:
    rows: list[dict]
    missing: list[str]
    file: Path
    age_h: float
    policy: CompliancePolicy
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class AvConsoleCheck(Check):
    """Antivirus state per host from a management console's CSV export, through a column mapping."""

    Options = ConsoleOptions
    description = "antivirus state per host from a console's CSV export (ESET, Kaspersky, Trend Micro, SEPM...)"

    async def collect(self, device: Device, ctx: ProbeContext) -> ConsoleAnswer:
        path = ctx.config.path(self.options.file)
        try:
            raw = path.read_bytes()
            age_h = (datetime.now(UTC).timestamp() - path.stat().st_mtime) / 3600
        except OSError as err:
            raise ProbeUnavailable(f"{self.options.product}: cannot read the export {path}: {err.strerror}") from None
        try:
            text = raw.decode(self.options.encoding)
        except UnicodeDecodeError:
            text = raw.decode("latin-1")           # consoles on Windows often export in ANSI
        reader = csv.DictReader(io.StringIO(text), delimiter=self.options.delimiter)
        wanted = [c for c in (self.options.columns.host, self.options.columns.protected,
                              self.options.columns.realtime, self.options.columns.signature_date) if c]
        header = reader.fieldnames or []
        missing = [c for c in wanted if c not in header]
        return ConsoleAnswer([] if missing else list(reader), missing, path, age_h, ctx.config.compliance)

    def evaluate(self, raw: ConsoleAnswer, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        o, cols = self.options, self.options.columns
        if raw.missing:
            return [Reading("av_console_ok", 0.0, State.CRITICAL, labels=(("console", o.product),),
                            message=f"{raw.file}: faltan las columnas {', '.join(raw.missing)} "
                                    f"(revise la exportación o columns en la configuración)")]
        out = [Reading("av_console_ok", 1.0 if raw.age_h <= o.max_age_hours else 0.0,
                       State.OK if raw.age_h <= o.max_age_hours else State.WARNING, labels=(("console", o.product),),
                       message="" if raw.age_h <= o.max_age_hours else
                       f"{raw.file}: exportación de hace {raw.age_h:.0f} h")]
        yes = {v.lower() for v in cols.protected_values}
        for row in raw.rows:
            host = (row.get(cols.host) or "").strip()
            if not host:
                continue
            protected = (row.get(cols.protected) or "").strip().lower() in yes if cols.protected else True
            realtime = (row.get(cols.realtime) or "").strip().lower() in yes if cols.realtime else True
            age = None
            if cols.signature_date and (row.get(cols.signature_date) or "").strip():
                try:
                    signed = datetime.strptime(row[cols.signature_date].strip(), cols.date_format).replace(tzinfo=UTC)
                    age = (raw.now - signed).days
                except ValueError:
                    age = None
            detail = "; ".join(x for x in (
                "" if protected else f"{cols.protected}: {row.get(cols.protected)}",
                "" if realtime else f"{cols.realtime}: {row.get(cols.realtime)}") if x) or "protegido"
            facts = Facts(antivirus=protected and realtime, antivirus_detail=detail, signature_age_days=age)
            out += readings("antivirus", host, judge(host, facts, raw.policy, raw.now))
        return out
