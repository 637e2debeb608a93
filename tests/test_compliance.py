"""Patch compliance of Linux hosts over real SSH, judged by the policy and its exceptions; the parsers
on recorded outputs (a Debian 12 host's real `apt-get -s dist-upgrade`, RHEL 9's dnf updateinfo)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from agent.core.compliance import CompliancePolicy, Facts, compliant, judge
from agent.core.settings import load_all
from agent.monitoring.jobs import all_jobs
from agent.monitoring.once import probe_context
from agent.monitoring.runner import Runner
from agent.store import Store
from agent.store.schema import pending_updates
from checks.linux_updates import parse

pytestmark = pytest.mark.dates                     # `make test-dates` runs these at fixed dates

FIXTURES = Path(__file__).parent / "fixtures" / "compliance"


def run_checks(settings):
    """Every check group of a config, once: what the daemon does each interval."""
    async def run():
        ctx = probe_context(settings, ThreadPoolExecutor(2))
        try:
            return await Runner(ctx, 4).run([j for js in all_jobs(settings).values() for j in js])
        finally:
            await ctx.aclose()

    return asyncio.run(run())


def test_parsers_on_recorded_outputs():
    apt = parse("##apt\n" + (FIXTURES / "apt-dist-upgrade-debian12.txt").read_text() + "##reboot\nsince 1795000000\n"
                "##now\n1795600000\n")
    assert apt.manager == "apt" and "libgcrypt20" in apt.security and "bash" not in apt.security
    assert apt.other > 0 and apt.reboot_pending and (apt.now - apt.reboot_since).days == 6
    dnf = parse("##dnf\n" + (FIXTURES / "dnf-updateinfo-security-rhel9.txt").read_text() + "##reboot\npending\n")
    assert dnf.manager == "dnf" and len(dnf.security) == 4 and dnf.reboot_pending and dnf.reboot_since is None


def test_policy_exceptions_count_until_they_expire():
    policy = CompliancePolicy(max_missing_days=14, exceptions=[
        {"host": "app-01", "rule": "updates", "until": "2026-12-31", "reason": "ventana de cambios en enero",
         "granted_by": "Mariella"},
        {"host": "app-02", "rule": "updates", "until": "2026-11-01", "reason": "vencida", "granted_by": "Mariella"}])
    facts = Facts(missing=[("openssl", 20), ("bash", 3)], reboot_pending_days=1)
    today = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    one = judge("app-01", facts, policy, today)
    assert compliant(one) and "excepción hasta 31/12/2026" in one[0].exempt
    two = judge("app-02", facts, policy, today)
    assert not compliant(two) and "openssl (20 d)" in two[0].detail and not two[0].exempt


def test_linux_host_over_ssh_becomes_non_compliant_as_updates_age(site, tmp_path, datacenter):
    datacenter.all_on()
    fake = tmp_path / "fake-apt"
    fake.write_text("#!/bin/sh\ncat " + str(FIXTURES / "apt-dist-upgrade-debian12.txt") + "\n")
    fake.chmod(0o755)
    site.ssh_creds["root"] = {"user": "root", "key_file": str(datacenter.key), "known_hosts": str(datacenter.known_hosts)}
    site.hosts["vm-app"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_virtual",
                            "oti_ssh": {"credential": "root", "port": datacenter.ports["vm-app"]}}
    site.group("parches", [{"check": "linux_updates", "options": {"apt_command": str(fake)}}], names=["vm-app"])
    site.extra["compliance"] = {"max_missing_days": 14}
    config = site.write()

    def poll():
        settings = load_all(config)

        (result,) = run_checks(settings)
        assert result.up, result.error
        return {r.key: r for r in result.readings}, Store(settings.config.store.url, settings.config.base_dir)

    readings, store = poll()
    assert readings["updates_security_pending"].value >= 10
    assert readings['compliance_ok{area="parches"}'].state.name == "OK"         # just seen: within the 14 days
    with store.engine.begin() as conn:                                          # three weeks pass
        conn.execute(update(pending_updates).where(pending_updates.c.item == "libgcrypt20")
                     .values(first_seen=datetime.now(UTC) - timedelta(days=21, hours=1)))
    readings, _ = poll()
    verdict = readings['compliance_ok{area="parches"}']
    assert verdict.state.name == "CRITICAL" and "libgcrypt20 (21 d)" in verdict.message

    site.extra["compliance"]["exceptions"] = [{"host": "vm-app", "rule": "updates",
                                               "until": (date.today() + timedelta(days=5)).isoformat(),
                                               "reason": "servidor en migración", "granted_by": "Mariella"}]
    config = site.write()
    readings, _ = poll()
    assert readings['compliance_ok{area="parches"}'].state.name == "OK"
    assert "servidor en migración" in readings['compliance_rule_ok{area="parches",rule="updates"}'].message


def _policy(**kw) -> CompliancePolicy:
    return CompliancePolicy(**kw)


def test_wsus_answer_recorded():
    import json

    from checks.windows_compliance import WsusAnswer, WsusCheck

    computers = json.loads((FIXTURES / "wsus-computers.json").read_text())
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    readings = WsusCheck().evaluate(WsusAnswer(computers, ["srv-app-01", "srv-bd-01", "srv-new-01"], _policy(), now),
                                    None, {})
    verdict = {dict(r.labels)["host"]: r for r in readings if r.name == "compliance_ok"}
    app = verdict["srv-app-01"]                                   # KB5070100 approved ~29 days ago, still needed
    assert app.state.name == "CRITICAL" and "KB5070100 (30 d)" in app.message
    assert "KB5070222" not in app.message                        # not approved for it: not counted
    bd = verdict["srv-bd-01"]                                    # failed + pending reboot; the Unknown
    assert bd.state.name == "CRITICAL" and "KB4052623" in bd.message and "KB5070111" not in bd.message
    old = verdict["srv-old-01"]                                  # last report in September: stale
    assert old.state.name == "CRITICAL" and "último reporte hace" in old.message
    assert verdict["srv-new-01"].state.name == "CRITICAL" and "desconocido para WSUS" in verdict["srv-new-01"].message


def test_defender_recorded_and_the_never_scanned_trap():
    import json

    from checks.windows_compliance import defender_facts

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    healthy = defender_facts(json.loads((FIXTURES / "defender-healthy.json").read_text()), now)
    assert compliant(judge("srv-app-01", healthy, _policy(), now))
    stale = defender_facts(json.loads((FIXTURES / "defender-stale-never-scanned.json").read_text()), now)
    findings = {f.rule: f for f in judge("srv-bd-01", stale, _policy(), now)}
    assert not findings["antivirus"].ok and "tiempo real desactivada" in findings["antivirus"].detail
    assert "nunca se ha ejecutado" in findings["antivirus"].detail          # 4294967295 is never, not 11 million years
    assert not findings["signatures"].ok and "12 días" in findings["signatures"].detail


def test_winrm_host_refusing_login_is_a_clear_finding(site, tmp_path):
    """The real WinRM code path against a real HTTP endpoint that answers 401 to every login."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self):                       # noqa: N802 - http.server's name
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Basic realm=WSMAN")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        site.hosts["srv-app-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_virtual",
                                    "oti_winrm": {"credential": "dominio", "port": server.server_address[1],
                                                  "scheme": "http"}}
        site.group("antivirus", ["defender"], names=["srv-app-01"])
        config = site.write()
        import yaml

        data = yaml.safe_load(config.read_text())
        data.pop("credentials", None)
        data["credentials"] = {"winrm": {"dominio": {"user": "svc-oti", "password": site.secret("winrm", "s3cr3t!"),
                                                     "transport": "basic", "allow_plain_http": True}}}
        config.write_text(yaml.safe_dump(data))
        settings = load_all(config)

        (result,) = run_checks(settings)
    finally:
        server.shutdown()
    assert not result.up and result.error_kind == "auth"
    assert "login as svc-oti refused" in result.error and "s3cr3t" not in result.error


def test_clamav_recorded():
    from checks.antivirus import ClamAnswer, ClamavCheck

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    ok = ClamavCheck().evaluate(ClamAnswer((FIXTURES / "clamav-healthy.txt").read_text(), _policy(), now),
                                _Dev("srv-linux-01"), {})
    assert ok[0].state.name == "OK"
    bad = ClamavCheck().evaluate(ClamAnswer((FIXTURES / "clamav-stale.txt").read_text(), _policy(), now),
                                 _Dev("srv-linux-02"), {})
    assert bad[0].state.name == "CRITICAL" and "clamd detenido" in bad[0].message and "firmas de hace 107 días" \
        in bad[0].message


class _Dev:
    def __init__(self, name):
        self.name, self.ssh = name, object()


def test_console_export_through_a_column_mapping_and_a_broken_export(site, tmp_path):
    import shutil

    for name in ("eset-protect-export.csv", "kaspersky-export-missing-columns.csv"):
        shutil.copy(FIXTURES / name, site.root / name)
    site.hosts["consola-av"] = {"ansible_host": "127.0.0.40", "oti_kind": "server_virtual"}
    site.group("antivirus", [
        {"check": "av_console", "options": {"file": "eset-protect-export.csv", "product": "ESET PROTECT",
                                            "columns": {"host": "Nombre del equipo", "protected": "Estado de protección",
                                                        "realtime": "Protección en tiempo real",
                                                        "signature_date": "Última actualización de módulos"}}},
        {"check": "av_console", "options": {"file": "kaspersky-export-missing-columns.csv", "product": "Kaspersky",
                                            "columns": {"host": "Equipo", "signature_date": "Fecha de bases"}}}],
        names=["consola-av"])
    site.extra["compliance"] = {"max_signature_age_days": 3, "exceptions": [
        {"host": "PC-CONTAB-07", "rule": "signatures", "until": (date.today() + timedelta(days=60)).isoformat(),
         "reason": "equipo en baja",
         "granted_by": "Mariella"}]}
    settings = load_all(site.write())

    results = run_checks(settings)
    assert all(r.up for r in results), [r.error for r in results]
    readings = [x for r in results for x in r.readings]
    hosts = {dict(x.labels).get("host"): x for x in readings if x.name == "compliance_ok"}
    rules = {(dict(x.labels).get("host"), dict(x.labels).get("rule")): x for x in readings
             if x.name == "compliance_rule_ok"}
    assert rules[("SRV-APP-01", "antivirus")].value == 1.0                  # protected, real-time on
    assert rules[("SRV-FS-01", "antivirus")].value == 0.0
    assert hosts["SRV-FS-01"].state.name == "CRITICAL" and "Desactivado" in hosts["SRV-FS-01"].message
    pc = hosts["PC-CONTAB-07"]
    assert pc.state.name == "CRITICAL" and "Sin protección" in pc.message
    assert "equipo en baja" in pc.message                                   # signatures exempt, protection not
    broken = [x for x in readings if x.name == "av_console_ok" and dict(x.labels)["console"] == "Kaspersky"][0]
    assert broken.state.name == "CRITICAL" and "faltan las columnas Equipo, Fecha de bases" in broken.message


def test_wsus_through_susdb_rows_recorded():
    import json

    from checks.windows_compliance import WsusAnswer, WsusCheck, susdb_computers

    rows = json.loads((FIXTURES / "susdb-rows.json").read_text())
    computers = susdb_computers(rows)
    assert [c["Name"].split(".")[0] for c in computers] == ["srv-app-01", "srv-bd-01", "srv-nuevo-01"]
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    readings = WsusCheck().evaluate(WsusAnswer(computers, [], _policy(), now), None, {})
    verdict = {dict(r.labels)["host"]: r for r in readings if r.name == "compliance_ok"}
    assert verdict["srv-app-01"].state.name == "CRITICAL" and "KB5070100 (30 d)" in verdict["srv-app-01"].message
    assert verdict["srv-bd-01"].state.name == "OK"                    # its only row was approved for others
    assert verdict["srv-nuevo-01"].state.name == "CRITICAL"           # known to WSUS, never reported
    assert "nunca ha reportado" in verdict["srv-nuevo-01"].message


def test_win_updates_recorded_and_the_real_ansible_path_without_the_collection(site, tmp_path):
    import json

    from checks.win_updates import WinUpdatesAnswer, WinUpdatesCheck, parse_result

    res = json.loads((FIXTURES / "win-updates-searched.json").read_text())
    found, failed, reboot = parse_result(res)
    assert found == ["KB5070100", "KB5070333"] and failed == ["KB2267602"] and reboot
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    answer = WinUpdatesAnswer(found, failed, reboot, {"KB5070100": now - timedelta(days=20)}, _policy(), now)
    verdict = [r for r in WinUpdatesCheck().evaluate(answer, _Dev("srv-app-01"), {}) if r.name == "compliance_ok"][0]
    assert verdict.state.name == "CRITICAL" and "KB5070100 (20 d)" in verdict.message and "KB2267602" in verdict.message

    # the real ansible-runner path: this machine has no ansible.windows collection, and says so
    site.hosts["srv-app-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "server_virtual",
                                "oti_winrm": {"credential": "dominio", "port": 5986}}
    site.group("parches-windows", ["win_updates"], names=["srv-app-01"], interval="1h", timeout="120s")
    import yaml

    config = site.write()
    data = yaml.safe_load(config.read_text())
    data["credentials"] = {"winrm": {"dominio": {"user": "svc-oti", "password": site.secret("winrm", "s3cr3t!")}}}
    config.write_text(yaml.safe_dump(data))
    settings = load_all(config)

    (result,) = run_checks(settings)
    assert not result.up and "srv-app-01" in result.error and "s3cr3t" not in result.error
    assert "the ansible.windows collection is not installed" in result.error
