"""The HTTP API as its users meet it: over real HTTP on loopback (uvicorn started by agent.api.server.serve
on a free port) and over the local UNIX socket, with httpx. Logins, lockout, sessions and CSRF, tokens and
their scopes, the OS user of the socket, /metrics, documents, OpenAPI and the login page."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from datetime import timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, make_asgi_app

from agent.alerts import AlertBook
from agent.api.app import create_app
from agent.api.context import ApiContext
from agent.api.server import serve
from agent.core.results import CheckResult, Reading, State
from agent.core.settings import load_all
from agent.errors import AgentError
from agent.people.auth import INCORRECT, Authenticator
from agent.store import Store
from agent.web.pages import router as pages
from tests.test_people_auth import ANA_PW, LUIS_PW, T0, Clock, people_site


class Running:
    """The app served by agent.api.server.serve on its own event loop (a thread), as the daemon serves it."""

    def __init__(self, app, settings):
        self.app, self.http = app, settings.config.http
        self.socket = settings.config.path(self.http.socket)
        self.base_dir = settings.config.base_dir
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.listening = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        loop = asyncio.new_event_loop()
        self.loop = loop
        self.stop = asyncio.Event()
        try:
            loop.run_until_complete(serve(self.app, self.http, self.socket, self.stop, base_dir=self.base_dir,
                                          ready=self._started))
        except BaseException as err:          # noqa: BLE001 - told to the test thread
            self._error = err
            self._ready.set()
        finally:
            loop.close()

    def _started(self, listening):
        self.listening = listening
        self._ready.set()

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(15), "the server did not start"
        if self._error:
            raise self._error
        self.url = self.listening.url
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self._thread.join(15)
        assert not self._thread.is_alive()

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False, **kw)

    def local(self) -> httpx.Client:
        return httpx.Client(base_url="http://oti-agent", timeout=10,
                            transport=httpx.HTTPTransport(uds=str(self.socket)))


def daemon(config, clock):
    """What the daemon builds for the API: settings, store, authenticator, alert book, /metrics."""
    settings = load_all(config)
    store = Store.for_config(settings.config)
    auth = Authenticator(settings, store, clock=clock)
    auth.accounts.set_password("ana", ANA_PW)
    auth.accounts.set_password("luis", LUIS_PW)
    registry = CollectorRegistry()
    Counter("oti_probe_runs", "probe runs", registry=registry).inc(3)
    ctx = ApiContext(settings=settings, store=store, auth=auth, clock=clock,
                     alerts=AlertBook(settings, store, clock=clock), metrics=make_asgi_app(registry=registry))
    return settings, ctx


@pytest.fixture
def office(site):
    """The office's daemon serving its API, with a UPS on battery (one open alert)."""
    clock = Clock(T0)                            # Luis stands in for Ana (especialista IS) on T0's days
    settings, ctx = daemon(people_site(site), clock)
    changes = ctx.store.record([CheckResult("snmp", "ups-01", clock(), 0.2, [
        Reading("ups_output_source", None, State.CRITICAL, text="battery", message="en baterías")])], clock())
    ctx.alerts.process(changes)
    with Running(create_app(ctx, extra_routers=[pages]), settings) as running:
        running.ctx, running.clock, running.site = ctx, clock, site
        yield running


def _login(http, login="ana", password=ANA_PW):
    return http.post("/api/v1/login", json={"login": login, "password": password})


def test_health_metrics_and_openapi_answer_without_login_and_the_rest_does_not(office):
    with office.client() as http:
        health = http.get("/api/v1/health")
        assert health.status_code == 200 and (health.json()["status"], health.json()["store"]) == ("ok", True)
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and "oti_probe_runs_total 3.0" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")
        paths = http.get("/api/v1/openapi.json").json()["paths"]
        for path in ("/api/v1/devices", "/api/v1/devices/{name}", "/api/v1/alerts/{alert_id}/ack",
                     "/api/v1/login", "/api/v1/whoami", "/api/v1/documents/{path}", "/api/v1/backups",
                     "/api/v1/tapes", "/api/v1/health"):
            assert path in paths, path
        assert "/login" not in paths and "/metrics" not in paths
        for path in ("/api/v1/devices", "/api/v1/alerts", "/api/v1/whoami", "/api/v1/documents",
                     "/api/v1/tapes", "/api/v1/backups"):
            answer = http.get(path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Bearer") and "error" in answer.json()
        assert http.get("/api/v1/devices?token=oti_x").status_code == 401        # never from the query
        headers = health.headers
        assert [headers[h] for h in ("x-content-type-options", "x-frame-options", "referrer-policy")] == [
            "nosniff", "DENY", "same-origin"]


def test_wrong_password_and_unknown_login_look_alike_and_the_sixth_failure_is_locked_out(office):
    with office.client() as http:
        wrong, unknown = _login(http, "ana", "equivocada-123"), _login(http, "quien", "equivocada-123")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"error": INCORRECT}
        for _ in range(3):
            assert _login(http, "ana", "equivocada-123").status_code == 401
        locked = _login(http, "ana", ANA_PW)                   # the 6th attempt, the right password
        assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 300
        assert "demasiados intentos" in locked.json()["error"] and ANA_PW not in locked.text


def test_a_session_cookie_needs_the_csrf_value_to_change_anything(office):
    with office.client() as http:
        answer = _login(http)
        assert answer.status_code == 200, answer.text
        cookie = answer.headers["set-cookie"].lower()
        assert all(flag in cookie for flag in ("httponly", "samesite=lax", "path=/"))
        assert "secure" not in cookie                        # plain HTTP here; over TLS, see below
        me = http.get("/api/v1/whoami").json()
        assert (me["login"], me["name"], me["channel"], me["source"]) == ("ana", "Ana Quispe", "web", "local")
        assert me["roles"] == [{"role": "especialista_is", "held": "titular",
                                "title": "Especialista en Infraestructura y Soporte"}]
        alert = http.get("/api/v1/alerts").json()[0]
        assert (alert["device"], alert["status"], alert["severity"]) == ("ups-01", "open", "CRITICAL")
        refused = http.post(f"/api/v1/alerts/{alert['id']}/ack", json={"comment": "voy"})
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
        wrong = http.post(f"/api/v1/alerts/{alert['id']}/ack", json={}, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403
        done = http.post(f"/api/v1/alerts/{alert['id']}/ack", json={"comment": "voy a la sala"},
                         headers={"X-CSRF-Token": answer.json()["csrf"]})
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["acked_by"]) == ("acknowledged", "Ana Quispe (ana)")
        csrf = {"X-CSRF-Token": answer.json()["csrf"]}
        again = http.post(f"/api/v1/alerts/{alert['id']}/ack", headers=csrf)
        assert again.status_code == 409 and "not open" in again.json()["error"]
        missing = http.post("/api/v1/alerts/999/ack", headers=csrf)
        assert missing.status_code == 404 and missing.json() == {"error": "no alert 999"}
        assert http.post("/api/v1/logout", headers={"X-CSRF-Token": answer.json()["csrf"]}).status_code == 204
        http.cookies.set("oti_session", answer.cookies["oti_session"])       # the old cookie, kept
        assert http.get("/api/v1/whoami").status_code == 401


def test_a_token_may_do_what_its_scope_and_its_persons_roles_allow(office):
    tokens = office.ctx.auth.tokens
    read = tokens.create("ana", "tablero", ["read"], timedelta(days=30))
    operate = tokens.create("ana", "script de guardia", ["operate"], timedelta(days=30))
    luis = tokens.create("luis", "sin rol", ["operate"], timedelta(days=30))
    alert_id = office.ctx.alerts.list()[0]["id"]
    with office.client() as http:
        def ack(token):
            return http.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "visto"},
                             headers={"Authorization": f"Bearer {token}"})

        assert http.get("/api/v1/alerts", headers={"Authorization": f"Bearer {read}"}).status_code == 200
        refused = ack(read)
        assert refused.status_code == 403 and "alcance 'operate'" in refused.json()["error"]
        office.clock.now += timedelta(days=5)                 # luis's deputy days are over
        nobody = ack(luis)
        assert nobody.status_code == 403
        assert "Especialista en Infraestructura y Soporte" in nobody.json()["error"]
        done = ack(operate)                                   # no CSRF value for a token
        assert done.status_code == 200 and done.json()["acked_by"] == "Ana Quispe (ana)"
        me = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {operate}"}).json()
        assert (me["channel"], me["source"], me["scopes"]) == ("api", "token", ["operate"])
        assert http.get("/api/v1/alerts", headers={"Authorization": f"Basic {read}"}).status_code == 401


def test_expired_revoked_and_malformed_tokens_are_refused(office):
    tokens = office.ctx.auth.tokens
    short = tokens.create("ana", "un día", ["read"], timedelta(days=1))
    revoked = tokens.create("ana", "filtrado", ["read"], timedelta(days=30))
    tokens.revoke(revoked[4:16])
    with office.client() as http:
        def get(token):
            return http.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})

        assert get(short).status_code == 200
        assert get(revoked).status_code == 401
        assert get(short[:-3]).status_code == 401 and get("oti_").status_code == 401
        office.clock.now += timedelta(days=2)
        expired = get(short)
        assert expired.status_code == 401 and short not in expired.text


def test_devices_list_their_state_and_one_device_its_readings(office):
    token = office.ctx.auth.tokens.create("luis", "tablero", ["read"], timedelta(days=1))
    with office.client(headers={"Authorization": f"Bearer {token}"}) as http:
        devices = http.get("/api/v1/devices").json()
        assert devices == [{"name": "ups-01", "kind": "ups", "criticality": "no_critico",
                            "site": "sede-central", "address": "127.0.0.1", "state": "CRITICAL", "up": True}]
        ups = http.get("/api/v1/devices/ups-01").json()
        assert ups["readings"][0]["text"] == "battery" and ups["checks"][0]["check"] == "snmp"
        assert http.get("/api/v1/devices/nope").json() == {"error": "no device 'nope' in the inventory"}
        assert http.get("/api/v1/backups").json() == [] and http.get("/api/v1/tapes").json() == []


def test_the_local_socket_knows_the_os_user(office):
    assert os.stat(office.socket).st_mode & 0o777 == 0o666
    with office.local() as local:
        me = local.get("/api/v1/whoami").json()
        assert (me["login"], me["channel"], me["source"]) == ("ana", "cli", "os")
        alert_id = office.ctx.alerts.list()[0]["id"]
        done = local.post(f"/api/v1/alerts/{alert_id}/resolve", json={"comment": "red restablecida"})
        assert done.status_code == 200 and done.json()["resolved_by"] == "Ana Quispe (ana)"   # no CSRF


def test_an_os_user_nobody_names_is_refused_on_the_socket(site):
    settings, ctx = daemon(people_site(site, os_user=None), Clock(T0))
    with Running(create_app(ctx), settings) as running, running.local() as local:
        answer = local.get("/api/v1/whoami")
        assert answer.status_code == 401
        assert "add os_user: root to the person in people" in answer.json()["error"]
        assert local.get("/api/v1/health").status_code == 200


def test_a_stale_socket_is_replaced_a_live_one_refused_and_ours_removed_at_exit(site):
    settings, ctx = daemon(people_site(site), Clock(T0))
    path = settings.config.path(settings.config.http.socket)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))                         # a daemon that died: its socket file, nobody behind it
    dead.close()
    with Running(create_app(ctx), settings) as running, running.local() as local:
        assert local.get("/api/v1/whoami").json()["login"] == "ana"
        with pytest.raises(AgentError, match=f"another oti-agent answers on {path}"):
            with Running(create_app(ctx), settings):
                pass
        assert local.get("/api/v1/health").status_code == 200          # the first one still serves
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(AgentError, match="exists and is not a socket"):
        with Running(create_app(ctx), settings):
            pass


def test_documents_are_listed_and_downloaded_only_from_their_folder(office):
    docs = office.ctx.settings.config.path(office.ctx.settings.config.documents_dir)
    (docs / "checklists").mkdir(parents=True)
    (docs / "checklists" / "checklist-diario-2026-11-26.html").write_text("<p>checklist</p>")
    (docs / "reportes").mkdir()
    (docs / "reportes" / "informe-mensual-2026-10.pdf").write_bytes(b"%PDF-1.7")
    secret = office.site.root / "secrets" / "ups"
    (docs / "reportes" / "atajo.txt").symlink_to(secret)
    (docs / "fuera").symlink_to(office.site.root / "secrets", target_is_directory=True)
    token = office.ctx.auth.tokens.create("ana", "archivo", ["read"], timedelta(days=30))
    luis = office.ctx.auth.tokens.create("luis", "archivo", ["read"], timedelta(days=30))
    with office.client(headers={"Authorization": f"Bearer {token}"}) as http:
        listed = http.get("/api/v1/documents").json()
        assert [(d["path"], d["kind"], d["format"], d["date"]) for d in listed] == [
            ("checklists/checklist-diario-2026-11-26.html", "checklists", "html", "2026-11-26"),
            ("reportes/informe-mensual-2026-10.pdf", "reportes", "pdf", "2026-10-01")]
        got = http.get("/api/v1/documents/checklists/checklist-diario-2026-11-26.html")
        assert got.status_code == 200 and got.text == "<p>checklist</p>"
        assert got.headers["content-disposition"].startswith("attachment")
        for path in ("reportes/atajo.txt", "fuera/ups", "..%2Fconfig.yaml", "%2e%2e/%2e%2e/etc/passwd",
                     "checklists/..%2F..%2Fconfig.yaml", "nada.pdf", "%00"):
            answer = http.get(f"/api/v1/documents/{path}")
            assert answer.status_code == 404, (path, answer.status_code)
            assert "ups-rfc1628" not in answer.text
        as_luis = {"Authorization": f"Bearer {luis}"}
        assert http.get("/api/v1/documents", headers=as_luis).status_code == 200      # deputy IS: staff
        office.clock.now += timedelta(days=5)
        refused = http.get("/api/v1/documents", headers=as_luis)                        # not any more
        assert refused.status_code == 403 and "Jefa de la OTI (jefa)" in refused.json()["error"]


def test_the_login_page_is_spanish_escapes_next_and_sends_only_to_local_paths(office):
    hostile = '/"><script>alert(1)</script>'
    with office.client() as http:
        page = http.get("/login", params={"next": hostile})
        assert page.status_code == 200 and '<html lang="es-PE">' in page.text
        assert "Iniciar sesión" in page.text and "Contraseña" in page.text and 'name="viewport"' in page.text
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
        csp = page.headers["content-security-policy"]
        assert csp.startswith("default-src 'none'; script-src 'self'; style-src 'self';") and "unsafe" not in csp
        assert '<link rel="stylesheet" href="/static/console.css">' in page.text and "<style" not in page.text
        outside = http.get("/login", params={"next": "//evil.example/x"})
        assert 'value="/"' in outside.text and "evil.example" not in outside.text
        wrong = http.post("/login", data={"login": "ana", "password": "equivocada-123", "next": "/x"})
        assert wrong.status_code == 401 and INCORRECT in wrong.text
        foreign = http.post("/login", data={"login": "ana", "password": ANA_PW},
                            headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and "oti_session" not in foreign.headers.get("set-cookie", "")
        for target, landing in (("//evil.example/", "/"), ("/\\evil.example", "/"),
                                ("https://evil.example", "/"),
                                ("/alertas?estado=abiertas", "/alertas?estado=abiertas")):
            http.cookies.clear()
            done = http.post("/login", data={"login": "ana", "password": ANA_PW, "next": target})
            assert done.status_code == 303 and done.headers["location"] == landing, target
        logged = http.get("/login")
        assert "Sesión iniciada" in logged.text and "Ana Quispe" in logged.text
        csrf = logged.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert http.post("/logout", data={}).status_code == 403          # the form without its CSRF value
        out = http.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert http.get("/api/v1/whoami").status_code == 401
