"""The house keeps its rooms: DESIGN.md's dependency rules, read from every import statement.

core <- store, transports <- checks, monitoring <- the domain folders (alerts, notify, runbook,
backups, documents, access, people, assets) <- api <- web <- daemon, demo <- cli. Nothing imports `agent.cli`; no `agent/` module
imports `checks/` (the plugin registry loads them by name); documents and probes read the store
only through `agent/store/queries.py`; a table is written only by the store and its owning module.
Function-level and TYPE_CHECKING imports count: they are imports all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

DOMAINS = {"alerts", "notify", "runbook", "backups", "documents", "access", "people", "assets", "power"}
BASE = {"errors", "log"}                      # agent/errors.py and agent/log.py: anyone may import them
ALLOWED = {
    "core": {"core"},
    "store": {"core", "store"},
    "transports": {"core", "transports"},
    "monitoring": {"core", "transports", "store", "monitoring"},
    **{d: {"core", "transports", "store", "monitoring", *DOMAINS} for d in DOMAINS},
    "api": {"core", "transports", "store", "monitoring", *DOMAINS, "api"},
    "web": {"core", "transports", "store", "monitoring", *DOMAINS, "api", "web"},
    "daemon": {"core", "transports", "store", "monitoring", *DOMAINS, "api", "web", "exporters"},
    "demo": {"core", "transports", "store", "monitoring", *DOMAINS, "daemon", "demo"},
    "cli": {"core", "transports", "store", "monitoring", *DOMAINS, "api", "daemon", "demo", "cli"},
}
# the owners of the store's tables: the only modules besides agent/store/ that import its schema
SCHEMA_OWNERS = {"agent/alerts/book.py", "agent/backups/service.py", "agent/backups/tapes.py",
                 "agent/backups/restores.py", "agent/backups/drills.py", "agent/runbook/journal.py", "agent/notify/outbox.py",
                 "agent/access/log.py", "agent/access/requests.py", "agent/people/accounts.py", "agent/people/tokens.py",
                 "agent/people/auth.py", "agent/api/sessions.py", "agent/runbook/asking.py",
                 "agent/runbook/schedules.py", "agent/runbook/policies.py", "agent/monitoring/syslog.py",
                 "agent/power/state.py",
                 "agent/notify/glpi_tickets.py",
                 "agent/assets/licences.py", "agent/assets/warranties.py", "agent/assets/renewals.py",
                 "agent/assets/maintenance.py", "agent/assets/service_records.py", "agent/assets/expiry.py"}


def _modules(root: str) -> list[Path]:
    return sorted(p for p in (REPO / root).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names (relative imports resolved), with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:       # `from a.b import c` names a.b.c
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _room(module: str) -> str | None:
    """The room of an agent.* module name: 'core', 'daemon', 'errors'..."""
    parts = module.split(".")
    return parts[1] if parts[0] == "agent" and len(parts) > 1 else None


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_every_room_imports_only_the_rooms_below_it():
    broken = []
    for path in _modules("agent"):
        rel = path.relative_to(REPO / "agent")
        room = rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else None
        if room is None or room in BASE:
            continue
        for line, name in _imports(path):
            target = _room(name)
            if target and target not in BASE and target not in ALLOWED[room] and target != room:
                broken.append(f"{_rel(path)}:{line}: {room} imports {name}")
    assert not broken, "\n".join(broken)


def test_nothing_in_agent_imports_checks_and_nothing_imports_the_cli():
    broken = []
    for root in ("agent", "checks", "exporters", "bench"):
        for path in _modules(root):
            in_cli = _rel(path).startswith("agent/cli/")
            for line, name in _imports(path):
                if root == "agent" and name.split(".")[0] == "checks":
                    broken.append(f"{_rel(path)}:{line}: imports {name} (load it through agent.core.plugins)")
                if name.startswith("agent.cli") and not in_cli:
                    broken.append(f"{_rel(path)}:{line}: imports {name} (nothing imports the CLI)")
    assert not broken, "\n".join(broken)


def test_checks_reach_devices_through_transports_and_read_the_store_through_queries():
    broken = []
    for path in _modules("checks"):
        for line, name in _imports(path):
            room = _room(name)
            if room and room not in BASE | {"core", "transports"} and not name.startswith("agent.store.queries"):
                broken.append(f"{_rel(path)}:{line}: a check imports {name}")
            if name.split(".")[0] in ("paramiko", "pysnmp", "winrm", "oracledb"):
                broken.append(f"{_rel(path)}:{line}: a check imports {name} (its transport does)")
    assert not broken, "\n".join(broken)


# documents read the store through queries; the archive of what they wrote (verification codes, hashes) is
# the one thing they write, through its own module
DOCUMENTS_USE = ("agent.store.queries", "agent.store.records")


def test_documents_read_the_store_only_through_queries():
    broken = [f"{_rel(p)}:{line}: imports {name}" for p in _modules("agent/documents") for line, name in _imports(p)
              if name.startswith("agent.store") and not name.startswith(DOCUMENTS_USE)]
    assert not broken, "\n".join(broken)


def test_a_table_is_written_only_by_the_store_and_its_owner():
    broken = []
    for path in _modules("agent"):
        rel = _rel(path)
        if rel.startswith("agent/store/") or rel in SCHEMA_OWNERS:
            continue
        broken += [f"{rel}:{line}: imports {name}" for line, name in _imports(path)
                   if name.startswith("agent.store.schema")]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("root", ["agent", "checks", "exporters"])
def test_modules_stay_small(root):
    big = [f"{_rel(p)} ({n} lines)" for p in _modules(root) if (n := len(p.read_text().splitlines())) > 400]
    assert not big, "over 400 lines: " + ", ".join(big)
