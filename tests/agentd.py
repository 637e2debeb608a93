"""The real daemon for a test: `oti-agent serve` on the test's config, and people acting through the real CLI.

The CLI on the agent's host acts as the OS user (root here: the person whose `os_user` is root, "luis" in
the tests' registries) or as the holder of a token (`OTI_TOKEN`), which is how a test plays the jefa and
General Management.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import REPO

OTI = str(REPO / ".venv" / "bin" / "oti-agent")
PEOPLE = {
    "persons": [
        {"login": "luis", "name": "Luis Quispe", "email": "is@entidad.example", "os_user": "root",
         "roles": ["especialista_is", "coordinador"]},
        {"login": "mariella", "name": "Mariella Paredes", "email": "jefa@entidad.example", "roles": ["jefa"]},
        {"login": "joanna", "name": "Joanna Salas", "email": "gg@entidad.example", "roles": ["gg"]},
        {"login": "rosa", "name": "Rosa Vega", "email": "bd@entidad.example", "roles": ["especialista_bd"]},
    ],
    # the jefa stands in for General Management: only `distinct_from` keeps her from approving both steps
    "deputies": [{"role": "gg", "person": "mariella", "from": "2000-01-01", "to": "2099-12-31",
                  "reason": "encargada de Gerencia General"}],
}


class AgentDaemon:
    """`oti-agent serve` for one config: started, asked over its socket, stopped or killed."""

    def __init__(self, config: Path):
        self.config = config
        self.log = config.parent / "var" / "serve.log"
        self.socket = config.parent / "var" / "oti-agent.sock"
        self.proc: subprocess.Popen | None = None
        self.tokens: dict[str, str] = {}

    def start(self, timeout: float = 60.0) -> AgentDaemon:
        """Start it and wait (bounded) until its API answers on the socket; fail loudly with its log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([OTI, "serve", "-c", str(self.config)], stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"oti-agent serve exited with {self.proc.returncode}:\n{self.tail()}")
            if self.socket.exists() and self._healthy():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"oti-agent serve did not answer on {self.socket} within {timeout:g}s:\n{self.tail()}")

    def _healthy(self) -> bool:
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), timeout=2) as c:
                return c.get("http://oti-agent/api/v1/health").status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        """Where its HTTP server listens (http.port 0 binds a free port: the log says which)."""
        import re

        found = re.findall(r"metrics at (http\S+)/metrics", self.tail(200_000))
        if not found:
            raise RuntimeError(f"the daemon did not say where it listens:\n{self.tail()}")
        return found[-1]

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM, and wait for it (bounded)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def token(self, login: str, *scopes: str) -> str:
        """An API token for a person of the registry (made with the real `users token`)."""
        if login not in self.tokens:
            made = subprocess.run([OTI, "users", "token", login, "--name", "prueba", *[a for s in
                                   (scopes or ("operate", "approve")) for a in ("--scope", s)], "--days", "2",
                                   "-c", str(self.config)], capture_output=True, text=True)
            assert made.returncode == 0, made.stderr
            self.tokens[login] = made.stdout.strip().splitlines()[-1]
        return self.tokens[login]

    def cli(self, *args: str, person: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """The real CLI, as the OS user (luis) or, with `person`, with that person's token."""
        env = {k: v for k, v in os.environ.items() if k not in ("OTI_TOKEN", "OTI_URL")}
        if person is not None:
            env["OTI_TOKEN"] = self.token(person)
        return subprocess.run([OTI, *args, "-c", str(self.config)], capture_output=True, text=True, env=env,
                              timeout=timeout)

    def follow(self, *args: str, person: str | None = None) -> subprocess.Popen:
        """A CLI command left running (`run` following a run), as the OS user or a person's token."""
        env = {k: v for k, v in os.environ.items() if k not in ("OTI_TOKEN", "OTI_URL")}
        if person is not None:
            env["OTI_TOKEN"] = self.token(person)
        return subprocess.Popen([OTI, *args, "-c", str(self.config)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    def __enter__(self) -> AgentDaemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def assert_run_succeeded(proc, daemon, journal, run_id: str) -> None:
    """A followed `oti-agent run` has ended (killed and said why when it has not) and its run succeeded."""
    from agent.runbook.journal import TERMINAL

    if proc.poll() is None:
        proc.kill()
        raise AssertionError(f"the run did not end:\n{daemon.cli('run-status', run_id).stdout}\n{daemon.tail()}")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-2000:] + daemon.tail()
    assert journal.run(run_id)["status"] in TERMINAL and journal.run(run_id)["status"] == "successful"
