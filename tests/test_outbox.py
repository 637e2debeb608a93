"""One bad message never blocks the others: a message that fails for a reason of its own is retried
with backoff, then marked failed with its reason; only the server's own failures pause a round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.core.settings import load_all
from agent.notify.outbox import Outbox
from agent.store import Store
from tests.operator import cli


def _site(site, port: int):
    site.hosts["ups-01"] = {"ansible_host": "127.0.0.1", "oti_kind": "ups"}
    site.extra["mail"] = {"host": "127.0.0.1", "port": port, "starttls": True, "user": "agent",
                          "password": site.secret("smtp", "mailpw"), "max_attempts": 3,
                          "recipients": {"is": ["is@x.example"]}}
    return site.write()


def test_a_message_with_a_missing_attachment_or_a_refused_mailbox_does_not_stop_the_rest(site, smtp, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    port, inbox = smtp
    config = _site(site, port)
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)
    now = [datetime(2026, 11, 30, 12, 0, tzinfo=UTC)]
    box = Outbox(store, settings.config, clock=lambda: now[0])
    gone = box.enqueue(["jefa@x.example"], "checklist", "adjunto", attachments=[str(tmp_path / "borrado.pdf")])
    refused = box.enqueue(["rechazado@x.example"], "a un buzón inexistente", "cuerpo")
    alert = box.enqueue(["is@x.example"], "ALERTA ups-01", "la UPS está en batería")
    inbox.messages.clear()

    assert box.flush() == (1, 2)                                          # the alert went, behind two bad ones
    assert inbox.subjects() == ["ALERTA ups-01"]
    waiting = {m["id"]: m for m in box.pending()}
    assert set(waiting) == {gone, refused} and waiting[gone]["next_at"] > now[0]
    assert box.flush() == (0, 2)                                          # not again before their backoff
    for _ in range(6):                                                    # time passes; attempts run out
        now[0] += timedelta(hours=2)
        box.flush()
    assert box.pending() == []
    failed = {m["id"]: m for m in box.failed()}
    assert set(failed) == {gone, refused} and failed[gone]["attempts"] == 3
    assert "borrado.pdf" in failed[gone]["last_error"] and "550" in failed[refused]["last_error"]
    listing = cli(config, "outbox", "list", "--all")
    assert listing.returncode == 0 and "failed" in listing.stdout and "borrado.pdf" in listing.stdout
    assert alert not in failed


def test_a_server_that_is_down_pauses_the_round_and_loses_nothing(site, smtp):
    from tests.peers.common import free_tcp_port

    port, inbox = smtp
    config = _site(site, free_tcp_port())                                 # nothing listens there
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)
    box = Outbox(store, settings.config)
    for i in range(3):
        box.enqueue(["is@x.example"], f"aviso {i}", "cuerpo")
    assert box.flush() == (0, 3)
    assert [m["attempts"] for m in box.pending()] == [1, 0, 0]            # the first one told: server down


def test_a_message_claimed_by_a_process_that_died_goes_out_at_once_not_after_the_lease(site, smtp):
    """kill -9 of the daemon while it sent a runbook's notice: the restarted daemon's resumed step delivers
    it (found in test_runbook_resume: the step failed with 'message 30 is sending', the dead daemon's claim
    holding it for ten minutes). A claim names its process; a live one is waited for, a dead one released."""
    import subprocess
    import sys

    import sqlalchemy as sa

    from agent.store.schema import outbox as table

    port, inbox = smtp
    config = _site(site, port)
    settings = load_all(config)
    store = Store.for_config(settings.config)
    box = Outbox(store, settings.config)
    before = len(inbox.messages)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    message = box.enqueue(["jefa@entidad.example"], "Aviso", "cuerpo", source="run:x:aviso:", unique=True)
    with store.transaction() as conn:            # as the dead process left it: claimed, mid-send, for 10 min
        conn.execute(sa.update(table).where(table.c.id == message).values(
            status="sending", next_at=datetime.now(UTC) + timedelta(minutes=10),
            claimed_by=f"{__import__('socket').gethostname()}:{dead.stdout.strip()}:0"))
    assert [m["id"] for m in box.pending()] == [message]
    assert box.deliver(message)
    assert len(inbox.messages) == before + 1 and box.message(message)["status"] == "sent"

    # a claim of a process that lives (this one) is not taken away from it
    other = box.enqueue(["jefa@entidad.example"], "Otro", "cuerpo", source="run:x:otro:", unique=True)
    assert box._claim(other)
    assert box.pending() == [] and Outbox(store, settings.config)._claim(other) is False
