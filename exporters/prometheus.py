"""/metrics for Prometheus, rendered when results arrive, not when Prometheus asks.

Every reading becomes `oti_<name>` (gauge, or counter ending in `_total`) labelled with device, kind
and site plus the reading's own labels; text readings become `oti_<name>_info`. A reading that is not
OK is also `oti_reading_state` (1 WARNING, 2 CRITICAL, 3 UNKNOWN; an OK reading has no such series, so
`oti_reading_state > 0` lists the problems and the series count stays that of the readings), and each
device's worst state is `oti_device_state` (0 OK ... 3 UNKNOWN). Each check's health is `oti_up`,
`oti_check_duration_seconds`, `oti_check_runs_total` and `oti_check_errors_total`; datagrams from a
device that were no usable SNMP answer are `oti_snmp_malformed_total`; traps received are
`oti_snmp_traps_total` and datagrams on the trap port that were no notification
`oti_snmp_traps_dropped_total`; syslog messages by outcome `oti_syslog_messages_total`.

Why rendered ahead: at a thousand devices the text is tens of MB; formatting it inside the scrape took
seconds on the daemon's loop, so scrapes that met a poll timed out. Each result is rendered once, when
it is published (a switch's few hundred lines take about a millisecond); a scrape joins the pieces.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.core.results import CheckResult, State

PREFIX = "oti_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATE_HELP = "State of each reading that is not OK: 1 WARNING, 2 CRITICAL, 3 UNKNOWN (absent: OK)"


def _escape(value: str) -> str:
    if "\\" not in value and '"' not in value and "\n" not in value:     # nearly always: nothing to do
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pairs) -> str:
    """Label pairs as Prometheus's client writes them: sorted by name (what people's greps and rules expect)."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))


def base_labels(device: str, kind: str, site: str) -> str:
    return _labels((("device", device), ("kind", kind), ("site", site)))


class Rendered:
    """One result's lines, by metric family: {family: (type, help, text)}."""

    __slots__ = ("families", "worst")

    def __init__(self, families: dict[str, tuple[str, str, str]], worst: State):
        self.families, self.worst = families, worst


def render(result: CheckResult, kind: str, site: str) -> Rendered:
    """The exposition lines of one result's readings (its health lines are rendered at scrape time)."""
    base = (("device", result.device), ("kind", kind), ("site", site))
    lines: dict[str, list[str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for r in result.readings:
        pairs = base + r.labels
        labels = _labels(pairs)
        if r.state != State.OK:
            lines.setdefault(PREFIX + "reading_state", []).append(
                f'{PREFIX}reading_state{{{_labels(pairs + (("reading", r.name),))}}} {int(r.state)}.0\n')
            meta.setdefault(PREFIX + "reading_state", ("gauge", STATE_HELP))
        if r.kind == "info":
            name = PREFIX + r.name + "_info"
            lines.setdefault(name, []).append(f'{name}{{{_labels(pairs + (("value", r.text or ""),))}}} 1.0\n')
            meta.setdefault(name, ("gauge", r.help or name))
        elif r.value is not None and r.kind != "derived":  # what the agent derives to judge: PromQL has the source
            if r.kind == "counter":
                name = PREFIX + r.name if r.name.endswith("_total") else PREFIX + r.name + "_total"
                meta.setdefault(name, ("counter", r.help or name))
            else:
                name = PREFIX + r.name
                meta.setdefault(name, ("gauge", r.help or name))
            lines.setdefault(name, []).append(f"{name}{{{labels}}} {_number(r.value)}\n")
    worst = State.worst([r.state for r in result.readings]) if result.up else State.CRITICAL
    return Rendered({n: (*meta[n], "".join(ls)) for n, ls in lines.items()}, worst)


def exposition(rendered: Iterable[tuple[tuple[str, str], Rendered]], health: str) -> bytes:
    """The whole text: the health families, then every family of every result, one group per family."""
    families: dict[str, list[str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for _key, r in rendered:
        for name, (kind, help_, text) in r.families.items():
            families.setdefault(name, []).append(text)
            meta.setdefault(name, (kind, help_))
    parts = [health]
    for name in sorted(families):
        kind, help_ = meta[name]
        parts.append(f"# HELP {name} {_help(help_)}\n# TYPE {name} {kind}\n")
        parts.extend(families[name])
    return "".join(parts).encode()


def health_text(results: list[CheckResult], counters, devices, worst: dict[str, State], malformed: dict[str, int],
                traps: tuple[dict[tuple[str, str], int], int], syslog: dict[str, int] | None = None) -> str:
    """oti_up, durations, runs and errors per check; the devices' worst states; SNMP and trap counters."""
    up = ["# HELP oti_up Whether the device answered the check (1) or not (0)\n# TYPE oti_up gauge\n"]
    dur = ["# HELP oti_check_duration_seconds Duration of the last run of a check\n"
           "# TYPE oti_check_duration_seconds gauge\n"]
    for res in sorted(results, key=lambda r: (r.device, r.check)):
        dev = devices.get(res.device)
        pairs = (("check", res.check), ("device", res.device), ("kind", dev.kind if dev else ""),
                 ("site", dev.site if dev else ""))
        up.append(f"oti_up{{{_labels(pairs)}}} {1.0 if res.up else 0.0}\n")
        dur.append(f"oti_check_duration_seconds{{{_labels(pairs[:2])}}} {_number(res.duration_s)}\n")
    state = ["# HELP oti_device_state Worst state of a device's readings and checks: 0 OK, 1 WARNING, "
             "2 CRITICAL, 3 UNKNOWN\n# TYPE oti_device_state gauge\n"]
    for name in sorted(worst):
        dev = devices.get(name)
        state.append(f"oti_device_state{{{base_labels(name, dev.kind if dev else '', dev.site if dev else '')}}} "
                     f"{int(worst[name])}.0\n")
    runs = ["# HELP oti_check_runs_total Runs of each check on each device\n# TYPE oti_check_runs_total counter\n"]
    errors = ["# HELP oti_check_errors_total Failed runs of each check on each device, by reason\n"
              "# TYPE oti_check_errors_total counter\n"]
    for (check, device), c in sorted(counters.items()):
        where = (("check", check), ("device", device))
        runs.append(f"oti_check_runs_total{{{_labels(where)}}} {float(c.runs)}\n")
        for reason, n in sorted(c.errors.items()):
            errors.append(f"oti_check_errors_total{{{_labels(where + (('reason', reason),))}}} {float(n)}\n")
    bad = ["# HELP oti_snmp_malformed_total Datagrams from a device that were no usable SNMPv2c answer (do not "
           "parse, wrong version or PDU, unknown request-id)\n# TYPE oti_snmp_malformed_total counter\n"]
    bad += [f'oti_snmp_malformed_total{{device="{_escape(d)}"}} {float(n)}\n' for d, n in sorted(malformed.items())]
    by_device, dropped = traps
    trap = ["# HELP oti_snmp_traps_total SNMP notifications received, by sending device ('unknown': an address no "
            "device has) and notification\n# TYPE oti_snmp_traps_total counter\n"]
    trap += [f'oti_snmp_traps_total{{device="{_escape(d)}",trap="{_escape(t)}"}} {float(n)}\n'
             for (d, t), n in sorted(by_device.items())]
    trap.append("# HELP oti_snmp_traps_dropped_total Datagrams on the trap port that gave no notification (wrong "
                "community or user, wrong key, not SNMP)\n# TYPE oti_snmp_traps_dropped_total counter\n"
                f"oti_snmp_traps_dropped_total {float(dropped)}\n")
    logs = []
    if syslog:             # the syslog receiver's messages by what became of them
        logs = ["# HELP oti_syslog_messages_total Syslog messages by outcome: received, stored (an event), "
                "unrecognised (no pattern), unknown_sender, dropped (queue full or store failing)\n"
                "# TYPE oti_syslog_messages_total counter\n"]
        logs += [f'oti_syslog_messages_total{{outcome="{o}"}} {float(n)}\n' for o, n in sorted(syslog.items())]
    return "".join(up + dur + state + runs + errors + bad + trap + logs)


class MetricsApp:
    """The /metrics ASGI endpoint over a Snapshot: no device IO and no formatting during a scrape."""

    def __init__(self, snapshot):
        self.snapshot = snapshot

    def body(self) -> bytes:
        return self.snapshot.exposition()

    async def __call__(self, scope, receive, send):
        body = self.body()
        head = scope.get("method") == "HEAD"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if head else body})
