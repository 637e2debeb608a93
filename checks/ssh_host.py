"""The `ssh_host` check: disks, memory, load and named services of a Linux host, over SSH.

paramiko runs in the probe thread pool. Host keys are checked against the credential's
known_hosts file only (RejectPolicy: an unknown or changed key is refused, never added).
Services are checked with `systemctl is-active` where systemd runs, else by process name.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

import paramiko
from pydantic import Field

from agent.errors import ConfigError, ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.inventory import Device
from agent.results import Reading, State
from agent.secrets import resolve
from checks.base import Check, ProbeContext
from checks.hostmetrics import HostOptions, HostStats, host_readings

SERVICE_NAME = re.compile(r"^[A-Za-z0-9@._:+-]{1,128}$")

_SCRIPT = r"""LC_ALL=C; export LC_ALL
echo '##df'; df -P -B1 2>/dev/null
echo '##mem'; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo '##load'; cut -d' ' -f1 /proc/loadavg; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
echo '##svc'
for s in {services}; do
  if [ -d /run/systemd/system ]; then echo "$s systemd $(systemctl is-active "$s" 2>/dev/null)";
  elif pgrep -x "$s" >/dev/null 2>&1; then echo "$s process active";
  else echo "$s process inactive"; fi
done
"""


def run_ssh(device: Device, ctx: ProbeContext, command: str, timeout: float) -> str:
    """Run one command on the device over SSH with strict host-key checking; return stdout (blocking)."""
    return run_command(device, ctx, command, timeout)[1]


def run_command(device: Device, ctx: ProbeContext, command: str, timeout: float) -> tuple[int, str, str]:
    """Run one command over SSH with strict host-key checking; return (exit status, stdout, stderr)."""
    access = device.ssh
    cred = ctx.config.credentials.ssh.get(access.credential)
    if cred is None:
        raise ConfigError(f"device {device.name}: SSH credential {access.credential!r} is not in the config's "
                          f"credentials.ssh (known: {', '.join(ctx.config.credentials.ssh) or 'none'})")
    where = f"{device.name} ({device.address}:{access.port})"
    client = paramiko.SSHClient()
    known_hosts = ctx.config.path(cred.known_hosts)
    try:
        # only this host's entries: parsing a 100-line known_hosts per connection costs more CPU than
        # the handshake's Python side when a runbook step fans out to a hundred hosts
        name = access_name(device.address, access.port)
        for keytype, key in (_known_hosts(known_hosts).lookup(name) or {}).items():
            client.get_host_keys().add(name, keytype, key)
        pkey = _private_key(ctx.config.path(cred.key_file), cred.passphrase, ctx.config.base_dir)
    except OSError as err:
        raise ProbeAuthFailed(f"ssh {where}: cannot read {err.filename}: {err.strerror}") from None
    except paramiko.SSHException as err:
        raise ProbeAuthFailed(f"ssh {where}: cannot load the key of SSH credential {access.credential!r}: {err}") from None
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(device.address, port=access.port, username=cred.user, pkey=pkey,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       allow_agent=False, look_for_keys=False)
        _stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
        return stdout.channel.recv_exit_status(), out, err
    except paramiko.BadHostKeyException:
        raise ProbeAuthFailed(f"ssh {where}: HOST KEY MISMATCH against {known_hosts}; if the host was "
                              "reinstalled, verify its new key and update known_hosts") from None
    except paramiko.AuthenticationException:
        raise ProbeAuthFailed(f"ssh {where}: login as {cred.user} refused; check the key of SSH credential "
                              f"{access.credential!r}") from None
    except paramiko.SSHException as err:
        if "known_hosts" in str(err):
            raise ProbeAuthFailed(f"ssh {where}: host key not in {known_hosts}; add it (ssh-keyscan) after "
                                  "verifying it") from None
        raise ProbeUnavailable(f"ssh {where}: {err}") from None
    except (TimeoutError, socket.timeout):
        raise ProbeTimeout(f"ssh {where}: no answer within {timeout:g}s") from None
    except OSError as err:
        raise ProbeUnavailable(f"ssh {where}: {err.strerror or err}") from None
    finally:
        client.close()


def access_name(address: str, port: int) -> str:
    """Return the name known_hosts files use for a host: `addr`, or `[addr]:port` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def _known_hosts(path: Path) -> paramiko.HostKeys:
    """Return the parsed known_hosts file, cached until the file changes."""
    st = path.stat()
    return _load_known_hosts(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _load_known_hosts(path: str, _mtime: int, _size: int) -> paramiko.HostKeys:
    return paramiko.HostKeys(path)


def _private_key(path: Path, passphrase, base_dir: Path) -> paramiko.PKey:
    """Return the credential's private key, parsed once per file version (the passphrase is resolved
    only when the file is read)."""
    st = path.stat()
    with _KEY_LOCK:
        key = _KEYS.get((str(path), st.st_mtime_ns))
        if key is None:
            secret = resolve(passphrase, base_dir=base_dir).get_secret_value() if passphrase else None
            key = paramiko.PKey.from_path(path, secret)
            _KEYS[(str(path), st.st_mtime_ns)] = key
        return key


_KEYS: dict[tuple[str, int], paramiko.PKey] = {}
_KEY_LOCK = threading.Lock()


def parse_output(text: str) -> HostStats:
    """Parse the probe script's output into HostStats (pure)."""
    stats = HostStats()
    section = ""
    load_lines: list[str] = []
    mem: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("##"):
            section = line[2:].strip()
            continue
        parts = line.split()
        if section == "df" and len(parts) >= 6 and parts[1].isdigit():
            stats.filesystems[parts[-1]] = (float(parts[1]), float(parts[2]))
        elif section == "mem" and len(parts) >= 2:
            mem[parts[0].rstrip(":")] = float(parts[1]) * 1024     # /proc/meminfo is in KiB
        elif section == "load" and parts:
            load_lines.append(parts[0])
        elif section == "svc" and len(parts) >= 2:
            stats.services[parts[0]] = len(parts) >= 3 and parts[2] == "active"
            stats.service_method = parts[1]
    stats.memory_total, stats.memory_available = mem.get("MemTotal"), mem.get("MemAvailable")
    if len(load_lines) >= 2:
        stats.load1, stats.cpus = float(load_lines[0]), int(load_lines[1])
    return stats


class SshHostOptions(HostOptions):
    """Host limits, plus how long to wait for the SSH server."""

    connect_timeout: float = Field(8.0, gt=0, le=120, description="seconds to wait for connect and command")


class SshHostCheck(Check):
    """Read a Linux host's disks, memory, load and services over SSH."""

    Options = SshHostOptions
    description = "disk use per mount, memory, load and named services of a host, over SSH"

    def applies(self, device: Device) -> bool:
        return device.ssh is not None

    def services(self, device: Device) -> list[str]:
        """Return the services to check: the device's oti_services plus the options'."""
        names = list(dict.fromkeys([*device.services, *self.options.services]))
        bad = [n for n in names if not SERVICE_NAME.match(n)]
        if bad:
            raise ConfigError(f"device {device.name}: invalid service name(s) {bad}")
        return names

    async def collect(self, device: Device, ctx: ProbeContext) -> HostStats:
        command = _SCRIPT.replace("{services}", " ".join(self.services(device)))
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(ctx.ssh_pool, run_ssh, device, ctx, command, self.options.connect_timeout)
        return parse_output(text)

    def evaluate(self, raw: HostStats, device: Device, previous: Mapping[str, State]) -> list[Reading]:
        return host_readings(raw, self.options, device.thresholds, previous)
