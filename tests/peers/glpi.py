"""A GLPI REST API on 127.0.0.1 that answers with the responses recorded in tests/fixtures/glpi/.

GLPI itself cannot run here (PHP, a web server, MariaDB), so this peer replays the shapes of GLPI's API
documentation over real HTTP, and keeps what a user would look at in GLPI: the tickets, their followups
and solutions, their status, the documents attached. Like GLPI it checks the App-Token on every call,
the user token on initSession and the Session-Token after; a test can expire every session (GLPI's
session lifetime passing) or have the tokens refused.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "glpi"
PREFIX = "/glpi/apirest.php/"
COLUMNS = {1: "name", 2: "id", 7: "itilcategories_id", 12: "status", 15: "date", 21: "content"}


def recorded(name: str) -> dict:
    """One recorded response (tests/fixtures/glpi/<name>.json)."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class GlpiState:
    """What GLPI holds, and how it behaves."""

    app_token: str
    user_token: str
    sessions: set[str] = field(default_factory=set)
    tickets: dict[int, dict] = field(default_factory=dict)
    followups: dict[int, dict] = field(default_factory=dict)
    solutions: dict[int, dict] = field(default_factory=dict)
    documents: dict[int, dict] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)   # (method, path, headers)
    sessions_opened: int = 0
    drop_answers: int = 0           # answer nothing to this many next adds (a lost answer): they still happen
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_sessions(self) -> None:
        """GLPI's session lifetime passes: every Session-Token is invalid now."""
        self.sessions.clear()

    def new_ticket(self, name: str, content: str, category: int = 0, status: int = 1) -> int:
        """A ticket someone opened in GLPI's own form (Anexo 10)."""
        return self._add("Ticket", {"name": name, "content": content, "itilcategories_id": category,
                                    "status": status, "type": 2})

    def _add(self, itemtype: str, fields: dict) -> int:
        with self.lock:
            item_id, self.next_id = self.next_id, self.next_id + 1
        if itemtype == "Ticket":
            row = copy.deepcopy(recorded("get_item")["body"]) | {"status": 1, "itilcategories_id": 0} | fields
            self.tickets[item_id] = row | {"id": item_id}
        elif itemtype in ("ITILFollowup", "ITILSolution"):
            row = copy.deepcopy(recorded("get_subitems")["body"][0]) | fields | {"id": item_id}
            (self.followups if itemtype == "ITILFollowup" else self.solutions)[item_id] = row
            if itemtype == "ITILSolution":
                self.tickets[fields["items_id"]]["status"] = 5           # GLPI: a solution solves the ticket
        else:
            self.documents[item_id] = fields | {"id": item_id}
        return item_id

    def ticket_followups(self, ticket_id: int) -> list[str]:
        return [f["content"] for f in self.followups.values() if f["items_id"] == ticket_id]


class _Handler(BaseHTTPRequestHandler):
    state: GlpiState

    def log_message(self, *args):
        pass

    def do_GET(self):                                      # noqa: N802 - http.server's names
        self._serve("GET")

    def do_POST(self):                                     # noqa: N802
        self._serve("POST")

    def do_PUT(self):                                      # noqa: N802
        self._serve("PUT")

    # ------------------------------------------------------------------ dispatch
    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        st = self.state
        st.requests.append((method, url.path, dict(self.headers.items())))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not url.path.startswith(PREFIX):
            return self._send(404, {"message": "not GLPI"})
        parts = [p for p in url.path[len(PREFIX):].split("/") if p]
        if self.headers.get("App-Token") != st.app_token:
            return self._error("ERROR_WRONG_APP_TOKEN_PARAMETER" if self.headers.get("App-Token")
                               else "ERROR_APP_TOKEN_PARAMETERS_MISSING")
        if parts == ["initSession"]:
            return self._init_session()
        token = self.headers.get("Session-Token")
        if not token:
            return self._error("ERROR_SESSION_TOKEN_MISSING")
        if token not in st.sessions:
            return self._error("ERROR_SESSION_TOKEN_INVALID")
        if parts == ["killSession"]:
            st.sessions.discard(token)
            return self._send(200, recorded("killSession")["body"])
        if method == "GET" and parts[:2] == ["search", "Ticket"]:
            return self._search(parse_qsl(url.query))
        if method == "GET" and len(parts) == 2 and parts[0] == "Ticket":
            ticket = st.tickets.get(int(parts[1]))
            return self._send(200, ticket) if ticket else self._error("ERROR_ITEM_NOT_FOUND")
        if method == "GET" and len(parts) == 3 and parts[0] == "Ticket":
            rows = st.followups if parts[2] == "ITILFollowup" else st.solutions
            return self._send(200, [r for r in rows.values() if r["items_id"] == int(parts[1])])
        if method == "POST" and len(parts) == 1:
            return self._add(parts[0], body)
        if method == "PUT" and len(parts) == 2 and parts[0] == "Ticket":
            return self._update(int(parts[1]), body)
        return self._send(400, ["ERROR_METHOD_NOT_ALLOWED", "Method Not Allowed"])

    def _init_session(self) -> None:
        st = self.state
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("user_token "):
            return self._error("ERROR_LOGIN_PARAMETERS_MISSING")
        if auth[len("user_token "):] != st.user_token:
            return self._error("ERROR_GLPI_LOGIN_USER_TOKEN")
        token = secrets.token_hex(20)
        st.sessions.add(token)
        st.sessions_opened += 1
        return self._send(200, recorded("initSession")["body"] | {"session_token": token})

    def _add(self, itemtype: str, body: bytes) -> None:
        st = self.state
        if itemtype == "Document":
            fields = self._upload(body)
        else:
            payload = json.loads(body or b"{}").get("input")
            if not isinstance(payload, dict):
                return self._error("ERROR_BAD_ARRAY")
            fields = payload
        if itemtype in ("ITILFollowup", "ITILSolution") and fields.get("items_id") not in st.tickets:
            return self._send(400, ["ERROR_GLPI_ADD", "Item not found"])
        item_id = st._add(itemtype, fields)
        if st.drop_answers:
            st.drop_answers -= 1
            self.close_connection = True                  # the item exists; its answer never arrives
            return self.connection.shutdown(2)
        shape = recorded("add_document" if itemtype == "Document" else "add_item")
        answer = shape["body"] | {"id": item_id}
        if itemtype != "Document":
            answer["message"] = f"Item successfully added: {fields.get('name', '')}".rstrip(": ")
        location = shape["headers"]["Location"].rsplit("/", 2)[0] + f"/{itemtype}/{item_id}"
        return self._send(201, answer, {"Location": location})

    def _upload(self, body: bytes) -> dict:
        """multipart/form-data: the fields in `uploadManifest`, the file in `filename[0]`."""
        raw = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
        fields, content, filename = {}, b"", None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "uploadManifest":
                fields = json.loads(part.get_payload(decode=True))["input"]
            elif name and name.startswith("filename"):
                content, filename = part.get_payload(decode=True), part.get_filename()
        return fields | {"filename": filename, "bytes": content}

    def _update(self, ticket_id: int, body: bytes) -> None:
        ticket = self.state.tickets.get(ticket_id)
        if ticket is None:
            return self._error("ERROR_ITEM_NOT_FOUND")
        ticket.update(json.loads(body)["input"])
        return self._send(200, [{str(ticket_id): True, "message": ""}])

    def _search(self, query: list[tuple[str, str]]) -> None:
        criteria: dict[int, dict] = {}
        shown = [int(v) for k, v in query if k.startswith("forcedisplay")] or [1, 2]
        for key, value in query:
            if key.startswith("criteria["):
                index, _, name = key[len("criteria["):].partition("][")
                criteria.setdefault(int(index), {})[name.rstrip("]")] = value
        rows = [t for t in self.state.tickets.values() if all(_matches(t, c) for c in criteria.values())]
        data = [{str(f): t.get(COLUMNS.get(f, ""), "") for f in shown} for t in rows]
        answer = recorded("search")["body"] | {"totalcount": len(data), "count": len(data), "data": data,
                                               "content-range": f"0-{max(len(data) - 1, 0)}/{len(data)}"}
        return self._send(200, answer)

    # ------------------------------------------------------------------ answers
    def _error(self, code: str) -> None:
        shape = recorded("errors")[code]
        return self._send(shape["status"], shape["body"])

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _matches(ticket: dict, criterion: dict) -> bool:
    value = ticket.get(COLUMNS.get(int(criterion.get("field", 0)), ""), "")
    if criterion.get("searchtype") == "equals":
        return str(value) == criterion.get("value")
    return criterion.get("value", "").lower() in str(value).lower()


class GlpiPeer:
    """The server and its state; `url` is what glpi.url is set to."""

    def __init__(self, app_token: str = "f7g3csp8mgatg5ebc5elnazakw20i9fyev1qopya7",
                 user_token: str = "tok-usuario-oti-agent-0123456789"):
        self.state = GlpiState(app_token=app_token, user_token=user_token)
        handler = type("GlpiHandler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX.rstrip('/')}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GlpiPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
