"""The peers the config names (mail, directory, PostgreSQL store, Bacula director, Alertmanager, GLPI), and
whether each accepts a TCP connection now."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.monitoring.doctor import DoctorOptions, Finding, Status
from agent.monitoring.doctor.files import bacula_configs


@dataclass(frozen=True)
class Peer:
    """A server the agent talks to: what it is, the config key that names it, where, and how TLS starts."""

    what: str
    key: str
    host: str
    port: int
    tls: str | None = None          # None, "tls" (at once), "smtp" (STARTTLS), "ldap" (StartTLS extended op)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def named(cfg) -> list[Peer]:
    """Every peer the config names explicitly (a section left to its defaults names none)."""
    peers = []
    if "mail" in cfg.model_fields_set:
        m = cfg.mail
        peers.append(Peer("SMTP server", "mail.host", m.host, m.port, "tls" if m.port == 465 else
                          "smtp" if m.starttls else None))
    directory = cfg.people.directory
    if directory is not None:
        url = urlsplit(directory.url)
        ldaps = url.scheme == "ldaps"
        peers.append(Peer("LDAP directory", "people.directory.url", url.hostname or "localhost",
                          url.port or (636 if ldaps else 389),
                          "tls" if ldaps else "ldap" if directory.start_tls else None))
    peers += _store(cfg) + _bacula(cfg)
    for what, key, url in (("Alertmanager", "alerts.alertmanager", cfg.alerts.alertmanager),
                           ("GLPI", "glpi.url", cfg.glpi.url if cfg.glpi.enabled else None)):
        if url:
            parts = urlsplit(url)
            https = parts.scheme == "https"
            peers.append(Peer(what, key, parts.hostname or "localhost", parts.port or (443 if https else 80),
                              "tls" if https else None))
    return peers


def _store(cfg) -> list[Peer]:
    from sqlalchemy.engine import make_url

    url = make_url(cfg.store.url)
    if url.get_backend_name() != "postgresql" or not url.host:       # no host: a local UNIX socket
        return []
    return [Peer("PostgreSQL store", "store.url", url.host, url.port or 5432)]


def _bacula(cfg) -> list[Peer]:
    """The director each bconsole.conf names (as the Bacula backend reads it: Address, DIRport 9101)."""
    peers = []
    for name, conf in bacula_configs(cfg):
        try:
            text = conf.read_text()
        except OSError:
            continue                        # the permissions check names the file it cannot read
        port = re.search(r"(?im)^\s*DIRport\s*=\s*(\d+)", text)
        addr = re.search(r"(?im)^\s*address\s*=\s*\"?([^\s\"]+)", text)
        peers.append(Peer("Bacula director", f"backups.backends.{name} ({conf})",
                          addr.group(1) if addr else "localhost", int(port.group(1)) if port else 9101))
    return peers


async def reachable(cfg, opts: DoctorOptions) -> list[Finding]:
    """One finding per named peer: it accepts a TCP connection within the timeout, or why not."""
    return list(await asyncio.gather(*(_knock(p, opts.timeout) for p in named(cfg))))


async def _knock(peer: Peer, timeout: float) -> Finding:
    why = await connect_error(peer.host, peer.port, timeout)
    if why is not None:
        return Finding(Status.FAIL, "peer", str(peer), f"{peer.what} at {peer} does not answer: {why}",
                       f"check that it runs and that this host may reach it (the address is {peer.key})")
    return Finding(Status.OK, "peer", str(peer), f"{peer.what} at {peer} accepts connections")


async def connect_error(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to host:port fails (in English, for the CLI), or None when it opens."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return f"no answer in {timeout:g}s"
    except ConnectionRefusedError:
        return "connection refused (nothing listens on that port)"
    except OSError as err:
        return err.strerror or str(err)
    writer.close()
    return None
