"""The daemon's receivers of what devices send on their own: SNMP traps and syslog, each started only when the
config enables it, its counters handed to /metrics, a port it cannot bind said in one line."""

from __future__ import annotations

from agent.errors import AgentError


def start_traps(settings, snapshot, poll_device):
    """The trap receiver, when the config enables it; None otherwise."""
    if not settings.config.traps.enabled:
        return None
    from agent.monitoring.traps import TrapListener

    listener = TrapListener(settings, poll_device)
    try:
        listener.start()
    except OSError as err:            # the port taken, or 162 without the capability: said in one line
        raise AgentError(str(err)) from None
    snapshot.trap_stats = listener.stats
    return listener


async def start_syslog(settings, store, snapshot):
    """The syslog receiver, when the config enables it; None otherwise."""
    section = settings.config.syslog
    if not section.enabled:
        return None
    from agent.monitoring.syslog import SyslogListener

    listener = SyslogListener(settings, store)
    try:
        await listener.start()
    except OSError as err:            # the port taken, or 514 without the capability: said in one line
        raise AgentError(f"syslog: cannot listen on {section.listen}:{section.port}: {err.strerror or err}") from None
    snapshot.syslog_stats = lambda: dict(listener.counts)
    return listener
