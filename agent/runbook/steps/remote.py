"""Step kinds that act on hosts: `ssh` (a command per target), `ansible` (a playbook on all targets)."""

from __future__ import annotations

import asyncio
import os
import posixpath
import sys
from pathlib import Path
from typing import Literal

from jinja2 import UndefinedError
from pydantic import Field, model_validator

from agent.core.inventory import Device
from agent.errors import ConfigError, StepFailed
from agent.runbook import template as templates
from agent.runbook.kinds import StepContext, StepKind, StepOptions


class SshOptions(StepOptions):
    """The command to run."""
    command: str = Field(description="Jinja2: params, facts, run_id and target (the device) are available; "
                                     "put every value through `| q`")
    via: Literal["target", "hypervisor"] = Field(
        "target", description="run on the target itself, or on its oti_hypervisor (to start a virtual server)")
    ok_exit: list[int] = [0]
    connect_timeout: float = Field(10.0, gt=0, le=300)
    paths_under: list[str] = Field([], description="folders (templates) every params.<x> and facts.<x> the "
                                   "command inserts must lie strictly under; none may be /")

    @model_validator(mode="after")
    def _paths_named(self) -> SshOptions:
        unnamed = not templates.syntax_error(self.command) and templates.references(self.command) is None
        if self.paths_under and unnamed:
            raise ValueError("with paths_under, the command must name each value it inserts "
                             "(params.<name>, facts.<key>), so that each can be checked")
        return self


class Ssh(StepKind):
    """Run a command on each target over SSH (host keys checked), in parallel up to the step's `parallel`.

    A destructive command names the folders it may touch: with `paths_under: [/opt/alfresco]`, every
    value the command inserts from `params` or `facts` must be an absolute path that, once `.` and
    `..` are resolved, lies strictly under one of those folders (a folder that resolves to `/` allows
    nothing). Parameters are checked by `plan`, before anything runs; facts (known only once an earlier
    step found them) just before the command is sent. A value outside fails the step unsent."""

    Options = SshOptions
    needs_targets = True
    estimate_s = 2.0

    def describe(self, options: SshOptions) -> str:
        where = " (en su hipervisor)" if options.via == "hypervisor" else ""
        return f"ssh{where}: {options.command}"

    def param_problems(self, options: SshOptions, params: dict) -> list[str]:
        if not options.paths_under:
            return []
        try:
            roots = [templates.render(r, params=params) for r in options.paths_under]
        except UndefinedError:
            return []                          # a root from facts: checked when the step runs
        named = {("params", n): params.get(n) for s, n in templates.references(options.command) if s == "params"}
        return [f"{where} must lie strictly under {_shown(roots, ' or ')} (paths_under); give a path inside"
                for where in _outside(named, roots)]

    async def run(self, ctx: StepContext, target: Device) -> str:
        host = target
        if ctx.options.via == "hypervisor":
            host = ctx.settings.inventory.by_name.get(target.hypervisor or "")
            if host is None:
                raise ConfigError(f"device {target.name}: oti_hypervisor {target.hypervisor!r} is not in the inventory")
        if host.ssh is None:
            raise ConfigError(f"device {host.name} has no oti_ssh in the inventory")
        if ctx.options.paths_under:
            _check_paths(ctx, target)
        command = ctx.render(ctx.options.command, target)
        status, out, err = await ctx.probes.ssh(host, command, ctx.options.connect_timeout)
        if status not in ctx.options.ok_exit:
            detail = (err or out).strip().splitlines()[-1:] or [""]
            raise StepFailed(f"`{command}` en {host.name} terminó con {status}: {detail[0]}")
        return f"`{command}` en {host.name}: {(out.strip().splitlines() or ['ok'])[-1]}"


def _check_paths(ctx: StepContext, target: Device) -> None:
    """Refuse, before the command is sent, a parameter or fact it inserts that is outside paths_under."""
    roots = [ctx.render(r, target) for r in ctx.options.paths_under]
    facts = ctx.journal.facts(ctx.run_id)
    values = {(s, n): (ctx.params if s == "params" else facts).get(n)
              for s, n in templates.references(ctx.options.command)}
    bad = _outside(values, roots)
    if bad:
        raise StepFailed(f"{'; '.join(bad)}: fuera de {_shown(roots, ' o ')} (paths_under); "
                         "el comando no se ejecutó")


def _outside(values: dict[tuple[str, str], object], roots: list[str]) -> list[str]:
    """The values (by `scope.name`) that are not absolute paths strictly under one of `roots`."""
    bases = [b for b in map(_normal, roots) if b not in (None, "/")]     # `/` would allow everything
    out = []
    for scope, name in sorted(values):
        path = _normal(values[scope, name])
        if path is None or not any(path.startswith(b + "/") for b in bases):
            out.append(f"{scope}.{name}={values[scope, name]!r}")
    return out


def _shown(roots: list[str], joiner: str) -> str:
    """The roots as checked (resolved), for a message."""
    return joiner.join(_normal(r) or repr(r) for r in roots)


def _normal(value: object) -> str | None:
    """An absolute path with `.`, `..` and repeated slashes resolved; None if the value is not one."""
    if not isinstance(value, str) or not value.startswith("/"):
        return None
    return "/" + posixpath.normpath(value).lstrip("/")


class AnsibleOptions(StepOptions):
    """The playbook to run."""
    playbook: str = Field(description="path, relative to the runbooks folder")
    extravars: dict = {}
    forks: int = Field(50, ge=1, le=500)


class Ansible(StepKind):
    """Run a playbook through ansible-runner on the step's targets, with the agent's inventory file."""

    Options = AnsibleOptions
    needs_targets = True
    batch = True
    estimate_s = 10.0

    def describe(self, options: AnsibleOptions) -> str:
        return f"ansible-playbook {options.playbook}"

    async def run(self, ctx: StepContext, target) -> str:
        return await asyncio.to_thread(self._run, ctx)

    def _run(self, ctx: StepContext) -> str:
        import tempfile

        import ansible_runner

        cfg = ctx.settings.config
        playbook = (cfg.path(cfg.runbooks_dir) / ctx.options.playbook).resolve()
        if not playbook.exists():
            raise ConfigError(f"step {ctx.step.id}: playbook {playbook} does not exist")
        names = [t.name for t in ctx.targets]
        with tempfile.TemporaryDirectory(prefix="oti-ansible-") as tmp:
            Path(tmp, "project").mkdir()
            result = ansible_runner.run(
                private_data_dir=tmp, playbook=str(playbook), inventory=str(ctx.settings.inventory.path),
                limit=",".join(names), extravars={**ctx.options.extravars, "oti_run_id": ctx.run_id},
                forks=ctx.options.forks, quiet=True, suppress_env_files=True,
                envvars={"ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1", **_ssh_env(ctx),
                         # ansible-runner runs `ansible-playbook` by name: the one beside this interpreter
                         "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
            stats = result.stats or {}
            why = [f"{e['event_data'].get('host')}: {str(e['event_data'].get('res', {}).get('msg', ''))[:200]}"
                   for e in result.events if e.get("event") in ("runner_on_failed", "runner_on_unreachable")]
        failed = sorted(set(stats.get("failures", {})) | set(stats.get("dark", {})))
        if result.rc != 0 or failed:
            raise StepFailed(f"ansible {Path(playbook).name}: {result.status}, rc={result.rc}; "
                             f"fallaron: {', '.join(failed) or '-'}" + (f" ({why[0]})" if why else ""))
        return f"ansible {Path(playbook).name} en {len(names)} equipos: {result.status}"


def _ssh_env(ctx: StepContext) -> dict[str, str]:
    """Give Ansible the targets' SSH credential: user, key and known_hosts (host keys stay checked)."""
    creds = {t.ssh.credential for t in ctx.targets if t.ssh}
    if len(creds) != 1:
        return {}
    cred = ctx.settings.config.credentials.ssh.get(creds.pop())
    if cred is None:
        return {}
    cfg = ctx.settings.config
    return {"ANSIBLE_REMOTE_USER": cred.user, "ANSIBLE_PRIVATE_KEY_FILE": str(cfg.path(cred.key_file)),
            "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={cfg.path(cred.known_hosts)} -o StrictHostKeyChecking=yes "
                                "-o KexAlgorithms=curve25519-sha256"}
