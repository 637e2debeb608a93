"""The `linux_updates` check: pending security updates and a pending reboot on a Linux host, over SSH.

Debian/Ubuntu: `apt-get -s dist-upgrade` (a simulation: nothing is installed) lists what would be
upgraded and from which archive; an update from a `-security` archive is a security update.
RHEL family: `dnf updateinfo list --security`. A reboot is pending when /var/run/reboot-required
exists (its age is how long) or `needs-restarting -r` says so. How long each update has been
missing is counted from the first time this agent saw it (kept in the store), and judged against
the compliance policy and its exceptions (agent/compliance.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import Field

from agent.core.compliance import CompliancePolicy, Facts, judge, readings
from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.errors import ProbeUnavailable
from checks.base import Check, NoOptions, ProbeContext

SCRIPT = r"""LC_ALL=C; export LC_ALL
if command -v apt-get >/dev/null 2>&1; then echo '##apt'; {apt} 2>/dev/null | grep '^Inst '
elif command -v dnf >/dev/null 2>&1; then echo '##dnf'; dnf -q updateinfo list --security --available 2>/dev/null
else echo '##none'; fi
echo '##reboot'
if [ -f /var/run/reboot-required ]; then echo "since $(stat -c %Y /var/run/reboot-required)"
elif command -v needs-restarting >/dev/null 2>&1 && ! needs-restarting -r >/dev/null 2>&1; then echo pending; fi
echo '##now'; date +%s
"""
_APT = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+) (.*?) \[[^\]]*\]\)")
_DNF = re.compile(r"^(\S+)\s+(\S*[Ss]ec\S*|Critical/Sec\.|Important/Sec\.|Moderate/Sec\.|Low/Sec\.)\s+(\S+)")


class LinuxUpdatesOptions(NoOptions):
    """How to ask for updates (the defaults suit Debian and RHEL hosts)."""

    apt_command: str = Field("apt-get -s -o Debug::NoLocking=1 dist-upgrade",
                             description="the apt simulation to run (its `Inst` lines are read)")
    timeout: float = Field(120.0, gt=0)


@dataclass
class Found:
    """What the host said."""

    manager: str
    security: list[str] = field(default_factory=list)     # packages with a security update pending
    other: int = 0
    reboot_since: datetime | None = None
    reboot_pending: bool = False
    now: datetime | None = None               # the host's clock (the reboot file's age is the host's)
    checked_at: datetime | None = None        # the agent's clock (first sight of an update is the agent's)
    first_seen: dict[str, datetime] = field(default_factory=dict)
    policy: CompliancePolicy | None = None


def parse(text: str) -> Found:
    """Read the probe script's output (pure)."""
    section, found = "", Found(manager="none")
    for line in text.splitlines():
        if line.startswith("##"):
            section = line[2:].strip()
            if section in ("apt", "dnf", "none"):
                found.manager = section
            continue
        if section == "apt":
            m = _APT.match(line)
            if m:
                if "-security" in m.group(4).lower() or "security" in m.group(4).split(",")[-1].lower():
                    found.security.append(m.group(1))
                else:
                    found.other += 1
        elif section == "dnf":
            m = _DNF.match(line.strip())
            if m:
                found.security.append(m.group(3))
        elif section == "reboot" and line.strip():
            found.reboot_pending = True
            if line.startswith("since "):
                found.reboot_since = datetime.fromtimestamp(int(line.split()[1]), UTC)
        elif section == "now" and line.strip().isdigit():
            found.now = datetime.fromtimestamp(int(line.strip()), UTC)
    return found


class LinuxUpdatesCheck(Check):
    """Pending security updates and reboot of a Linux host, judged by the compliance policy."""

    Options = LinuxUpdatesOptions
    description = "security updates pending and reboot required on a Linux host (apt or dnf), over SSH"

    def applies(self, device: Device) -> bool:
        return device.ssh is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> Found:
        script = SCRIPT.replace("{apt}", self.options.apt_command)
        status, out, err = await ctx.ssh(device, script, self.options.timeout)
        found = parse(out)
        if found.manager == "none":
            raise ProbeUnavailable(f"{device.name}: neither apt-get nor dnf found ({err.strip()[:200]})")
        found.checked_at = datetime.now(UTC)
        found.first_seen = await ctx.blocking(ctx.store().first_seen, device.name, found.security, found.checked_at)
        found.policy = ctx.config.compliance
        return found

    def evaluate(self, raw: Found, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        # each age on the clock that set its start: never the host's now against the agent's first sight
        seen_at = raw.checked_at or datetime.now(UTC)
        now = raw.now or seen_at
        facts = Facts(missing=[(p, (seen_at - raw.first_seen.get(p, seen_at)).days) for p in raw.security],
                      reboot_pending_days=(now - raw.reboot_since).days if raw.reboot_since
                      else (0 if raw.reboot_pending else None))
        findings = judge(device.name, facts, raw.policy or CompliancePolicy(), seen_at)
        return [Reading("updates_security_pending", float(len(raw.security)), help="security updates pending"),
                Reading("updates_other_pending", float(raw.other), help="other updates pending"),
                Reading("reboot_required", 1.0 if raw.reboot_pending else 0.0, help="1 if a reboot is pending"),
                *readings("parches", None, findings)]
