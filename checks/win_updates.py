"""The `win_updates` check: a Windows server's own view of its updates, through Ansible.

The per-server path of the WSUS issue: ansible-runner runs `ansible.windows.win_updates` with
`state: searched` (nothing is installed) on the host, over WinRM with the agent's credential, and
reads `updates`, `found_update_count` and `reboot_required`. How long each update has been missing
counts from the first time the agent saw it, as for Linux hosts. Needs the `ansible.windows`
collection on the agent's machine; without it the finding says how to install it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from agent.core.compliance import CompliancePolicy, Facts, judge, readings
from agent.core.inventory import Device
from agent.core.results import Reading, State
from agent.core.secrets import resolve
from agent.errors import ConfigError, ProbeAuthFailed, ProbeUnavailable
from checks.base import Check, NoOptions, ProbeContext


class WinUpdatesOptions(NoOptions):
    categories: list[str] = Field(["SecurityUpdates", "CriticalUpdates"], description="win_updates category_names")
    timeout: float = Field(900.0, gt=0, description="a Windows Update search can take minutes")


def parse_result(res: dict) -> tuple[list[str], list[str], bool]:
    """(updates found, updates that failed, reboot required) from win_updates' result (pure)."""
    found, failed = [], []
    for update in (res.get("updates") or {}).values():
        label = f"KB{update['kb'][0]}" if update.get("kb") else str(update.get("title"))
        if update.get("failure_hresult_code"):
            failed.append(label)
        elif not update.get("installed"):
            found.append(label)
    return found, failed, bool(res.get("reboot_required"))


@dataclass
class WinUpdatesAnswer:
    found: list[str]
    failed: list[str]
    reboot: bool
    first_seen: dict[str, datetime]
    policy: CompliancePolicy
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class WinUpdatesCheck(Check):
    """Updates a Windows server still needs, searched on the server itself (Ansible win_updates)."""

    Options = WinUpdatesOptions
    description = "Windows Update search on the server itself (ansible.windows.win_updates, state searched)"

    def applies(self, device: Device) -> bool:
        return device.winrm is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> WinUpdatesAnswer:
        res = await ctx.blocking(self._search, device, ctx)
        found, failed, reboot = parse_result(res)
        first = await ctx.blocking(ctx.store().first_seen, device.name, found, datetime.now(UTC))
        return WinUpdatesAnswer(found, failed, reboot, first, ctx.config.compliance)

    def _search(self, device: Device, ctx: ProbeContext) -> dict:
        import ansible_runner

        cfg = ctx.config
        cred = cfg.credential("winrm", device.winrm.credential, device.name)
        refused = device.winrm.credential_problems(cred)   # Basic over plain http: as the WinRM transport says
        if refused:
            raise ConfigError(f"win_updates {device.name}: {refused[0][1]}")
        hostvars = {"ansible_connection": "winrm", "ansible_host": device.address, "ansible_port": device.winrm.port,
                    "ansible_winrm_scheme": device.winrm.scheme, "ansible_user": cred.user,
                    "ansible_password": resolve(cred.password, base_dir=cfg.base_dir).get_secret_value(),
                    "ansible_winrm_transport": cred.transport, "ansible_winrm_server_cert_validation": "validate"}
        if cred.ca_file:
            hostvars["ansible_winrm_ca_trust_path"] = str(cfg.path(cred.ca_file))
        with tempfile.TemporaryDirectory(prefix="oti-winupd-") as tmp:   # the password's file dies with it
            result = ansible_runner.run(
                private_data_dir=tmp, host_pattern=device.name, module="ansible.windows.win_updates",
                module_args=f"state=searched category_names={','.join(self.options.categories)}",
                inventory={"all": {"hosts": {device.name: hostvars}}}, quiet=True, suppress_env_files=True,
                timeout=int(self.options.timeout), envvars={"ANSIBLE_NOCOLOR": "1",
                                                            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
            events = list(result.events)
        for e in events:
            if e.get("event") == "runner_on_ok":
                return e["event_data"].get("res", {})
        why = next((str(e["event_data"].get("res", {}).get("msg", "")) for e in events
                    if e.get("event") in ("runner_on_failed", "runner_on_unreachable")), "")
        stdout = " ".join(str(e.get("stdout", "")) for e in events)
        text = f"{why} {stdout}".lower()
        if "resolve module/action" in text or "cannot resolve 'ansible.windows" in text:
            raise ProbeUnavailable(f"win_updates {device.name}: the ansible.windows collection is not installed "
                                   "(ansible-galaxy collection install ansible.windows)")
        if any(k in why.lower() for k in ("credentials", "unauthorized", "401")):
            raise ProbeAuthFailed(f"win_updates {device.name}: login as {cred.user} refused")
        raise ProbeUnavailable(f"win_updates {device.name}: {(why or stdout)[:300] or result.status}")

    def evaluate(self, raw: WinUpdatesAnswer, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        facts = Facts(missing=[(u, (raw.now - raw.first_seen.get(u, raw.now)).days) for u in raw.found],
                      failed=raw.failed, reboot_pending_days=0 if raw.reboot else None)
        out = readings("parches", device.name, judge(device.name, facts, raw.policy, raw.now))
        out.append(Reading("updates_security_pending", float(len(raw.found)), help="security updates pending"))
        return out
