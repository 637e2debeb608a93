"""Profiles name actions: one `snmp_action` step shuts down an RFC 1628, an APC and an Eaton UPS, each
with the SETs of its own MIB and the delay the runbook gives (activity 15 of S.04.04.01.02_P)."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap

import pytest

from agent.core.settings import load_all
from agent.demo import simulator
from agent.errors import ConfigError
from agent.runbook.engine import Engine
from agent.runbook.model import load
from agent.runbook.plan import make_plan
from agent.store import Store
from tests.conftest import REPO
from tests.peers.programs import path

RECORDINGS = {"ups-rfc1628": REPO / "demo/snmprec/ups-rfc1628.snmprec",
              "apc-powernet": REPO / "tests/fixtures/snmprec/ups-apc-control.snmprec",
              "eaton-xups": REPO / "tests/fixtures/snmprec/ups-eaton-control.snmprec"}
RUNBOOK = """\
id: apagar-ups
title: Apaga las UPS por traslado
procedure: S.04.04.01.02_P
params:
  retardo: {type: int, default: 120}
steps:
  - id: apagar-ups
    activity: 15
    name: Apaga el sistema de protección eléctrica (UPS)
    kind: snmp_action
    targets: {kinds: [ups]}
    with: {action: shutdown, credential: escritura, params: {delay_s: "{{ params.retardo }}"}}
"""


@pytest.fixture
def three_ups(tmp_path):
    """One snmpsim per UPS, each answering the write community `escritura` with its own recording."""
    sims, ports = [], {}
    try:
        for profile, recording in RECORDINGS.items():
            work = tmp_path / f"sim-{profile}"
            simulator.prepare_data(work, {"escritura": recording})
            port = simulator.free_udp_port()
            sims.append(simulator.start(work, [("127.0.0.1", port)], ready_community="escritura"))
            ports[profile] = port
        yield ports
    finally:
        for sim in sims:
            sim.stop()


def _snmpget(port: int, oid: str) -> str:
    done = subprocess.run([path("snmpget"), "-v2c", "-c", "escritura", "-Oqv", f"127.0.0.1:{port}", oid],
                          capture_output=True, text=True, timeout=20)
    return done.stdout.strip()


def _site(site, tmp_path, ports: dict[str, int], extra_profile: str | None = None):
    cred = site.v2c("escritura", "escritura")
    for profile, port in ports.items():
        site.snmp_device(f"ups-{profile}", "ups", profile, cred, port)
    if extra_profile:
        site.snmp_device("ups-sin-accion", "ups", extra_profile, cred, ports["ups-rfc1628"])
    site.extra["runbooks_dir"] = "runbooks"
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "apagar-ups.yaml").write_text(textwrap.dedent(RUNBOOK))
    return load_all(site.write())


def test_one_step_shuts_down_three_makes_of_ups_with_the_runbooks_delay(site, tmp_path, three_ups):
    settings = _site(site, tmp_path, three_ups)
    book = load(tmp_path / "runbooks" / "apagar-ups.yaml")
    plan = make_plan(book, book.resolve_params({"retardo": "90"}), settings)
    assert {d.name for d in plan.steps[0].targets} == {f"ups-{p}" for p in RECORDINGS}
    engine = Engine(settings, Store(settings.config.store.url, settings.config.base_dir))
    run_id = engine.start(book, book.resolve_params({"retardo": "90"}), "luis")
    assert asyncio.run(engine.execute(run_id)) == "successful", engine.journal.steps(run_id)

    rfc, apc, eaton = (three_ups[p] for p in ("ups-rfc1628", "apc-powernet", "eaton-xups"))
    assert _snmpget(rfc, "1.3.6.1.2.1.33.1.8.1.0") == "1"                  # upsShutdownType = output
    assert _snmpget(rfc, "1.3.6.1.2.1.33.1.8.2.0") == "90"                 # upsShutdownAfterDelay, seconds
    assert _snmpget(apc, "1.3.6.1.4.1.318.1.1.1.5.2.10.0") in ("9000", "0:0:01:30.00")   # TimeTicks: 90 s
    assert _snmpget(apc, "1.3.6.1.4.1.318.1.1.1.6.2.1.0") == "3"           # turnUpsOffGracefully
    assert _snmpget(eaton, "1.3.6.1.4.1.534.1.9.1.0") == "90"              # xupsControlOutputOffDelay
    done = {a["target"]: a["message"] for a in engine.journal.actions(run_id)}
    assert "1.3.6.1.4.1.534.1.9.1.0=90" in done["ups-eaton-xups"]


def test_plan_refuses_a_ups_whose_profile_has_no_such_action(site, tmp_path, three_ups):
    settings = _site(site, tmp_path, three_ups, extra_profile="liebert-gp")
    book = load(tmp_path / "runbooks" / "apagar-ups.yaml")
    with pytest.raises(ConfigError) as err:
        make_plan(book, book.resolve_params({}), settings)
    text = str(err.value)
    assert "steps[apagar-ups]" in text and "ups-sin-accion" in text and "no action 'shutdown'" in text
    assert "liebert-gp" in text
