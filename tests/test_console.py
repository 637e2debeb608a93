"""The console's frame, as a person meets it over HTTP from the real daemon: the login page for a browser
without a session (then back where it was going), the sections a person's roles open and a 403 page for
the others, Estado showing a UPS going on battery in the body the page asks for again, the security
headers, and the vendored htmx being what its checksums say."""

from __future__ import annotations

import hashlib
import time

import httpx

from agent.web.console import STATIC
from tests.console import Person, set_passwords, text_of


def _menu(html: str) -> str:
    """The words of the menu of sections."""
    return text_of(html.split('<nav class="menu" aria-label="Secciones">')[1].split("</nav>")[0])


def _ups_site(site, snmpsim):
    site.snmp_device("ups-01", "ups", "ups-rfc1628", site.v2c("ups", "ups-rfc1628"), snmpsim.port)
    site.group("energia", ["snmp"], interval="1s", timeout="0.8s")
    return site.write()


def test_the_console_asks_for_a_login_opens_the_sections_of_the_roles_and_shows_the_ups(site, snmpsim, agentd):
    config = _ups_site(site, snmpsim)
    set_passwords(config)
    daemon = agentd(config)
    anonymous = httpx.get(f"{daemon.url}/alertas?desde=7", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/alertas%3Fdesde%3D7"
    assert httpx.get(f"{daemon.url}/api/v1/devices").status_code == 401           # the API keeps its JSON 401

    with Person(daemon, "luis") as luis, Person(daemon, "joanna") as joanna:
        deadline = time.monotonic() + 30
        while "min de batería" not in (body := luis.get("/estado/cuerpo").text):
            assert time.monotonic() < deadline, body[:2000]
            time.sleep(0.3)
        home = luis.get("/")
        assert home.status_code == 200
        words = text_of(home.text)
        assert "Luis Quispe (luis)" in words and "Estado del centro de datos" in words
        assert "ups-01" in words and "Red eléctrica" in words
        assert _menu(home.text) == ("Estado Alertas Ejecuciones Documentos Copias y cintas Cumplimiento Registro de acceso "
                                    "Equipos Licencias y garantías")

        csp = home.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
        assert home.headers["referrer-policy"] == "same-origin"
        assert 'hx-get="/estado/cuerpo"' in home.text and "<script>" not in home.text

        # General Management reads Estado, but the operators' sections are not hers
        gg_home = joanna.get("/")
        assert _menu(gg_home.text) == "Estado Ejecuciones Documentos Registro de acceso Licencias y garantías"
        refused = joanna.get("/copias")
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
        assert "«Copias y cintas» es para" in text_of(refused.text)

        # the UPS goes on battery: the body Estado asks for every few seconds says so, with its minutes
        site.secret("ups", "ups-onbattery")
        deadline = time.monotonic() + 30
        # the reading is shown the moment it is polled, its alert once the store has recorded it: the page
        # (refreshed every few seconds) shows both within a moment
        while "En batería" not in (body := text_of(luis.get("/estado/cuerpo").text)) \
                or "Alertas abiertas (0)" in body:
            assert time.monotonic() < deadline, body[:2000]
            time.sleep(0.3)
        assert "ups-01" in body

        missing = luis.get("/no-existe")
        assert missing.status_code == 404 and "No existe esa página." in text_of(missing.text)
        assert httpx.get(f"{daemon.url}/api/v1/no-existe").json() == {"error": "Not Found"}   # the API: JSON

        # logging out ends the session: the next page is the login page again, and a piece htmx asks for
        # sends the whole page there (not the login form swapped into the body)
        assert luis.post("/logout").status_code == 303
        assert luis.get("/").status_code == 303
        piece = luis.get("/estado/cuerpo", headers={"HX-Request": "true", "HX-Current-URL": f"{daemon.url}/"})
        assert piece.status_code == 200 and piece.headers["hx-redirect"] == "/login?next=/"


def test_the_vendored_htmx_is_what_its_checksums_and_licences_say():
    vendor = STATIC / "vendor"
    for line in (vendor / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
        assert (vendor / name).with_name("LICENSE").read_text().strip(), f"no licence beside {name}"
