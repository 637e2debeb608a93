"""The `nut` check: a UPS read through upsd, judged with the same readings (and names) as the SNMP UPS profiles.

`ups.status` is a set of flags (`OL`, `OB LB`, `OL CHRG RB`...): each flag that matters becomes the reading
an SNMP card would give (on battery, battery low, replace battery, overload, forced shutdown), so a
Grafana panel, an alert policy and a runbook condition read a USB UPS and a networked one alike.
Voltage limits are ratios of the nominal voltage the UPS declares (`input.voltage.nominal`,
`output.voltage.nominal`), the inventory's `oti_snmp`-style `nominal_voltage`, or the standard nearest
its output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.core.inventory import Device
from agent.core.results import Reading, State, reading_key
from agent.core.thresholds import Thresholds, evaluate, nearest_nominal, times
from agent.transports.nut import credentials_of, list_vars
from checks.base import Check, ProbeContext


@dataclass(frozen=True)
class Number:
    """A NUT variable that becomes a numeric reading."""

    var: str
    name: str
    unit: str
    help: str
    scale: float = 1.0
    limits: Thresholds | None = None
    relative: bool = False          # limits are ratios of the nominal voltage


NUMBERS = (
    Number("battery.charge", "ups_battery_charge_ratio", "ratio", "Battery charge (0-1)", 0.01,
           Thresholds(direction="below", warning=0.5, critical=0.25, hysteresis=0.05)),
    Number("battery.runtime", "ups_battery_runtime_seconds", "seconds", "Estimated run time left on battery", 1,
           Thresholds(direction="below", warning=900, critical=300, hysteresis=60)),
    Number("battery.voltage", "ups_battery_voltage_volts", "volts", "Battery voltage"),
    Number("battery.temperature", "ups_battery_temperature_celsius", "celsius", "Battery temperature", 1,
           Thresholds(direction="above", warning=35, critical=40, hysteresis=1)),
    Number("input.voltage", "ups_input_voltage_volts", "volts", "Input voltage", 1,
           Thresholds(direction="below", warning=0.87, critical=0.78, hysteresis=0.015), relative=True),
    Number("input.frequency", "ups_input_frequency_hertz", "hertz", "Input frequency"),
    Number("output.voltage", "ups_output_voltage_volts", "volts", "Output voltage"),
    Number("output.frequency", "ups_output_frequency_hertz", "hertz", "Output frequency"),
    Number("ups.load", "ups_output_load_ratio", "ratio", "Output load as a share of rated capacity", 0.01,
           Thresholds(direction="above", warning=0.8, critical=0.9, hysteresis=0.05)),
    Number("ups.realpower", "ups_output_power_watts", "watts", "Output true power"),
)
SANE = {"ratio": (0.0, 5.0), "seconds": (0.0, 86400.0 * 30), "volts": (0.0, 1000.0), "celsius": (-60.0, 150.0),
        "hertz": (0.0, 500.0), "watts": (0.0, 10_000_000.0)}

# ups.status flags -> (reading, label when the flag is present, state, label when absent)
FLAGS = (
    ("ups_output_source", {"OB": ("battery", State.CRITICAL), "BYPASS": ("bypass", State.WARNING),
                           "OFF": ("off", State.CRITICAL)}, ("normal", State.OK),
     "Source of output power (battery when the mains is lost)"),
    ("ups_battery_status", {"LB": ("batteryLow", State.CRITICAL)}, ("batteryNormal", State.OK),
     "Battery status (batteryLow: the UPS is about to stop)"),
    ("ups_battery_replace", {"RB": ("batteryNeedsReplacing", State.WARNING)}, ("noBatteryNeedsReplacing", State.OK),
     "Whether the UPS asks for its battery to be replaced"),
    ("ups_output_overload", {"OVER": ("overload", State.CRITICAL)}, ("normal", State.OK), "Output overload"),
    ("ups_alarm", {"ALARM": ("alarm", State.WARNING)}, ("none", State.OK),
     "An alarm the UPS raises (ups.alarm says which)"),
    ("ups_forced_shutdown", {"FSD": ("forcedShutdown", State.CRITICAL)}, ("none", State.OK),
     "NUT's forced-shutdown flag (upsmon is shutting the systems down)"),
)


class NutCheck(Check):
    """Read a UPS from upsd (`oti_nut`)."""

    description = "UPS through Network UPS Tools (upsd's LIST VAR): status flags, battery, load, voltages"
    threshold_readings = tuple(n.name for n in NUMBERS)

    def applies(self, device: Device) -> bool:
        return getattr(device, "nut", None) is not None

    async def collect(self, device: Device, ctx: ProbeContext) -> dict[str, str]:
        user, password = credentials_of(device, ctx)
        return await list_vars(device.nut.host or device.address, device.nut, user, password)

    def evaluate(self, raw: dict[str, str], device: Device, previous: Mapping[str, State]) -> list[Reading]:
        status = raw.get("ups.status", "")
        flags = set(status.split())
        out = [Reading("ups_status_info", None, State.OK if status and "WAIT" not in flags else State.UNKNOWN,
                       text=status or None, kind="info", help="NUT's ups.status flags as upsd gives them",
                       message="" if status and "WAIT" not in flags else "upsd aún no tiene el estado de la UPS")]
        if status:
            for name, present, absent, help_ in FLAGS:
                hit = next((present[f] for f in present if f in flags), None)
                label, state = hit or absent
                said = raw.get("ups.alarm", "") if name == "ups_alarm" and hit else ""
                out.append(Reading(name, None, state, text=label, help=help_, message=said[:200]))
        nominal = _nominal(raw, device)
        for n in NUMBERS:
            out.append(self._number(n, raw.get(n.var), device, previous, nominal))
        return out

    @staticmethod
    def _number(n: Number, text: str | None, device: Device, previous, nominal: float | None) -> Reading:
        if text is None:
            return Reading(n.name, None, State.UNKNOWN, n.unit, help=n.help, message="sin dato: upsd no tiene "
                           f"{n.var} para esta UPS")
        try:
            value = round(float(text) * n.scale, 6)
        except ValueError:
            return Reading(n.name, None, State.UNKNOWN, n.unit, help=n.help,
                           message=f"tipo inesperado: {n.var} = {text[:40]!r} no es un número")
        lo, hi = SANE[n.unit]
        if not lo <= value <= hi:
            return Reading(n.name, None, State.UNKNOWN, n.unit, help=n.help,
                           message=f"valor imposible: {n.var} = {text} (un valor real está entre {lo:g} y {hi:g})")
        limits = device.thresholds.get(n.name) or n.limits
        if n.relative and limits is n.limits and limits is not None:
            limits = times(limits, nominal) if nominal is not None else None
        return Reading(n.name, value, evaluate(value, limits, previous.get(reading_key(n.name, ()))), n.unit,
                       help=n.help)


def _nominal(raw: dict[str, str], device: Device) -> float | None:
    given = getattr(device.nut, "nominal_voltage", None)
    if given:
        return given
    for var in ("input.voltage.nominal", "output.voltage.nominal"):
        try:
            v = float(raw.get(var, ""))
        except ValueError:
            continue
        if 50 <= v <= 1000:
            return v
    try:
        out = float(raw.get("output.voltage", ""))
    except ValueError:
        return None
    return nearest_nominal(out)
