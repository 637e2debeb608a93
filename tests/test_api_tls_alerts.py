"""The HTTP API over TLS (secure session cookie, the docs load) and an alert escalated by hand to its next step."""

from __future__ import annotations

import os
import ssl
from datetime import timedelta

import httpx
import pytest

from agent.api.app import create_app
from agent.core.results import CheckResult, Reading, State
from agent.web.pages import router as pages
from tests.test_api import Running, _login, daemon
from tests.test_people_auth import T0, Clock, people_site


def _self_signed(folder):
    """A certificate for 127.0.0.1 and its key, as an office's own CA would give (here self-signed)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oti-agent")])
    now = T0.replace(year=2020)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=365 * 30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(key, hashes.SHA256()))
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    os.chmod(folder / "tls.key", 0o600)
    return folder / "tls.crt"


def test_over_tls_the_session_cookie_is_secure_and_docs_load(site):
    cert = _self_signed(site.root)
    config = people_site(site)
    site.extra["http"] = {"listen": "127.0.0.1", "port": 0, "tls_cert": "tls.crt", "tls_key": "tls.key"}
    settings, ctx = daemon(site.write(), Clock(T0))
    assert settings.config.http.base_url().startswith("https://127.0.0.1:") and config.exists()
    with Running(create_app(ctx), settings) as running, \
            httpx.Client(base_url=running.url, verify=ssl.create_default_context(cafile=str(cert)),
                         timeout=10) as http:
        assert running.url.startswith("https://127.0.0.1:")
        answer = _login(http)
        assert answer.status_code == 200 and "secure" in answer.headers["set-cookie"].lower()
        docs = http.get("/api/v1/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
        schemes = http.get("/api/v1/openapi.json").json()["components"]["securitySchemes"]
        assert schemes["token"]["scheme"] == "bearer" and schemes["session"]["name"] == "oti_session"
        with pytest.raises(httpx.TransportError):             # plain HTTP gets nothing
            httpx.get(running.url.replace("https", "http") + "/api/v1/health", timeout=5)


def test_an_alert_is_escalated_by_hand_to_the_next_step(site):
    """Activity 8: the specialist cannot solve it and sends the next escalation step now."""
    site.extra["mail"] = {"host": "127.0.0.1", "port": 9, "sender": "oti@entidad.example",
                          "recipients": {"especialistas": ["is@entidad.example"], "jefa": ["jefa@entidad.example"]}}
    site.extra["alerts"] = {"policies": [{"name": "ups", "steps": [{"to": ["especialistas"]},
                                                                    {"after": "1h", "to": ["jefa"]}]}]}
    clock = Clock(T0)
    settings, ctx = daemon(people_site(site), clock)
    changes = ctx.store.record([CheckResult("snmp", "ups-01", clock(), 0.2, [
        Reading("ups_output_source", None, State.CRITICAL, text="battery", message="en baterías")])], clock())
    ctx.alerts.process(changes)
    ctx.alerts.tick()                                          # step 1 at once: the specialists
    with Running(create_app(ctx, extra_routers=[pages]), settings) as running, running.client() as http:
        answer = _login(http)
        alert = http.get("/api/v1/alerts").json()[0]
        assert alert["notified"] == 1
        done = http.post(f"/api/v1/alerts/{alert['id']}/escalate", json={"comment": "no es la UPS: el tablero"},
                         headers={"X-CSRF-Token": answer.json()["csrf"]})
        assert done.status_code == 200, done.text
        assert done.json()["notified"] == 2                   # the jefa's step, an hour early
    queued = [m for m in ctx.alerts.outbox.pending() if m["to"] == ["jefa@entidad.example"]]
    assert len(queued) == 1
    events = [e["event"] for e in ctx.alerts.events(alert["id"])]
    assert "escalated" in events
