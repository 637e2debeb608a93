"""A Prometheus collector over the agent's in-memory snapshot: no device IO during a scrape.

Every reading becomes `oti_<name>` (gauge, or counter ending in `_total`) labelled with device,
kind and site plus the reading's own labels; text readings become `oti_<name>_info`. Each reading's
state is `oti_reading_state` (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN); each check's health is
`oti_up`, `oti_check_duration_seconds`, `oti_check_runs_total` and `oti_check_errors_total`;
datagrams from a device that were no usable SNMP answer are `oti_snmp_malformed_total`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.monitoring.snapshot import Snapshot

PREFIX = "oti_"
BASE_LABELS = ("device", "kind", "site")


class SnapshotCollector(Collector):
    """Turn the latest results into Prometheus metric families."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        results, counters = self.snapshot.view()
        devices = self.snapshot.inventory.by_name
        families: dict[str, Metric] = {}
        state = GaugeMetricFamily(PREFIX + "reading_state", "State of each reading: 0 OK, 1 WARNING, 2 CRITICAL, "
                                  "3 UNKNOWN", labels=None)
        up = GaugeMetricFamily(PREFIX + "up", "Whether the device answered the check (1) or not (0)",
                               labels=[*BASE_LABELS, "check"])
        duration = GaugeMetricFamily(PREFIX + "check_duration_seconds", "Duration of the last run of a check",
                                     labels=["device", "check"])
        for res in sorted(results, key=lambda r: (r.device, r.check)):
            dev = devices.get(res.device)
            base = (res.device, dev.kind if dev else "", dev.site if dev else "")
            up.add_metric([*base, res.check], 1.0 if res.up else 0.0)
            duration.add_metric([res.device, res.check], res.duration_s)
            for r in res.readings:
                names = [*BASE_LABELS, *(k for k, _ in r.labels)]
                values = [*base, *(v for _, v in r.labels)]
                state.samples.append(_sample(state.name, dict(zip(names, values, strict=True)) | {"reading": r.name},
                                             float(r.state)))
                if r.kind == "info":
                    fam = _family(families, PREFIX + r.name + "_info", "gauge", r.help)
                    fam.samples.append(_sample(fam.name, dict(zip(names, values, strict=True)) |
                                               {"value": r.text or ""}, 1.0))
                elif r.value is not None:
                    fam = _family(families, PREFIX + r.name, r.kind, r.help)
                    sample_name = fam.name + "_total" if r.kind == "counter" else fam.name
                    fam.samples.append(_sample(sample_name, dict(zip(names, values, strict=True)), r.value))
        yield up
        yield duration
        yield state
        yield from (families[k] for k in sorted(families))
        yield from _counter_families(counters)
        yield _malformed_family(self.snapshot.snmp_malformed())


def _family(families: dict[str, Metric], name: str, kind: str, help_: str) -> Metric:
    if kind == "counter":
        name = name.removesuffix("_total")
    if name not in families:
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        families[name] = cls(name, help_ or name, labels=None)
    return families[name]


def _sample(name: str, labels: dict[str, str], value: float):
    from prometheus_client.samples import Sample

    return Sample(name, labels, value, None, None)


def _counter_families(counters) -> Iterator[Metric]:
    runs = CounterMetricFamily(PREFIX + "check_runs", "Runs of each check on each device", labels=["device", "check"])
    errors = CounterMetricFamily(PREFIX + "check_errors", "Failed runs of each check on each device, by reason",
                                 labels=["device", "check", "reason"])
    for (check, device), c in sorted(counters.items()):
        runs.add_metric([device, check], c.runs)
        for reason, n in sorted(c.errors.items()):
            errors.add_metric([device, check, reason], n)
    yield runs
    yield errors


def _malformed_family(by_device: dict[str, int]) -> Metric:
    family = CounterMetricFamily(PREFIX + "snmp_malformed", "Datagrams from a device that were no usable "
                                 "SNMPv2c answer (do not parse, wrong version or PDU, unknown request-id)",
                                 labels=["device"])
    for device, n in sorted(by_device.items()):
        family.add_metric([device], n)
    return family
