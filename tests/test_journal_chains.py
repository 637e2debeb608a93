"""Tamper-evident journals (issue 17): runs, alerts, custody and the door's log are hash-chained, written through
their real writers on SQLite and on a real PostgreSQL, then tampered with directly in SQL — an edit, a row
deleted in the middle or at the end, rows swapped or renumbered, a head edited, a chain rewritten to be
consistent again — and `verify` names the first broken entry; retention, an upgrade from migration 16, the
daily checklist's anchors and their Ed25519 signatures, and two writers at once."""

from __future__ import annotations

import io
import itertools
import stat
import threading
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, text, update

from agent.access.log import AccessLog
from agent.alerts import AlertBook
from agent.backups.tapes import TapeInventory
from agent.cli.journals import check_journals, new_key
from agent.core.config import RetentionSection
from agent.core.results import State
from agent.core.settings import load_all
from agent.runbook.journal import Journal
from agent.store import StateChange, Store, chain
from agent.store import schema as t
from agent.store import store as store_module
from agent.store.chain_verify import verify
from agent.store.retention import prune
from agent.store.schema_chain import chain_anchors, chain_heads, chain_links

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
DAY = date(2026, 11, 26)
_DBS = itertools.count(1)


# ---------------------------------------------------------------------- the stores: SQLite and PostgreSQL
@pytest.fixture(scope="module")
def pg_cluster():
    """One real PostgreSQL for the module (tests/peers/postgres.py); each test gets its own database."""
    from tests.peers.postgres import start_postgres

    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    """The store's URL on each backend."""
    if request.param == "sqlite":
        (tmp_path / "var").mkdir()
        return f"sqlite:///{tmp_path / 'var' / 'oti.db'}"
    pg = request.getfixturevalue("pg_cluster")
    name = f"chains_{next(_DBS)}"
    pg.psql(f"create database {name} owner alfresco", db="postgres", user="postgres")
    return f"postgresql+psycopg://alfresco@127.0.0.1:{pg.port}/{name}"


@pytest.fixture
def office(site, backend):
    """Settings of a site whose store is `backend`, with a UPS in the inventory."""
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "ups"}
    site.extra["store"] = {"url": backend}
    settings = load_all(site.write())
    store = Store(backend, settings.config.base_dir)
    yield site, settings, store
    store.close()


def _write_journals(settings, store) -> None:
    """Every journal written by its own writer: a tiny run, an alert opened, acknowledged and resolved, a box's
    trip to the custody company and back, two visits to the datacenter with the jefa's decision and the exit."""
    journal = Journal(store)
    run = journal.create_run(SimpleNamespace(id="aviso", source="runbooks/aviso.yaml", digest="d", title="Aviso"),
                             {}, "luis", ["avisar"], [])
    journal.set_step(run, "avisar", "running")
    journal.set_step(run, "avisar", "successful")
    journal.set_run(run, "successful")                                           # run_events 1-4
    book = AlertBook(settings, store, clock=lambda: T0)
    [alert] = book.process([StateChange("ups-01", "ups_on_battery", "snmp", State.OK, State.CRITICAL, 1.0, None,
                                        "en batería", T0)])
    book.ack(alert, "luis", "voy")
    book.resolve(alert, "luis", "volvió la energía")                           # alert_events 1-3
    with store.transaction() as conn:                                           # what `tapes sync` finds
        for label in ("CIN001", "CIN002"):
            conn.execute(insert(t.tapes).values(label=label, backend="bacula", status="full", location="oficina",
                                                synced_at=T0))
    tapes = TapeInventory(store, clock=lambda: T0)
    tapes.prepare("CAJA-01", ["CIN001", "CIN002"], "P-100", "luis", "Resguardo S.A.", 20)
    tapes.send("CAJA-01", "luis")
    tapes.request("CAJA-01", "luis", "restauración de emergencia")
    tapes.receive("CAJA-01", "luis", "P-100")                                   # custody_movements 1-4
    door = AccessLog(store, clock=lambda: T0)
    for name in ("Ana Quispe", "Jorge Huamán"):
        entry = door.add(DAY, name, "40000001", "Energía y Clima S.A.C.", "mantenimiento del UPS", "10:00", None,
                         "Luis Ramos (luis)")
        door.decide(entry, "Mariella Paz (mariella)", authorise=True, comment="conforme")
        door.leave(entry, "11:30")                                              # access_log 1-2, 3 links each


def _sql(store, *statements) -> None:
    """Tamper with the store directly, as someone with SQL access would."""
    with store.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s) if isinstance(s, str) else s)


def _swap_contents(store, table, a: int, b: int, *cols: str) -> None:
    with store.engine.begin() as conn:
        ra, rb = (conn.execute(select(table).where(table.c.id == i)).mappings().one() for i in (a, b))
        conn.execute(update(table).where(table.c.id == a).values({c: rb[c] for c in cols}))
        conn.execute(update(table).where(table.c.id == b).values({c: ra[c] for c in cols}))


TAMPERING = {
    "edit a row's detail": (lambda s: _sql(s, "UPDATE run_events SET detail = 'by nadie' WHERE id = 2"),
                            ("run_events", "edited", 2)),
    "delete a row in the middle": (lambda s: _sql(s, "DELETE FROM custody_movements WHERE id = 2"),
                                   ("custody_movements", "deleted", 2)),
    "swap two rows' contents": (lambda s: _swap_contents(s, t.alert_events, 2, 3, "event", "detail"),
                                ("alert_events", "edited", 2)),
    "swap two rows' ids": (lambda s: _sql(s, "UPDATE run_events SET id = -1 WHERE id = 1",
                                          "UPDATE run_events SET id = 1 WHERE id = 3",
                                          "UPDATE run_events SET id = 3 WHERE id = -1"),
                           ("run_events", "edited", 1)),
    "delete the last row": (lambda s: _sql(s, "DELETE FROM access_log WHERE id = 2"), ("access_log", "deleted", 2)),
    "edit the time out of a visit": (lambda s: _sql(s, "UPDATE access_log SET time_out = '10:15' WHERE id = 1"),
                                     ("access_log", "edited", 1)),
    "insert a row behind the agent's back": (
        lambda s: _sql(s, insert(t.custody_movements).values(box="CAJA-01", movement="recibida", by="x", at=T0)),
        ("custody_movements", "unlinked", 5)),
    "edit a head": (lambda s: _sql(s, f"UPDATE chain_heads SET hash = '{'ab' * 32}' WHERE chain = 'run_events'"),
                    ("run_events", "head", None)),
    "delete a head": (lambda s: _sql(s, "DELETE FROM chain_heads WHERE chain = 'access_log'"),
                      ("access_log", "head", None)),
    "delete a link": (lambda s: _sql(s, "DELETE FROM chain_links WHERE chain = 'alert_events' AND seq = 2"),
                      ("alert_events", "missing", None)),
}


# ---------------------------------------------------------------------- tests
def test_a_clean_store_verifies_clean(office):
    site, settings, store = office
    _write_journals(settings, store)
    assert verify(store) == []
    out, err = io.StringIO(), io.StringIO()
    assert check_journals(settings, [], out, err) == 0, out.getvalue() + err.getvalue()
    text_ = out.getvalue()
    assert "access_log: OK, 6 entries checked (0 pruned by retention), 2 rows" in text_, text_
    assert "run_events: OK, 4 entries checked" in text_ and "4 of 4 journals intact" in text_


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_names_the_first_broken_entry(office, how):
    _, settings, store = office
    _write_journals(settings, store)
    tamper, (table, kind, row_id) = TAMPERING[how]
    tamper(store)
    found = verify(store)
    assert [(f.chain, f.kind, f.row_id) for f in found] == [(table, kind, row_id)], found
    if row_id is not None:
        assert f"{table} id {row_id}" in found[0].message


def test_the_cli_names_the_broken_journal_and_exits_1(office):
    _, settings, store = office
    _write_journals(settings, store)
    _sql(store, "DELETE FROM custody_movements WHERE id = 3")
    out, err = io.StringIO(), io.StringIO()
    assert check_journals(settings, [], out, err) == 1
    assert "custody_movements id 3 (link 3): the row is gone, and retention did not prune it" in out.getvalue()
    assert "3 of 4 journals intact" in out.getvalue()
    assert check_journals(settings, ["run_events#12"], out, err) == 2
    assert "is not CHAIN#SEQ:HASH" in err.getvalue()


def test_oti_agent_verify_journals_with_printed_anchors(office):
    from tests.operator import cli

    site, settings, store = office
    _write_journals(settings, store)
    printed = [chain.anchor_string(a["chain"], a["seq"], a["hash"]) for a in chain.anchor(store, "2026-11-26", T0)]
    config = site.root / "config.yaml"
    done = cli(config, "verify", "--journals", *[x for a in printed for x in ("--anchor", a)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 of 4 journals intact, 4 printed anchor(s) checked" in done.stdout
    _sql(store, "UPDATE access_log SET name = 'Otra Persona' WHERE id = 1")
    _rewrite(store, "access_log")
    done = cli(config, "verify", "--journals", "--anchor", printed[3])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "access_log: the printed anchor access_log#6 no longer matches link 6" in done.stdout


def test_retention_pruning_is_not_tampering(office):
    _, settings, store = office
    _write_journals(settings, store)
    _sql(store, update(t.runs).values(ended_at=T0))        # the run ended on T0 (runs are not a journal)
    gone = prune(store, RetentionSection(runs_days=365, alerts_days=30), T0 + timedelta(days=400))
    assert gone["run_events"] == 4 and gone["alert_events"] == 3
    assert verify(store) == []
    out, err = io.StringIO(), io.StringIO()
    assert check_journals(settings, [], out, err) == 0
    assert "run_events: OK, 4 entries checked (4 pruned by retention), 0 rows" in out.getvalue()
    _sql(store, "UPDATE chain_links SET pruned = false WHERE chain = 'run_events' AND seq = 3")
    assert [(f.chain, f.kind, f.row_id) for f in verify(store)] == [("run_events", "deleted", 3)]


def test_an_upgraded_store_verifies_clean_from_its_first_day(backend, monkeypatch):
    old = [(v, step) for v, step in store_module.MIGRATIONS if v <= 16]
    monkeypatch.setattr(store_module, "MIGRATIONS", old)
    store = Store(backend)                       # the version before the chains wrote these rows itself
    with store.transaction() as conn:
        for i in range(3):
            conn.execute(insert(t.run_events).values(run_id="r1", event=f"step_{i}", detail="ok", at=T0))
            conn.execute(insert(t.alert_events).values(alert_id=1, event="opened", at=T0 + timedelta(seconds=i)))
        conn.execute(insert(t.custody_movements).values(box="CAJA-01", movement="preparada", by="luis", at=T0))
        conn.execute(insert(t.access_log).values(day="2026-11-26", name="Ana", id_number="1", company="ACME",
                                                 activity="visita", time_in="09:00", recorded_by="luis",
                                                 created_at=T0, status="authorised"))
        conn.execute(update(t.access_log).values(time_out="10:00"))
    store.close()
    monkeypatch.undo()
    store = Store(backend)                       # migrated to 18 and beyond
    assert verify(store) == []
    assert store.scalar(select(chain_heads.c.seq).where(chain_heads.c.chain == "run_events")) == 3
    AccessLog(store, clock=lambda: T0).add(DAY, "Jorge", "2", "ACME", "visita", "12:00", None, "luis")
    _sql(store, "UPDATE alert_events SET detail = 'nada' WHERE id = 2")
    assert [(f.chain, f.kind, f.row_id) for f in verify(store)] == [("alert_events", "edited", 2)]
    store.close()


def _rewrite(store, name: str) -> None:
    """What someone who knows the scheme does after an edit: every link recomputed, the head moved, the
    store's own anchors rewritten to match — the chain is consistent again."""
    table = chain.CHAINS[name]
    with store.engine.begin() as conn:
        digests = chain.row_digests(conn, table)
        links = conn.execute(select(chain_links).where(chain_links.c.chain == name)
                             .order_by(chain_links.c.seq)).mappings().all()
        prev = chain.GENESIS
        for ln in links:
            d = digests.get(ln["row_id"], ln["digest"])
            new = chain.link_hash(prev, name, ln["seq"], ln["row_id"], d)
            conn.execute(update(chain_links).where(chain_links.c.chain == name, chain_links.c.seq == ln["seq"])
                         .values(digest=d, prev=prev, hash=new))
            conn.execute(update(chain_anchors).where(chain_anchors.c.chain == name,
                                                     chain_anchors.c.seq == ln["seq"]).values(hash=new))
            prev = new
        conn.execute(update(chain_heads).where(chain_heads.c.chain == name).values(hash=prev))


def test_a_printed_anchor_catches_a_chain_rewritten_to_be_consistent(office):
    _, settings, store = office
    _write_journals(settings, store)
    printed = [chain.anchor_string(a["chain"], a["seq"], a["hash"]) for a in chain.anchor(store, "2026-11-26", T0)]
    assert verify(store, printed) == []
    _sql(store, "UPDATE custody_movements SET seal = 'P-999' WHERE id = 2")
    _rewrite(store, "custody_movements")
    assert verify(store) == []                   # consistent again, anchors of the store included
    found = verify(store, printed)
    assert [(f.chain, f.kind, f.seq) for f in found] == [("custody_movements", "anchor", 4)], found
    assert "the printed anchor custody_movements#4 no longer matches link 4" in found[0].message


def test_the_daily_checklist_prints_the_anchors_and_they_verify(site, tmp_path):
    from agent.documents.compose import compose

    site.hosts["ups-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "ups"}
    settings = load_all(site.write())
    store = Store(settings.config.store.url, settings.config.base_dir)
    _write_journals(settings, store)
    done = compose("checklist-diario", settings, store, now=T0 + timedelta(hours=2), day=DAY)
    html = done.paths[0].read_text(encoding="utf-8")
    assert "Anclas de integridad de los registros" in html
    for name in ("Bitácora de ejecuciones", "Eventos de alertas", "Movimientos de custodia",
                 "Registro de acceso al centro de datos"):
        assert name in html
    heads = {r["chain"]: r for r in store.rows(select(chain_heads))}
    expected = [chain.anchor_string(c, heads[c]["seq"], heads[c]["hash"]) for c in chain.CHAINS]
    for anchor in expected:
        assert anchor in html
    assert "access_log#6:" in html and "sin firma" in html
    assert done.page.facts["anchors"] == expected
    again = compose("checklist-diario", settings, store, now=T0 + timedelta(hours=5), day=DAY)   # same anchors
    AccessLog(store, clock=lambda: T0).add(DAY, "Rosa", "3", "ACME", "visita", "15:00", None, "luis")
    assert all(a in again.paths[0].read_text(encoding="utf-8") for a in expected)
    out, err = io.StringIO(), io.StringIO()
    assert check_journals(settings, expected, out, err) == 0, out.getvalue()
    assert "4 printed anchor(s) checked" in out.getvalue()


def test_signed_anchors_verify_and_a_forged_signature_is_named(site, tmp_path):
    from agent.documents.compose import compose

    out, err = io.StringIO(), io.StringIO()
    key = tmp_path / "secrets" / "anclas.key"
    assert new_key(key, out, err) == 0, err.getvalue()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and "PRIVATE KEY" not in out.getvalue()
    public = (tmp_path / "secrets" / "anclas.key.pub").read_text().strip()
    assert new_key(key, io.StringIO(), err) == 1 and "never overwritten" in err.getvalue()
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "ups"}
    unsigned = load_all(site.write())                       # the office ran a while before signing
    store = Store(unsigned.config.store.url, unsigned.config.base_dir)
    _write_journals(unsigned, store)
    before = compose("checklist-diario", unsigned, store, now=T0 - timedelta(days=1), day=DAY - timedelta(days=1))
    assert "sin firma" in before.paths[0].read_text(encoding="utf-8")
    site.extra["integrity"] = {"signing_key": "file:secrets/anclas.key", "public_key": public}
    settings = load_all(site.write())
    done = compose("checklist-diario", settings, store, now=T0, day=DAY)
    assert "firmada" in done.paths[0].read_text(encoding="utf-8")
    assert check_journals(settings, [], out, err) == 0 and "signatures checked" in out.getvalue()
    # someone re-points the anchor of the day at another head, keeping the signature
    _sql(store, "UPDATE chain_anchors SET seq = 2 WHERE chain = 'alert_events'")
    found = verify(store, public_key=public)
    assert [(f.chain, f.kind) for f in found] == [("alert_events", "anchor"), ("alert_events", "signature")], found
    assert "signed by another key, or altered after signing" in found[1].message
    _sql(store, "UPDATE chain_anchors SET seq = 3 WHERE chain = 'alert_events'",
         "UPDATE chain_anchors SET signature = NULL WHERE chain = 'run_events'")
    found = verify(store, public_key=public)
    assert [(f.chain, f.kind) for f in found] == [("run_events", "signature")] and "not signed" in found[0].message


def test_two_writers_at_once_on_postgresql_leave_one_unbroken_chain(pg_cluster, site):
    name = f"chains_{next(_DBS)}"
    pg_cluster.psql(f"create database {name} owner alfresco", db="postgres", user="postgres")
    url = f"postgresql+psycopg://alfresco@127.0.0.1:{pg_cluster.port}/{name}"
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.41", "oti_kind": "ups"}
    settings = load_all(site.write())
    stores = [Store(url), Store(url)]            # two agents, two connection pools
    books = [AlertBook(settings, s, clock=lambda: T0) for s in stores]
    [alert] = books[0].process([StateChange("ups-01", "ups_on_battery", "snmp", State.OK, State.CRITICAL, 1.0,
                                            None, "en batería", T0)])
    start, errors = threading.Barrier(2), []

    def write(book, who):
        start.wait()
        try:
            for i in range(50):
                book.comment(alert, who, f"nota {i}")
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(b, w)) for b, w in zip(books, ("luis", "ana"), strict=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors and not any(th.is_alive() for th in threads), errors
    assert verify(stores[0]) == []
    seqs = [r["seq"] for r in stores[0].rows(select(chain_links.c.seq).where(chain_links.c.chain == "alert_events")
                                             .order_by(chain_links.c.seq))]
    assert seqs == list(range(1, 102))
    for s in stores:
        s.close()
