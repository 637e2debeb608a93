"""OpenSSH sshd on loopback, with a dedicated login user, a client key and a known_hosts file."""

from __future__ import annotations

import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.peers.common import free_tcp_port, stop, wait_tcp

USER = "otiprobe"


@dataclass
class SshPeer:
    """A running sshd and the files a client needs."""

    process: subprocess.Popen
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    wrong_known_hosts: Path   # the same host name with another key: a host-key mismatch
    public_dir: Path | None = None


def _ensure_user() -> None:
    # A dedicated user: root's shell start-up (pyenv) would slow every command, and a login
    # user with a locked password ('!') is refused by sshd with UsePAM no, hence '*'.
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-U", USER], check=True)
    subprocess.run(["usermod", "-p", "*", USER], check=True)


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)


def start_sshd(workdir: Path) -> SshPeer:
    """Start sshd on a free 127.0.0.1 port; return the peer with a matching known_hosts."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        raise RuntimeError("sshd is missing: install openssh-server (`make deps`)")
    _ensure_user()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key, other_key, client_key = workdir / "host_key", workdir / "other_host_key", workdir / "id_ed25519"
    for key, comment in ((host_key, "oti-test-host"), (other_key, "oti-test-other"), (client_key, "oti-client")):
        _keygen(key, comment)
    # sshd reads authorized_keys as the login user: it must not sit under pytest's 0700 temp tree
    public = Path(tempfile.mkdtemp(prefix="oti-sshd-"))
    public.chmod(0o755)
    authorized = public / "authorized_keys"
    shutil.copyfile(client_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o644)
    port = free_tcp_port()
    config, log = workdir / "sshd_config", workdir / "sshd.log"
    config.write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {workdir / 'sshd.pid'}
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
MaxStartups 100
LogLevel ERROR
""")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), start_new_session=True)
    wait_tcp(port, proc, "sshd", log)
    known, wrong = workdir / "known_hosts", workdir / "known_hosts.wrong"
    known.write_text(f"[127.0.0.1]:{port} {_pub(host_key)}\n")
    wrong.write_text(f"[127.0.0.1]:{port} {_pub(other_key)}\n")
    return SshPeer(proc, port, USER, client_key, known, wrong, public)


def _pub(key: Path) -> str:
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def stop_sshd(peer: SshPeer) -> None:
    """Stop the sshd and remove its public folder."""
    stop(peer.process)
    if peer.public_dir:
        shutil.rmtree(peer.public_dir, ignore_errors=True)
