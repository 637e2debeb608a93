"""The `wsus` and `defender` checks: Windows patch and antivirus compliance over WinRM.

`wsus` runs on the WSUS server: PowerShell's UpdateServices API lists every computer with its last
report and, for each update approved for it, the installation state (0 Unknown, 2 NotInstalled,
3 Downloaded, 4 Installed, 5 Failed, 6 InstalledPendingReboot). The trap: a computer's list also
carries updates approved for *other* groups, as Unknown — only the computer's own effective
approvals (action Install) count. `defender` runs on each Windows host: Get-MpComputerStatus; a scan
age of 4294967295 means never scanned. Both judge with the compliance policy and its exceptions.
The WinRM code path is real (agent/transports/winrm.py); with no Windows here, the tests feed it recorded
PowerShell JSON and a real HTTP endpoint that refuses the login.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from agent.core.compliance import CompliancePolicy, Facts, judge, readings
from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import ProbeUnavailable
from checks.base import Check, NoOptions, ProbeContext

NEVER = 4294967295
WSUS_SCRIPT = r"""$ErrorActionPreference = 'Stop'
$wsus = Get-WsusServer
$scope = New-Object Microsoft.UpdateServices.Administration.UpdateScope
$scope.ApprovedStates = [Microsoft.UpdateServices.Administration.ApprovedStates]::LatestRevisionApproved
$out = foreach ($c in $wsus.GetComputerTargets()) {
  $rows = foreach ($i in $c.GetUpdateInstallationInfoPerUpdate($scope)) {
    $u = $wsus.GetUpdate($i.UpdateId)
    $a = $u.GetUpdateApprovals() | Where-Object { $_.ComputerTargetGroupId -eq $i.UpdateApprovalTargetGroupId } | Select-Object -First 1
    [pscustomobject]@{ Title = $u.Title; Kb = ($u.KnowledgebaseArticles -join ','); Classification = $u.UpdateClassificationTitle;
      State = [int]$i.UpdateInstallationState; Action = [string]$i.UpdateApprovalAction; ApprovedOn = $a.CreationDate }
  }
  [pscustomobject]@{ Name = $c.FullDomainName; LastReportedStatusTime = $c.LastReportedStatusTime; Updates = @($rows) }
}
ConvertTo-Json -InputObject @($out) -Depth 4 -Compress
"""
# The SUSDB path: WSUS's public reporting views, queried on the WSUS server itself (the Windows Internal
# Database answers only on a local named pipe), one row per (computer, update approved for it).
SUSDB_QUERY = """SET NOCOUNT ON;
SELECT ct.Name, CONVERT(varchar(33), ct.LastReportedStatusTime, 126) AS LastReportedStatusTime,
       u.DefaultTitle AS Title, u.KnowledgebaseArticle AS Kb, uc.DefaultTitle AS Classification,
       uib.State, ua.Action, CONVERT(varchar(33), ua.CreationDate, 126) AS ApprovedOn
FROM PUBLIC_VIEWS.vComputerTarget ct
LEFT JOIN PUBLIC_VIEWS.vUpdateEffectiveApprovalPerComputer eap ON eap.ComputerTargetId = ct.ComputerTargetId
LEFT JOIN PUBLIC_VIEWS.vUpdateApproval ua ON ua.UpdateApprovalId = eap.UpdateApprovalId
LEFT JOIN PUBLIC_VIEWS.vUpdateInstallationInfoBasic uib
       ON uib.ComputerTargetId = ct.ComputerTargetId AND uib.UpdateId = ua.UpdateId
LEFT JOIN PUBLIC_VIEWS.vUpdate u ON u.UpdateId = ua.UpdateId
LEFT JOIN PUBLIC_VIEWS.vClassification uc ON uc.ClassificationId = u.ClassificationId"""
SUSDB_SCRIPT = r"""$ErrorActionPreference = 'Stop'
$q = @'
{query}
'@
$rows = Invoke-Sqlcmd -ServerInstance '{instance}' -Database SUSDB -Query $q
ConvertTo-Json -InputObject @($rows | Select-Object Name,LastReportedStatusTime,Title,Kb,Classification,State,Action,ApprovedOn) -Compress
"""


def susdb_computers(rows: list[dict]) -> list[dict]:
    """SUSDB rows (one per computer and approved update) grouped into the API's shape (pure)."""
    out: dict[str, dict] = {}
    for r in rows:
        c = out.setdefault(r["Name"], {"Name": r["Name"], "LastReportedStatusTime": r.get("LastReportedStatusTime"),
                                       "Updates": []})
        if r.get("Title") is not None:
            c["Updates"].append({k: r.get(k) for k in ("Title", "Kb", "Classification", "State", "Action", "ApprovedOn")})
    return list(out.values())


DEFENDER_SCRIPT = ("Get-MpComputerStatus | Select-Object AMServiceEnabled,AntivirusEnabled,RealTimeProtectionEnabled,"
                   "AntivirusSignatureLastUpdated,AntivirusSignatureAge,QuickScanAge,FullScanAge,ProductStatus,"
                   "AMRunningMode | ConvertTo-Json -Compress")
SECURITY = {"security updates", "critical updates", "actualizaciones de seguridad", "actualizaciones críticas"}


def when(value) -> datetime | None:
    """A PowerShell date in JSON: '/Date(ms)/' (Windows PowerShell 5.1) or ISO 8601 (PowerShell 7)."""
    if value in (None, ""):
        return None
    m = re.match(r"/Date\((-?\d+)", str(value))
    if m:
        ms = int(m.group(1))
        return None if ms <= 0 else datetime.fromtimestamp(ms / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.year < 1900:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def wsus_facts(computers: list[dict], now: datetime) -> dict[str, Facts]:
    """Per computer (short name, lower case): its facts from the WSUS server's answer (pure)."""
    out = {}
    for c in computers:
        name = str(c.get("Name") or "").split(".")[0].lower()
        if not name:
            continue
        missing, failed, reboot = [], [], []
        for u in c.get("Updates") or []:
            if str(u.get("Action")) != "Install":
                continue                    # approved for another group (shows as Unknown): not this computer's
            label = f"KB{u['Kb']}" if u.get("Kb") else str(u.get("Title"))
            approved = when(u.get("ApprovedOn")) or now
            days = max(0, (now - approved).days)
            state = int(u.get("State", 0))
            if state in (2, 3) and str(u.get("Classification", "")).lower() in SECURITY:
                missing.append((label, days))
            elif state == 5:
                failed.append(label)
            elif state == 6:
                reboot.append(days)
        reported = when(c.get("LastReportedStatusTime"))
        out[name] = Facts(missing=missing, failed=failed, last_report=reported, never_reported=reported is None,
                          reboot_pending_days=max(reboot) if reboot else None)
    return out


def defender_facts(status: dict, now: datetime) -> Facts:
    """A host's facts from Get-MpComputerStatus (pure)."""
    on = bool(status.get("AMServiceEnabled")) and bool(status.get("AntivirusEnabled"))
    realtime = bool(status.get("RealTimeProtectionEnabled"))
    problems = []
    if not on:
        problems.append("servicio antimalware o antivirus desactivado")
    if not realtime:
        problems.append("protección en tiempo real desactivada")
    quick = status.get("QuickScanAge")
    scan = "nunca se ha ejecutado un análisis rápido" if quick == NEVER else (
        f"último análisis rápido hace {quick} días" if quick is not None else "")
    age = status.get("AntivirusSignatureAge")
    if age is None or age == NEVER:
        updated = when(status.get("AntivirusSignatureLastUpdated"))
        age = (now - updated).days if updated else None
    return Facts(antivirus=on and realtime, antivirus_detail="; ".join(problems + [scan]) or "activo",
                 signature_age_days=age)


class WsusOptions(NoOptions):
    """Which Windows hosts WSUS should know, and where to read them."""
    hosts: list[str] = Field([], description="inventory names (or short host names) expected in WSUS: one "
                                             "missing is a finding")
    source: Literal["api", "susdb"] = Field("api", description="api: the UpdateServices PowerShell module; susdb: "
                                                               "SUSDB's public views through Invoke-Sqlcmd")
    sql_instance: str = Field(r"np:\\.\pipe\MICROSOFT##WID\tsql\query",
                              description="the SUSDB instance as seen from the WSUS server (WID by default)")
    timeout: float = Field(300.0, gt=0)


@dataclass
class WsusAnswer:
    computers: list[dict]
    expected: list[str]
    policy: CompliancePolicy
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class WsusCheck(Check):
    """Per-server patch compliance from the WSUS server (UpdateServices over WinRM)."""

    Options = WsusOptions
    description = "Windows servers' approved security updates, last report and pending reboot, read from WSUS"

    def applies(self, device: Device) -> bool:
        return device.winrm is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> WsusAnswer:
        from agent.transports.winrm import run_ps

        script = WSUS_SCRIPT if self.options.source == "api" else \
            SUSDB_SCRIPT.replace("{query}", SUSDB_QUERY).replace("{instance}", self.options.sql_instance)
        status, out, err = await ctx.blocking(run_ps, device, ctx.config, script, self.options.timeout)
        if status != 0:
            raise ProbeUnavailable(f"wsus {device.name}: PowerShell failed ({status}): {err.strip()[:300]}")
        found = parse_json_list(out, f"wsus {device.name}")
        computers = found if self.options.source == "api" else susdb_computers(found)
        return WsusAnswer(computers, self.options.hosts, ctx.config.compliance)

    def evaluate(self, raw: WsusAnswer, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        now = raw.now
        facts = wsus_facts(raw.computers, now)
        out = []
        for host, f in sorted(facts.items()):
            out += readings("wsus", host, judge(host, f, raw.policy, now))
        for expected in raw.expected:
            if expected.split(".")[0].lower() not in facts:
                out.append(Reading("compliance_ok", 0.0, State.CRITICAL, labels=(("area", "wsus"), ("host", expected)),
                                   message=f"{expected} es desconocido para WSUS: no reporta sus actualizaciones"))
        return out


class DefenderOptions(NoOptions):
    timeout: float = Field(60.0, gt=0)


@dataclass
class DefenderAnswer:
    status: dict
    policy: CompliancePolicy
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class DefenderCheck(Check):
    """Microsoft Defender on a Windows host: engine, real-time protection, signature age (over WinRM)."""

    Options = DefenderOptions
    description = "Microsoft Defender: service and real-time protection on, signatures fresh, scans run"

    def applies(self, device: Device) -> bool:
        return device.winrm is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> DefenderAnswer:
        from agent.transports.winrm import run_ps

        status, out, err = await ctx.blocking(run_ps, device, ctx.config, DEFENDER_SCRIPT, self.options.timeout)
        if status != 0:
            raise ProbeUnavailable(f"defender {device.name}: Get-MpComputerStatus failed: {err.strip()[:300]}")
        found = parse_json_list(out, f"defender {device.name}")
        return DefenderAnswer(found[0] if found else {}, ctx.config.compliance)

    def evaluate(self, raw: DefenderAnswer, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        now = raw.now
        facts = defender_facts(raw.status, now)
        out = readings("antivirus", device.name, judge(device.name, facts, raw.policy, now),
                        facts.antivirus_detail)
        if facts.signature_age_days is not None:
            out.append(Reading("antivirus_signature_age_days", float(facts.signature_age_days),
                               help="age of the antivirus signatures"))
        return out


def parse_json_list(text: str, where: str) -> list[dict]:
    """PowerShell's ConvertTo-Json: one object or a list of them."""
    try:
        data = json.loads(text.strip() or "[]")
    except json.JSONDecodeError as err:
        raise ProbeUnavailable(f"{where}: the answer is not JSON ({err.msg} at {err.pos})") from None
    return data if isinstance(data, list) else [data]
