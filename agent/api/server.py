"""Serve the app with uvicorn on the caller's event loop: over TCP (TLS when http.tls_cert and http.tls_key
are set) and over the local UNIX socket the CLI talks to.

The socket file is 0666 so that any local user can connect: who connects is read from the kernel
(SO_PEERCRED) for every connection and handed to the app as the request's "oti.peer" = (pid, uid, gid);
the file's mode grants nothing. Uvicorn's signal handlers stay off (the daemon owns the signals), its
access log too (a URL may carry what should not be logged), and its logging config is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.core.config import HttpSection
from agent.errors import AgentError, ConfigError

_LOGGER = logging.getLogger(__name__)
STARTUP_TIMEOUT = 10.0
GRACE = 5.0                      # seconds a request in flight gets to finish when the daemon stops


class PeerProtocol(H11Protocol):
    """uvicorn's h11 protocol for the UNIX socket: each request's scope carries the peer's credentials."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _with_peer(self.app, peer_credentials(transport.get_extra_info("socket")))


def peer_credentials(sock) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end of a UNIX socket; None if the kernel does not say."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    return struct.unpack("3i", raw)


def _with_peer(app, peer: tuple[int, int, int] | None):
    async def with_peer(scope, receive, send):
        if peer is not None and scope["type"] in ("http", "websocket"):
            scope = {**scope, "oti.peer": peer}
        await app(scope, receive, send)

    return with_peer


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the process's signals to the daemon."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


@dataclass(frozen=True)
class Listening:
    """Where the server answers: the TCP port bound (the real one when http.port is 0), its URL, the
    socket."""

    port: int
    url: str
    socket: Path | None


class ApiServer:
    """The two uvicorn servers of one app; `start` binds and serves, `stop` ends them (bounded)."""

    def __init__(self, app, config: HttpSection, socket_path: Path | None, base_dir: Path = Path(".")):
        self.app, self.config, self.socket_path, self.base_dir = app, config, socket_path, base_dir
        self._servers: list[_Server] = []
        self._tasks: list[asyncio.Task] = []
        self._socket_inode: int | None = None

    async def start(self) -> Listening:
        """Bind the TCP port and the socket, and serve; AgentError when another daemon holds either."""
        tls = self.config.tls_cert is not None
        tcp_config = self._uvicorn(H11Protocol, tls)           # a certificate that cannot load: said first
        tcp = _tcp_socket(self.config.listen, self.config.port)
        sockets = [(tcp_config, tcp)]
        try:
            if self.socket_path is not None:
                sockets.append((self._uvicorn(PeerProtocol, False), self._unix_socket(self.socket_path)))
        except BaseException:
            tcp.close()
            raise
        for cfg, sock in sockets:
            server = _Server(cfg)
            self._servers.append(server)
            self._tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="oti-agent http"))
        await self._until_started()
        port = tcp.getsockname()[1]
        host = f"[{self.config.listen}]" if ":" in self.config.listen else self.config.listen
        url = f"{'https' if tls else 'http'}://{host}:{port}"
        _LOGGER.info("HTTP API at %s%s", url, f" and {self.socket_path}" if self.socket_path else "")
        return Listening(port, url, self.socket_path)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (GRACE seconds at most), remove the socket file."""
        for server in self._servers:
            server.should_exit = True
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=GRACE + 2)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    _LOGGER.error("HTTP server ended with %r", task.exception())
        self._servers, self._tasks = [], []
        path = self.socket_path
        if path is not None and self._socket_inode is not None:
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_ino == self._socket_inode:        # ours, not a newer daemon's
                    path.unlink()
            self._socket_inode = None

    def _uvicorn(self, protocol, tls: bool) -> uvicorn.Config:
        cert = self._path(self.config.tls_cert) if tls else None
        key = self._path(self.config.tls_key) if tls else None
        cfg = uvicorn.Config(self.app, http=protocol, ws="none", lifespan="off", log_config=None,
                             log_level="warning", access_log=False, proxy_headers=False, server_header=False,
                             timeout_graceful_shutdown=GRACE, timeout_keep_alive=5,
                             ssl_certfile=cert, ssl_keyfile=key)
        try:
            cfg.load()
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"http.tls_cert {cert} / http.tls_key {key}: cannot be loaded "
                              f"({getattr(err, 'strerror', None) or err.__class__.__name__}); give a PEM "
                              "certificate and its unencrypted key, readable by the agent's user") from None
        return cfg

    def _path(self, p: Path | None) -> str | None:
        return None if p is None else str(p if p.is_absolute() else self.base_dir / p)

    def _unix_socket(self, path: Path) -> socket.socket:
        _clear_stale(path)
        _reachable_folder(path.parent)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, 0o666)          # anyone may connect; who they are comes from SO_PEERCRED
            sock.listen(128)
        except OSError as err:
            sock.close()
            raise AgentError(f"cannot serve the local socket {path}: {err.strerror or err}; set "
                             "http.socket to a shorter path (at most 107 bytes) in a folder the agent can "
                             "write") from None
        sock.setblocking(False)
        self._socket_inode = path.lstat().st_ino
        return sock

    async def _until_started(self) -> None:
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT):
                while not all(s.started for s in self._servers):
                    for task in self._tasks:
                        if task.done():
                            task.result()          # its exception, if it died
                            raise AgentError("the HTTP server stopped while starting")
                    await asyncio.sleep(0.01)
        except TimeoutError:
            await self.stop()
            raise AgentError(f"the HTTP server did not start within {STARTUP_TIMEOUT:g} s") from None
        except BaseException:
            await self.stop()
            raise


def _tcp_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on host:port (port 0: a free one)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as err:
        raise AgentError(f"cannot listen on {host}:{port}: {err.strerror or err}; another program (or "
                         "another oti-agent) may hold it: stop it, or change http.listen or "
                         "http.port") from None
    sock.setblocking(False)
    return sock


def _clear_stale(path: Path) -> None:
    """Remove a socket file a dead daemon left; refuse when a daemon answers on it, or it is no socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise AgentError(f"{path} exists and is not a socket; move it away or set http.socket elsewhere")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        _LOGGER.info("removed the stale socket %s", path)
        return
    except OSError:
        pass                               # it is there but busy: someone serves it
    finally:
        probe.close()
    raise AgentError(f"another oti-agent answers on {path}; stop it first (or set http.socket elsewhere)")


def _reachable_folder(folder: Path) -> None:
    """The socket's folder exists, and local users may pass through it (x, never r) to reach the socket."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o711)
    info = folder.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o011 != 0o011:
        os.chmod(folder, stat.S_IMODE(info.st_mode) | 0o011)
        _LOGGER.info("%s: made passable (x) for local users, so that the CLI reaches the socket", folder)


async def serve(app, config: HttpSection, socket_path: Path | None, stop: asyncio.Event, *,
                base_dir: Path = Path("."), ready: Callable[[Listening], None] | None = None) -> None:
    """Serve `app` on the running loop until `stop` is set; `ready` is told where it listens once it does."""
    server = ApiServer(app, config, socket_path, base_dir)
    listening = await server.start()
    try:
        if ready is not None:
            ready(listening)
        await stop.wait()
    finally:
        await server.stop()
