"""Which files of a config hold secrets, which folders the agent writes, and whether a user may write one."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from agent.core.secrets import references


def secret_files(cfg) -> list[tuple[str, Path]]:
    """(config key, path) of every file that holds a secret: `file:` references, SSH keys, the console's TLS
    key, and Bacula's bconsole.conf (it holds the director's password)."""
    found: list[tuple[str, Path]] = []
    for path, ref in references(cfg):
        if ref.startswith("file:"):
            found.append((_key(path), cfg.path(Path(ref[5:]))))
    for name, cred in (getattr(cfg.credentials, "ssh", None) or {}).items():
        found.append((f"credentials.ssh.{name}.key_file", cfg.path(cred.key_file)))
    if cfg.http.tls_key is not None:
        found.append(("http.tls_key", cfg.path(cfg.http.tls_key)))
    for name, conf in bacula_configs(cfg):
        found.append((f"backups.backends.{name}.options.config", conf))
    unique = {}
    for key, path in found:
        unique.setdefault(path, key)
    return [(key, path) for path, key in unique.items()]


def bacula_configs(cfg) -> list[tuple[str, Path]]:
    """(backend name, bconsole.conf) of every Bacula backend (its default as the backend has it)."""
    out = []
    for name, entry in cfg.backups.backends.items():
        if entry.type == "bacula":
            out.append((name, cfg.path(Path(entry.options.get("config", "/etc/bacula/bconsole.conf")))))
    return out


def state_folders(cfg) -> list[tuple[str, Path]]:
    """(what, folder) the daemon writes: the SQLite store's, the documents', the CLI socket's."""
    folders = []
    url = cfg.store.url
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        folders.append(("store", cfg.path(Path(url[len("sqlite:///"):])).parent))
    folders.append(("documents", cfg.path(cfg.documents_dir)))
    if cfg.http.socket is not None:
        folders.append(("socket", cfg.path(cfg.http.socket).parent))
    unique: dict[Path, str] = {}
    for what, folder in folders:
        unique[folder] = f"{unique[folder]} and {what}" if folder in unique else what
    return [(what, folder) for folder, what in unique.items()]


def user_exists(user: str) -> bool:
    """Whether the host knows this user."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def can_write(folder: Path, user: str) -> bool:
    """Whether `user` may create files in `folder`, by its mode bits and owners (the way the kernel decides
    without ACLs); for the current user, the kernel is asked."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    if entry.pw_uid == os.geteuid():
        return os.access(folder, os.W_OK | os.X_OK)
    if entry.pw_uid == 0:
        return True
    st = folder.stat()
    if st.st_uid == entry.pw_uid:
        need = stat.S_IWUSR | stat.S_IXUSR
    elif st.st_gid in os.getgrouplist(user, entry.pw_gid):
        need = stat.S_IWGRP | stat.S_IXGRP
    else:
        need = stat.S_IWOTH | stat.S_IXOTH
    return st.st_mode & need == need


def _key(path: tuple) -> str:
    return ".".join(str(p) for p in path)
