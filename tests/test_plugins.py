"""A new protocol is one module: a transport registered by another package brings its own inventory key
and credential section, with no edit in agent/ (checked in a child process with that package on its path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from agent.core import plugins
from agent.errors import PluginNotFound

FAKE = '''
from pydantic import Field
from agent.core.secrets import SecretRef
from agent.transports.base import AccessModel, CredentialModel, Transport

class ModbusAccess(AccessModel):
    credential: str
    unit: int = Field(1, ge=1, le=247)

class ModbusCredential(CredentialModel):
    token: SecretRef

TRANSPORT = Transport("modbus", "Modbus TCP (a test transport)", ModbusAccess, ModbusCredential)
'''

SCRIPT = '''
from agent.core.settings import load_all
from agent.errors import ConfigError
settings = load_all("config.yaml")
d = settings.inventory.by_name["pdu-01"]
print("unit", d.modbus.unit, "cred", type(settings.config.credential("modbus", "pdu")).__name__)
try:
    load_all("bad.yaml")
except ConfigError as err:
    print("refused", err)
'''


def test_a_transport_from_another_package_needs_no_edit_in_agent(tmp_path):
    pkg = tmp_path / "site"
    (pkg / "oti_modbus").mkdir(parents=True)
    (pkg / "oti_modbus" / "__init__.py").write_text(FAKE)
    info = pkg / "oti_modbus-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: oti-modbus\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oti_agent.transports]\nmodbus = oti_modbus:TRANSPORT\n")
    (tmp_path / "inv.yaml").write_text(textwrap.dedent("""\
        all:
          hosts:
            pdu-01: {ansible_host: 127.0.0.9, oti_kind: ups, oti_modbus: {credential: pdu, unit: 3}}
        """))
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "config.yaml").write_text("inventory: inv.yaml\ncredentials:\n  modbus:\n    pdu: {token: 'file:secret'}\n")
    (tmp_path / "bad.yaml").write_text("inventory: inv.yaml\ncredentials:\n  modbus:\n    other: {token: 'file:secret'}\n")
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(pkg), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "unit 3 cred ModbusCredential" in done.stdout
    assert "inv.yaml" in done.stdout and "pdu-01.oti_modbus.credential" in done.stdout
    assert "credential 'pdu' is not in" in done.stdout and "credentials.modbus" in done.stdout


def test_an_unknown_plugin_lists_the_known_ones():
    with pytest.raises(PluginNotFound) as err:
        plugins.load("documents", "acta-de-entrega")
    assert "unknown document 'acta-de-entrega'" in str(err.value) and "checklist-diario" in str(err.value)
    assert set(plugins.transports()) >= {"ssh", "snmp", "ipmi", "winrm", "oracle"}
