"""New GLPI tickets start the runbook of their category (S.04.04.02_P, activity 10: "Deriva para atención
según categoría de ticket"), once per ticket.

Every `glpi.poll_every` the daemon asks GLPI for the new tickets of each category of `glpi.categories`. A
ticket seen for the first time is recorded before its run starts (kind `start` in the helpdesk's table):
a poll that runs again, or a daemon restarted, never starts a second run for it. The run gets `ticket` (the
number) and `glpi: true`, so its ticket steps follow that ticket; the ticket gets a message saying which
run attends it, or why none could start (a parameter the ticket does not give, a runbook that is not there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agent.errors import AgentError, HelpdeskError
from agent.notify.glpi_tickets import SERVER, Helpdesk
from agent.runbook import template

_LOGGER = logging.getLogger(__name__)

Start = Callable[[str, dict, dict], str]         # (runbook id, params, trigger) -> run id


class TicketPoller:
    """Start the runbook of each new ticket of a mapped category."""

    def __init__(self, helpdesk: Helpdesk, start: Start):
        self.helpdesk, self.start = helpdesk, start

    async def tick(self) -> list[tuple[int, str | None]]:
        """Look for new tickets now; return (ticket, run id or None when it could not start) for each one.
        GLPI is asked in a thread; the runs start on the loop (the daemon's runs are its tasks)."""
        desk = self.helpdesk
        if not desk.enabled or not desk.cfg.categories:
            return []
        found = await asyncio.to_thread(self._new_tickets)
        done = []
        for ticket_id, category, ticket in found:
            if desk.started(ticket_id, None):                # recorded first: once per ticket
                done.append((ticket_id, self._start(ticket_id, category, ticket)))
        if done:
            await asyncio.to_thread(desk.flush)              # the messages saying who attends each ticket
        return done

    def _new_tickets(self) -> list[tuple[int, int, dict]]:
        """(ticket id, category, its fields) of each new ticket of a mapped category not seen before."""
        desk, cfg = self.helpdesk, self.helpdesk.cfg
        try:
            with desk.client() as glpi:
                seen = [(int(t["id"]), category) for category in cfg.categories for t in glpi.new_tickets(category)
                        if desk.row_by_source(f"ticket:{t['id']}") is None]
                return [(tid, category, glpi.ticket(tid)) for tid, category in seen]
        except HelpdeskError as err:
            SERVER.failed(cfg.url, "new tickets not looked for: %s", err)
            return []

    def _start(self, ticket_id: int, category: int, ticket: dict) -> str | None:
        desk, spec = self.helpdesk, self.helpdesk.cfg.categories[category]
        facts = {"id": ticket_id, "name": ticket.get("name") or "", "content": ticket.get("content") or ""}
        try:
            params = {k: template.render(v, ticket=facts) for k, v in spec.params.items()}
            run_id = self.start(spec.runbook, {**params, "ticket": str(ticket_id), "glpi": True}, {
                "by": "helpdesk", "ticket": ticket_id, "category": category,
                "reason": f"ticket {ticket_id} de la mesa de ayuda (categoría {category})"})
        except AgentError as err:
            _LOGGER.warning("glpi: ticket %d (category %d) did not start %s: %s", ticket_id, category,
                            spec.runbook, err)
            desk.set_run(ticket_id, None, str(err))
            desk.follow(f"ticket:{ticket_id}", f"ticket:{ticket_id}:no-iniciado",
                        f"oti-agent no pudo iniciar «{spec.runbook}» para este ticket: {err}. Lo atiende un "
                        "especialista de la OTI.")
            return None
        desk.set_run(ticket_id, run_id)
        desk.link(f"run:{run_id}", ticket_id)
        desk.follow(f"run:{run_id}", f"run:{run_id}:iniciado",
                    f"Atendido por oti-agent: ejecución {run_id} de «{spec.runbook}» (S.04.04.02_P, actividad 10).")
        _LOGGER.info("glpi: ticket %d started run %s (%s)", ticket_id, run_id, spec.runbook)
        return run_id
