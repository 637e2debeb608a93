"""Patch and antivirus compliance (S.04.03.02_P flow 2, activities 4–10): the policy, its exceptions,
and the verdict per host with its reasons.

A probe reports what it found on a host as `Facts` (missing security updates and how long they
have been missing, last report, reboot pending since, antivirus state); `judge` turns them into
findings against the policy. An exception exempts one host from one rule until a date, with a
reason and who granted it; once expired it stops counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.core.results import Reading, State

Rule = Literal["updates", "report", "reboot", "failed", "antivirus", "signatures"]
RULES_ES = {"updates": "actualizaciones de seguridad pendientes", "report": "reporte reciente",
            "reboot": "reinicio pendiente", "failed": "actualizaciones fallidas",
            "antivirus": "antivirus activo con protección en tiempo real", "signatures": "firmas del antivirus"}


class ComplianceException(BaseModel):
    """A host exempt from a rule until a date."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str
    rule: Rule
    until: date
    reason: str = Field(min_length=1)
    granted_by: str = Field(min_length=1)


class CompliancePolicy(BaseModel):
    """When a host is compliant (the defaults follow common practice; the office sets its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_missing_days: int = Field(14, ge=0, description="an approved security/critical update may be missing "
                                                        "this many days")
    max_report_age_days: int = Field(7, ge=0, description="the host reported (or was read) within this many days")
    max_reboot_pending_days: int = Field(3, ge=0)
    max_signature_age_days: int = Field(3, ge=0, description="antivirus signatures younger than this")
    exceptions: list[ComplianceException] = []


@dataclass
class Facts:
    """What a probe found on one host; None means it could not tell."""

    missing: list[tuple[str, int]] | None = None     # (update, days missing since approved or published)
    failed: list[str] = field(default_factory=list)
    last_report: datetime | None = None
    never_reported: bool = False                     # known to the server, but it never reported
    reboot_pending_days: int | None = None           # 0: pending since today; None: not pending
    antivirus: bool | None = None                    # engine on with real-time protection
    antivirus_detail: str = ""
    signature_age_days: int | None = None


@dataclass
class Finding:
    rule: Rule
    ok: bool
    detail: str
    exempt: str = ""              # why it does not count (an active exception)


def judge(host: str, facts: Facts, policy: CompliancePolicy, now: datetime | None = None) -> list[Finding]:
    """The findings of one host at `now`; a host is compliant when every finding is ok or exempt."""
    now = now or datetime.now(UTC)
    today = now.date()
    out: list[Finding] = []
    if facts.missing is not None:
        late = [(u, d) for u, d in facts.missing if d > policy.max_missing_days]
        out.append(Finding("updates", not late, (f"{len(late)} pendiente(s) hace más de {policy.max_missing_days} "
                                                 f"días: " + ", ".join(f"{u} ({d} d)" for u, d in late[:5]))
                           if late else f"{len(facts.missing)} pendiente(s) dentro del plazo"))
    if facts.failed:
        out.append(Finding("failed", False, "fallidas: " + ", ".join(facts.failed[:5])))
    if facts.never_reported:
        out.append(Finding("report", False, "nunca ha reportado su estado"))
    elif facts.last_report is not None:
        age = (now - facts.last_report).days
        out.append(Finding("report", age <= policy.max_report_age_days, f"último reporte hace {age} días"))
    if facts.reboot_pending_days is not None:
        out.append(Finding("reboot", facts.reboot_pending_days <= policy.max_reboot_pending_days,
                           f"reinicio pendiente desde hace {facts.reboot_pending_days} días"))
    if facts.antivirus is not None:
        out.append(Finding("antivirus", facts.antivirus, facts.antivirus_detail))
    if facts.signature_age_days is not None:
        out.append(Finding("signatures", facts.signature_age_days <= policy.max_signature_age_days,
                           f"firmas de hace {facts.signature_age_days} días"))
    for f in out:
        if not f.ok:
            active = [e for e in policy.exceptions if e.host == host and e.rule == f.rule and e.until >= today]
            if active:
                e = active[0]
                f.exempt = f"excepción hasta {e.until:%d/%m/%Y} ({e.reason}; autorizó {e.granted_by})"
    return out


def compliant(findings: list[Finding]) -> bool:
    return all(f.ok or f.exempt for f in findings)


def readings(area: str, host: str | None, findings: list[Finding], extra: str = "") -> list[Reading]:
    """`compliance_ok` (CRITICAL with the reasons when the host does not comply) and one
    `compliance_rule_ok` per rule; `host` labels a verdict read on another device (a WSUS server's)."""
    ok = compliant(findings)
    reasons = "; ".join(f"{RULES_ES[f.rule]}: {f.detail}" + (f" — {f.exempt}" if f.exempt else "")
                        for f in findings if not f.ok)
    labels = (("area", area),) + ((("host", host),) if host else ())
    out = [Reading("compliance_ok", 1.0 if ok else 0.0, State.OK if ok else State.CRITICAL, labels=labels,
                   message=(reasons or extra), help="1 if the host meets the policy")]
    out += [Reading("compliance_rule_ok", 1.0 if f.ok or f.exempt else 0.0, labels=labels + (("rule", f.rule),),
                    message=f.detail + (f" — {f.exempt}" if f.exempt else "")) for f in findings]
    return out
