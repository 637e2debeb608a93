"""The command line as a client of the daemon: its API over the local socket (the OS user is who asks,
from SO_PEERCRED) or over HTTP with a token (`OTI_URL`, `OTI_TOKEN`).

The socket is the config's `http.socket` (default `var/oti-agent.sock` beside the config). With
`OTI_TOKEN` set the request carries `Authorization: Bearer …` and acts as the token's person.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.errors import AgentError, AuthError, DaemonUnavailable, Forbidden, RunbookError

TIMEOUT_S, CONNECT_S = 30.0, 5.0


class Daemon:
    """A connection to the running daemon named by a config file."""

    def __init__(self, config: Path):
        # imported here, not with the module: `oti-agent --help` stays fast
        import httpx

        self.config = config
        self.url = os.environ.get("OTI_URL")
        self.socket = None if self.url else _socket_of(config)
        token = os.environ.get("OTI_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self.url:
            self.client = httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_S))
        else:
            transport = httpx.HTTPTransport(uds=str(self.socket))
            self.client = httpx.Client(transport=transport, base_url="http://oti-agent", headers=headers,
                                       timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_S))

    def where(self) -> str:
        return self.url or str(self.socket)

    def get(self, path: str, **params) -> Any:
        return self._call("GET", path, params=params or None)

    def post(self, path: str, body: dict | None = None) -> Any:
        return self._call("POST", path, json=body or {})

    def _call(self, method: str, path: str, **kw) -> Any:
        import httpx

        if self.socket is not None and not self.socket.exists():
            raise DaemonUnavailable(f"the daemon is not running: no socket {self.socket} (start it with "
                                    f"`oti-agent serve -c {self.config}`)")
        try:
            resp = self.client.request(method, "/api/v1" + path, **kw)
        except httpx.TransportError as err:
            raise DaemonUnavailable(f"the daemon does not answer on {self.where()}: {type(err).__name__} (is "
                                    f"`oti-agent serve -c {self.config}` running?)") from None
        if resp.status_code < 400:
            return resp.json() if resp.content else None
        try:
            message = resp.json().get("error") or resp.json().get("detail") or resp.text
        except ValueError:
            message = resp.text
        if isinstance(message, list):               # FastAPI's validation details
            message = "; ".join(f"{'.'.join(map(str, m.get('loc', [])))}: {m.get('msg')}" for m in message)
        raise _error(resp.status_code, str(message))


def _error(status: int, message: str) -> AgentError:
    if status == 401:
        return AuthError(message + " (on this host the CLI acts as your OS user: a person of the config's "
                                   "people needs `os_user`; elsewhere set OTI_TOKEN)")
    if status == 403:
        return Forbidden(message)
    if status in (404, 409, 400, 422):
        return RunbookError(message)
    if status == 503:
        return DaemonUnavailable(message)
    return AgentError(f"HTTP {status}: {message}")


def _socket_of(config: Path) -> Path:
    """The daemon's socket, as the config says, without validating the whole config (a client)."""
    import yaml

    base = config.resolve().parent
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    given = ((data.get("http") or {}).get("socket") if isinstance(data, dict) else None) or "var/oti-agent.sock"
    path = Path(given)
    return path if path.is_absolute() else base / path
