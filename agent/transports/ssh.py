"""SSH: one command on a host, with strict host-key checking (paramiko, blocking: run it in a thread pool).

Host keys are checked against the credential's known_hosts file only (RejectPolicy: an unknown or
changed key is refused, never added). paramiko is imported on first use: a CLI command that touches
no SSH host does not pay for it.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from agent.core.secrets import SecretRef, library_text, resolve
from agent.errors import ProbeAuthFailed, ProbeTimeout, ProbeUnavailable
from agent.transports.base import AccessModel, CredentialModel, Transport

if TYPE_CHECKING:
    import paramiko

    from agent.core.config import AgentConfig


class SshAccess(AccessModel):
    """How to log in to a host (`oti_ssh`)."""

    credential: str
    port: int = Field(22, ge=1, le=65535)


class SshCredential(CredentialModel):
    """An SSH login. Host keys are always checked against `known_hosts`."""

    user: str
    key_file: Path
    known_hosts: Path
    passphrase: SecretRef | None = None


TRANSPORT = Transport("ssh", "commands on Linux hosts over SSH", SshAccess, SshCredential)


def run_command(device, config: AgentConfig, command: str, timeout: float) -> tuple[int, str, str]:
    """Run one command on the device over SSH; return (exit status, stdout, stderr). Blocking."""
    import paramiko

    access = device.ssh
    if access is None:
        from agent.errors import ConfigError

        raise ConfigError(f"device {device.name} has no oti_ssh in the inventory")
    cred = config.credential("ssh", access.credential, device.name)
    where = f"{device.name} ({device.address}:{access.port})"
    client = paramiko.SSHClient()
    known_hosts = config.path(cred.known_hosts)
    try:
        # only this host's entries: parsing a 100-line known_hosts per connection costs more CPU than
        # the handshake's Python side when a runbook step fans out to a hundred hosts
        name = access_name(device.address, access.port)
        for keytype, key in (_known_hosts(known_hosts).lookup(name) or {}).items():
            client.get_host_keys().add(name, keytype, key)
        pkey = _private_key(config.path(cred.key_file), cred.passphrase, config.base_dir)
    except OSError as err:
        raise ProbeAuthFailed(f"ssh {where}: cannot read {err.filename}: {err.strerror}") from None
    except paramiko.PasswordRequiredException:
        raise ProbeAuthFailed(f"ssh {where}: the key of SSH credential {access.credential!r} needs a passphrase; "
                              "give it as `passphrase` (a secret reference)") from None
    except (paramiko.SSHException, ValueError) as err:   # a wrong passphrase reads as a corrupt key: say both
        raise ProbeAuthFailed(f"ssh {where}: cannot load the key of SSH credential {access.credential!r} "
                              f"(a wrong passphrase, or not a private key): {library_text(err)}") from None
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
        raise ProbeUnavailable(f"ssh {where}: {library_text(err)}") from None
    except TimeoutError:
        raise ProbeTimeout(f"ssh {where}: no answer within {timeout:g}s") from None
    except OSError as err:
        raise ProbeUnavailable(f"ssh {where}: {err.strerror or library_text(err)}") from None
    finally:
        client.close()


def run(device, config: AgentConfig, command: str, timeout: float) -> str:
    """Run one command over SSH; return its stdout (blocking)."""
    return run_command(device, config, command, timeout)[1]


def access_name(address: str, port: int) -> str:
    """Return the name known_hosts files use for a host: `addr`, or `[addr]:port` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def _known_hosts(path: Path) -> paramiko.HostKeys:
    """Return the parsed known_hosts file, cached until the file changes."""
    st = path.stat()
    return _load_known_hosts(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _load_known_hosts(path: str, _mtime: int, _size: int) -> paramiko.HostKeys:
    import paramiko

    return paramiko.HostKeys(path)


def _private_key(path: Path, passphrase, base_dir: Path) -> paramiko.PKey:
    """Return the credential's private key, parsed once per file version (the passphrase is resolved
    only when the file is read)."""
    import paramiko

    st = path.stat()
    cached = (str(path), st.st_mtime_ns, passphrase)     # by the reference: another passphrase, another try
    with _KEY_LOCK:
        key = _KEYS.get(cached)
        if key is None:
            # paramiko wants the passphrase as bytes (a str raises TypeError inside it)
            secret = resolve(passphrase, base_dir=base_dir).get_secret_value().encode() if passphrase else None
            key = paramiko.PKey.from_path(path, secret)
            _KEYS[cached] = key
        return key


_KEYS: dict[tuple[str, int, str | None], object] = {}
_KEY_LOCK = threading.Lock()
