"""The web console as a person meets it over HTTP (no browser): local passwords set with the real CLI,
a login through the real login form, the CSRF value read off a page, forms posted as a browser posts them.
tests/browser.py drives Chromium for what needs a real browser."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.agentd import OTI, AgentDaemon

PASSWORDS = {"luis": "clave-de-luis-1", "mariella": "clave-de-mariella-1", "joanna": "clave-de-joanna-1",
             "rosa": "clave-de-rosa-1"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def set_passwords(config: Path, logins=tuple(PASSWORDS)) -> None:
    """The people's local passwords, with `oti-agent users passwd --password-stdin` (before or after start)."""
    for login in logins:
        done = subprocess.run([OTI, "users", "passwd", login, "--password-stdin", "-c", str(config)],
                              input=PASSWORDS[login] + "\n", capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


class Person:
    """One person's browser session with the console: a cookie jar, the CSRF value of their session."""

    def __init__(self, daemon: AgentDaemon, login: str):
        self.login = login
        self.http = httpx.Client(base_url=daemon.url, timeout=15, follow_redirects=False)
        answer = self.http.post("/login", data={"login": login, "password": PASSWORDS[login], "next": "/"},
                                headers={"origin": daemon.url})
        assert answer.status_code == 303, f"{login} could not log in: {answer.status_code} {answer.text[:500]}"
        self.origin = daemon.url
        self.csrf = CSRF.search(self.get("/").text).group(1)

    def get(self, path: str, **kw) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict | None = None, **kw) -> httpx.Response:
        """A form posted from a page of the console (its Origin, the session's CSRF value)."""
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})},
                              headers={"origin": self.origin}, **kw)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Person:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def text_of(html: str) -> str:
    """A page's words without its tags (what a person reads), spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
