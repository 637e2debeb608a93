"""Oracle status: no Oracle database runs here, so the judgement is tested on recorded query rows
(tests/fixtures/oracle/) and the python-oracledb path on a real connection attempt that is refused."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.core.config import AgentConfig
from agent.core.inventory import device_model
from agent.errors import ProbeUnavailable
from agent.transports.oracle import interpret, query_status
from checks.base import ProbeContext
from tests.peers.common import free_tcp_port

CASES = json.loads((Path(__file__).parent / "fixtures" / "oracle" / "status_rows.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_status_rows_are_judged(case):
    healthy, text = interpret(case["row"])
    assert healthy is case["healthy"]
    assert case["row"]["NAME"] in text


def test_unreachable_listener_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OTI_ORA_PW", "not-a-real-password")
    port = free_tcp_port()
    cfg = AgentConfig.model_validate({"credentials": {"oracle": {"mon": {"user": "oti", "password": "${OTI_ORA_PW}"}}}})
    dev = device_model().model_validate({"name": "ora-x", "address": "127.0.0.1", "oti_kind": "db",
                                 "oti_oracle": {"database": "X", "dsn": f"127.0.0.1:{port}/X", "credential": "mon"}})
    with ThreadPoolExecutor(1) as pool, pytest.raises(ProbeUnavailable) as err:
        asyncio.run(query_status(dev, ProbeContext(cfg, pool), timeout=3))
    assert f"127.0.0.1:{port}/X" in str(err.value)
    assert "not-a-real-password" not in str(err.value)
