"""Leading or standing by: two agents on one PostgreSQL store, one of them acting (issue 16).

Both agents poll, serve the console, the API and /metrics. Only the holder of the leader lease
(agent/store/lease.py) acts: records readings and alerts, runs backups, documents, reminders, retention,
policies and schedules, and carries out runs. A standby tries to take the lease every third of
`store.lease`; when the leader's deadline passes (it was killed, its host went off, it lost the
database) the standby takes it, reads the readings' last states again and starts the leader's duties
(`on_lead`: the daemon's schedules and `runs.resume_all()`, which resumes the runs in flight through the
journal).

Fencing is by exit. The leader renews every third of the lease from a thread of its own (a busy event
loop does not delay it), and a watchdog thread ends the process with EXIT_LOST the moment the lease
would have lapsed without a renewal — before the standby can see the deadline pass, because the
database wrote that deadline after this agent's clock started counting — or at once when another agent
holds it. No code path has to ask "am I still the leader?" before acting: an agent that is not
stops existing, and systemd (Restart=on-failure) starts it again as the standby.

With SQLite (the default, one agent) there is nothing to share: the agent leads at once, no lease row.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from agent.errors import StoreError
from agent.log import Episodes
from agent.store.lease import Lease
from agent.store.store import Store

_LOGGER = logging.getLogger(__name__)
LEASE = Episodes(_LOGGER, "lease")
EXIT_LOST = 75          # EX_TEMPFAIL: "try again" — systemd restarts it, and it comes back as the standby


def _exit_now(code: int) -> None:
    for handler in logging.getLogger().handlers:      # the reason reaches the journal before the process ends
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - nothing may keep a fenced leader alive
            pass
    os._exit(code)


class Leadership:
    """This agent's part: leader or standby, kept by two threads (renewal, watchdog)."""

    def __init__(self, store: Store, lease_s: float, on_lead: Callable[[], None], *, address: str | None = None,
                 shared: bool | None = None, holder: str | None = None, exit: Callable[[int], None] = _exit_now):
        self.store, self.lease_s, self.on_lead = store, lease_s, on_lead
        self.shared = store.engine.dialect.name != "sqlite" if shared is None else shared
        self.lease = Lease(store, lease_s, holder=holder, address=address) if self.shared else None
        self.leading = False          # on the loop: the daemon's duties have been started
        self._holding = False         # in the threads: the lease is ours (leading follows on the loop)
        self._valid_until = 0.0       # time.monotonic(): past it with no renewal, this agent must not act
        self._elsewhere: str | None = "another agent"
        self._left = lease_s          # a standby: how long the leader's lease has to run (the next try then)
        self._stop = threading.Event()
        self._exit = exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self.term: int | None = None
        self.took_over_at: float | None = None     # time.time() this agent became the leader

    # ---------------------------------------------------------------- the daemon's side
    def start(self) -> bool:
        """The first try (on the loop, before the scheduler starts); then the threads. Return whether it leads."""
        self._loop = asyncio.get_running_loop()
        if not self.shared:
            self._lead()
            return True
        sent = time.monotonic()
        if self.lease.take():
            self._held(sent)
            self._lead()
        else:
            self._note_holder()
            _LOGGER.warning("standby: %s leads (store %s); this agent polls and serves the console read-only, "
                            "and takes over within %gs of the leader's last renewal", self._elsewhere,
                            self.store.where, self.lease_s)
        for name, target in (("lease-renew", self._keep), ("lease-watchdog", self._watch)):
            threading.Thread(target=target, name=name, daemon=True).start()
        return self.leading

    def stop(self) -> None:
        """A clean stop: the threads end and the lease is given up, so the standby takes over at once."""
        self._stop.set()
        if self._holding and self.lease is not None:
            try:
                self.lease.release()
                _LOGGER.info("leader lease released: the standby takes over now")
            except StoreError as err:
                _LOGGER.warning("leader lease not released (%s): the standby takes over at its deadline", err)
        self._holding = False

    def elsewhere(self) -> str | None:
        """None while this agent leads; on a standby, who leads (what a refused action names)."""
        return None if self.leading else self._elsewhere

    def metrics(self) -> str:
        """`oti_leader` for /metrics: 1 on the agent that acts, 0 on the standby."""
        return ("# HELP oti_leader Whether this agent holds the leader lease and acts (1) or stands by (0)\n"
                "# TYPE oti_leader gauge\n"
                f'oti_leader{{agent="{socket.gethostname()}"}} {1.0 if self.leading else 0.0}\n')

    def _lead(self) -> None:
        self.leading, self._elsewhere = True, None
        self.took_over_at = time.time()
        if self.shared:
            _LOGGER.warning("this agent leads (lease term %s, %gs, store %s): schedules, backups, documents "
                            "and runs start here", self.term, self.lease_s, self.store.where)
        self.on_lead()

    def _promote(self) -> None:
        """On the loop, once the renewal thread took the lease from a lapsed leader."""
        if self._stop.is_set() or not self._holding:
            return
        try:
            self._lead()
        except Exception as err:  # noqa: BLE001 - half-started duties are worse than a restart as standby
            _LOGGER.exception("taking over as the leader failed")
            self._lost(f"the leader's duties did not start: {err}")

    # ---------------------------------------------------------------- the threads
    def _held(self, sent: float) -> None:
        """The lease is ours until `sent` + lease_s by our clock: the database wrote its deadline later."""
        self._valid_until = sent + self.lease_s
        if not self._holding:
            self._holding = True
            current = self.lease.current()
            self.term = current.term if current else None

    def _keep(self) -> None:
        """Renew while holding, else try to take over; every third of the lease."""
        while not self._stop.wait(self._pause()):
            sent = time.monotonic()
            try:
                took = self.lease.take()
            except StoreError as err:
                LEASE.failed("take", "leader lease: %s (%s)", err,
                             f"this agent stops acting in {max(0.0, self._valid_until - sent):.1f}s unless renewed"
                             if self._holding else "still the standby")
                continue
            LEASE.recovered("take")
            if self._stop.is_set():
                return
            if took:
                was = self._holding
                self._held(sent)
                if not was:
                    try:
                        self.store.reload_states()
                    except StoreError as err:
                        self._lost(f"the readings' last states could not be read: {err}")
                        return
                    self._loop.call_soon_threadsafe(self._promote)
            elif self._holding:
                self._note_holder()
                self._lost(f"{self._elsewhere} holds it now")
                return
            else:
                self._note_holder()

    def _pause(self) -> float:
        """A third of the lease; a standby tries again right after the leader's deadline if that comes first,
        so it takes over within `store.lease` of the leader's last renewal."""
        if self._holding:
            return self.lease_s / 3
        left, self._left = self._left, self.lease_s
        return min(self.lease_s / 3, max(left, 0.0) + 0.05)

    def _watch(self) -> None:
        """End the process the moment the lease could have lapsed without a renewal."""
        while not self._stop.is_set():
            left = self._valid_until - time.monotonic()
            if self._holding and left <= 0:
                self._lost(f"not renewed within {self.lease_s:g}s")
                return
            self._stop.wait(min(max(left, 0.05), 0.25) if self._holding else 0.25)

    def _note_holder(self) -> None:
        try:
            current = self.lease.current()
        except StoreError:
            return
        if current is not None and current.holder and current.holder != self.lease.holder:
            self._elsewhere, self._left = current.describe(), current.left

    def _lost(self, why: str) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._holding = False
        _LOGGER.critical("leader lease lost (%s): this agent stops at once (exit %d) so that it never acts beside "
                         "the new leader; started again it is the standby", why, EXIT_LOST)
        self._exit(EXIT_LOST)


def attach(daemon, on_lead: Callable[[], None], address: str) -> Leadership:
    """The daemon's leadership, tried once now (`on_lead` runs at once when this agent leads): a standby's
    run service refuses actions naming the leader, and /metrics says which agent leads."""
    leader = Leadership(daemon.store, daemon.settings.config.store.lease, on_lead, address=address)
    daemon.runs.standby, daemon.runs.exclusive = leader.elsewhere, leader.shared
    daemon.snapshot.extra.append(leader.metrics)
    leader.start()
    return leader
