"""GLPI's REST API (`apirest.php`): the HTTP client of the helpdesk (S.04.04.02_P, Mesa de ayuda).

A session is opened with `initSession` (the API client's `App-Token` and `Authorization: user_token ...`),
its `Session-Token` goes on every later call, and `killSession` ends it. GLPI forgets a session after a
while (its session lifetime): a call answered 401 `["ERROR_SESSION_TOKEN_INVALID", ...]` opens a new
session once and is sent again. A token GLPI refuses is the config's to fix, so it is a
HelpdeskAuthFailed naming the GLPI URL and the key to change; the tokens themselves are never in a
message or a log line. httpx's errors are translated here, once.

Tickets are `Ticket` items (`{"input": {...}}`), their messages `ITILFollowup` items (itemtype Ticket,
items_id the ticket), the solution an `ITILSolution` (GLPI then marks the ticket solved, status 5),
closing a `PUT` of status 6, and a file a `Document` uploaded as multipart/form-data with its
`uploadManifest`, linked to the ticket by itemtype and items_id.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from html import escape
from pathlib import Path
from typing import Any

import httpx

from agent.core.config_glpi import GlpiSection
from agent.core.secrets import library_text, resolve, without_userinfo
from agent.errors import HelpdeskAuthFailed, HelpdeskError

_LOGGER = logging.getLogger(__name__)

NEW, ASSIGNED, PLANNED, WAITING, SOLVED, CLOSED = 1, 2, 3, 4, 5, 6
INCIDENT, REQUEST = 1, 2
# search options of a Ticket (listSearchOptions/Ticket): what `search/Ticket` criteria and columns name
FIELD = {"name": 1, "id": 2, "category": 7, "status": 12, "date": 15, "content": 21}
SESSION_GONE = ("ERROR_SESSION_TOKEN_INVALID", "ERROR_SESSION_TOKEN_MISSING")
# what to fix when GLPI refuses to open a session, by its error code
REFUSED = {
    "ERROR_WRONG_APP_TOKEN_PARAMETER": "glpi.app_token is not the App-Token of an active API client of this GLPI "
                                       "(Setup > General > API); correct the secret it refers to",
    "ERROR_APP_TOKEN_PARAMETERS_MISSING": "this GLPI's API client asks for an App-Token: set glpi.app_token",
    "ERROR_GLPI_LOGIN_USER_TOKEN": "GLPI refused glpi.user_token; regenerate the agent user's API token (its "
                                   "preferences, 'Remote access keys') and update the secret it refers to",
    "ERROR_LOGIN_PARAMETERS_MISSING": "GLPI got no user token; check that glpi.user_token resolves to the agent "
                                      "user's API token",
    "ERROR_LOGIN_WITH_CREDENTIALS_DISABLED": "this GLPI refuses logins with a token; enable 'login with external "
                                             "token' in Setup > General > API",
    "ERROR_NOT_ALLOWED_IP": "no API client of this GLPI allows this host's address; add it to the API client's "
                            "IP range (Setup > General > API)",
    "ERROR_GLPI_LOGIN": "GLPI could not log the agent's user in (disabled, or no profile); see GLPI's "
                        "files/_logs",
}


class GlpiClient:
    """One session with GLPI's REST API; use it as a context manager so the session is killed."""

    def __init__(self, cfg: GlpiSection, base_dir: Path | None = None, *,
                 transport: httpx.BaseTransport | None = None):
        if cfg.url is None or cfg.user_token is None:
            raise HelpdeskAuthFailed("glpi: url and user_token must be set to reach the helpdesk")
        self.cfg, self.base_dir = cfg, base_dir
        self.where = without_userinfo(cfg.url)
        verify: Any = cfg.verify_tls
        if cfg.ca_file:                               # the office's own CA, relative to the config's folder
            verify = str(Path(cfg.ca_file) if Path(cfg.ca_file).is_absolute() or base_dir is None
                         else base_dir / cfg.ca_file)
        self._http = httpx.Client(base_url=cfg.url.rstrip("/") + "/", timeout=cfg.timeout, verify=verify,
                                  transport=transport, follow_redirects=False)
        self._session: str | None = None
        self.sessions_opened = 0

    def __enter__(self) -> GlpiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ session
    def login(self) -> None:
        """Open a session (initSession); a refused token is a HelpdeskAuthFailed saying what to fix."""
        token = resolve(self.cfg.user_token, base_dir=self.base_dir).get_secret_value()
        headers = {**self._app(), "Authorization": f"user_token {token}", "Content-Type": "application/json"}
        resp = self._send("GET", "initSession", headers=headers)
        body = _body(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or not body.get("session_token"):
            raise self._error(resp, "initSession")
        self._session = str(body["session_token"])
        self.sessions_opened += 1

    def close(self) -> None:
        """End the session (killSession) and the connection; a GLPI gone by now changes nothing."""
        if self._session is not None:
            try:
                self._send("GET", "killSession", headers={**self._app(), "Session-Token": self._session})
            except HelpdeskError as err:
                _LOGGER.debug("glpi %s: killSession: %s", self.where, err)
            self._session = None
        self._http.close()

    def call(self, method: str, path: str, *, body: Any = None, params: Any = None, files: Any = None,
             ok: tuple[int, ...] = (200, 201, 206, 207)) -> Any:
        """One API call in the session (opened first if needed); an expired session is renewed once."""
        if self._session is None:
            self.login()
        for attempt in (1, 2):
            headers = {**self._app(), "Session-Token": self._session or ""}
            if files is None:
                headers["Content-Type"] = "application/json"
            resp = self._send(method, path, headers=headers, params=params, files=files,
                              content=None if body is None else json.dumps(body))
            if resp.status_code in ok:
                return _body(resp)
            if _code(resp) in SESSION_GONE and attempt == 1:
                _LOGGER.info("glpi %s: the session expired; opening a new one", self.where)
                self._session = None
                self.login()
                continue
            raise self._error(resp, f"{method} {path}")
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ tickets
    def open_ticket(self, name: str, content: str, *, category: int | None = None, kind: int = INCIDENT,
                    urgency: int = 3) -> int:
        """Create a ticket (`content` plain text); return its id."""
        fields: dict[str, Any] = {"name": name, "content": html(content), "type": kind, "urgency": urgency}
        if category is not None:
            fields["itilcategories_id"] = category
        return self._added(self.call("POST", "Ticket/", body={"input": fields}), "Ticket")

    def ticket(self, ticket_id: int) -> dict:
        """A ticket's fields."""
        return self.call("GET", f"Ticket/{ticket_id}")

    def followup(self, ticket_id: int, content: str) -> int:
        """Add a message (ITILFollowup) to a ticket; return its id."""
        return self._added(self.call("POST", "ITILFollowup/", body={"input": {
            "itemtype": "Ticket", "items_id": ticket_id, "content": html(content)}}), "ITILFollowup")

    def followups(self, ticket_id: int) -> list[dict]:
        """A ticket's messages, oldest first."""
        return self.call("GET", f"Ticket/{ticket_id}/ITILFollowup") or []

    def solve(self, ticket_id: int, content: str) -> int:
        """Give a ticket its solution (ITILSolution; GLPI marks it solved); return the solution's id."""
        return self._added(self.call("POST", "ITILSolution/", body={"input": {
            "itemtype": "Ticket", "items_id": ticket_id, "content": html(content)}}), "ITILSolution")

    def solutions(self, ticket_id: int) -> list[dict]:
        """A ticket's solutions."""
        return self.call("GET", f"Ticket/{ticket_id}/ITILSolution") or []

    def set_status(self, ticket_id: int, status: int) -> None:
        """Change a ticket's status (SOLVED, CLOSED...)."""
        answer = self.call("PUT", f"Ticket/{ticket_id}", body={"input": {"status": status}})
        row = answer[0] if isinstance(answer, list) and answer else {}
        if row.get(str(ticket_id)) is not True:
            raise HelpdeskError(f"GLPI {self.where}: ticket {ticket_id} was not updated: "
                                f"{library_text(row.get('message') or answer)}", server=False)

    def attach(self, ticket_id: int, path: Path, name: str | None = None) -> int:
        """Upload a file as a Document linked to the ticket; return the document's id."""
        try:
            data = path.read_bytes()
        except OSError as err:
            raise HelpdeskError(f"cannot attach {path} to GLPI ticket {ticket_id}: {err.strerror}",
                                server=False) from None
        manifest = {"input": {"name": name or path.name, "_filename": [path.name],
                              "itemtype": "Ticket", "items_id": ticket_id}}
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files = [("uploadManifest", (None, json.dumps(manifest), "application/json")),
                 ("filename[0]", (path.name, data, mime))]
        return self._added(self.call("POST", "Document/", files=files), "Document")

    def search(self, criteria: list[tuple[str, str, Any]], columns: tuple[str, ...] = tuple(FIELD)) -> list[dict]:
        """Tickets matching every (field, searchtype, value) of `criteria` (search/Ticket), as dicts of `columns`."""
        params: list[tuple[str, Any]] = []
        for i, (field, searchtype, value) in enumerate(criteria):
            if i:
                params.append((f"criteria[{i}][link]", "AND"))
            params += [(f"criteria[{i}][field]", FIELD[field]), (f"criteria[{i}][searchtype]", searchtype),
                       (f"criteria[{i}][value]", value)]
        params += [(f"forcedisplay[{i}]", FIELD[c]) for i, c in enumerate(columns)] + [("range", "0-200")]
        answer = self.call("GET", "search/Ticket", params=params)
        rows = answer.get("data") or [] if isinstance(answer, dict) else []
        if isinstance(rows, dict):                                  # withindexes: rows keyed by id
            rows = list(rows.values())
        return [{c: row.get(str(FIELD[c])) for c in columns} for row in rows]

    def new_tickets(self, category: int) -> list[dict]:
        """The tickets of a category nobody has taken yet (status new)."""
        return self.search([("category", "equals", category), ("status", "equals", NEW)])

    # ------------------------------------------------------------------ plumbing
    def _app(self) -> dict[str, str]:
        if self.cfg.app_token is None:
            return {}
        return {"App-Token": resolve(self.cfg.app_token, base_dir=self.base_dir).get_secret_value()}

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise HelpdeskError(f"GLPI {self.where}: no answer to {method} {path} within "
                                f"{self.cfg.timeout:g} s") from None
        except httpx.HTTPError as err:
            raise HelpdeskError(f"GLPI {self.where}: {method} {path}: {library_text(err)}") from None

    def _added(self, answer: Any, itemtype: str) -> int:
        item = answer[0] if isinstance(answer, list) and answer else answer
        if not isinstance(item, dict) or not isinstance(item.get("id"), int) or isinstance(item.get("id"), bool):
            message = item.get("message") if isinstance(item, dict) else answer
            raise HelpdeskError(f"GLPI {self.where}: the {itemtype} was not added: {library_text(str(message))}",
                                server=False)
        return item["id"]

    def _error(self, resp: httpx.Response, what: str) -> HelpdeskError:
        """The exception for an answer that is not a success: whose fault, and what to do."""
        code, message = _code(resp), library_text(_message(resp))
        if code in REFUSED:
            return HelpdeskAuthFailed(f"GLPI {self.where} refused the login ({code}): {REFUSED[code]}")
        if resp.status_code >= 500 or (code is None and what == "initSession"):    # not GLPI's API answering
            return HelpdeskError(f"GLPI {self.where}: {what}: HTTP {resp.status_code} {message}; is glpi.url "
                                 "GLPI's apirest.php, and is GLPI up?")
        if code == "ERROR_RIGHT_MISSING":
            return HelpdeskError(f"GLPI {self.where}: {what}: the agent's GLPI user lacks the right ({message}); "
                                 "give its profile the right on tickets", server=False)
        return HelpdeskError(f"GLPI {self.where}: {what}: HTTP {resp.status_code} {code or ''} {message}".rstrip(),
                             server=False)


def html(text: str) -> str:
    """GLPI's rich-text content for a plain text: one paragraph a line, every character escaped (a vendor's
    reply or a device's message is data, never markup)."""
    return "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() or [""])


def _body(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _code(resp: httpx.Response) -> str | None:
    """GLPI's error code: its errors are `["ERROR_...", "message"]`."""
    body = _body(resp)
    if isinstance(body, list) and body and isinstance(body[0], str) and body[0].startswith("ERROR"):
        return body[0]
    return None


def _message(resp: httpx.Response) -> str:
    body = _body(resp)
    if isinstance(body, list) and len(body) > 1:
        return str(body[1])[:300]
    return resp.text[:200]
