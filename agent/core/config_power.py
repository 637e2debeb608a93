"""The `power:` section of the config: what the agent does when the mains fail (issue 16).

The UPS devices it watches report, through SNMP (any UPS profile) or NUT, the same readings:
`ups_output_source` (battery / normal), `ups_battery_runtime_seconds`, `ups_battery_charge_ratio` and
`ups_battery_status` (batteryLow). On battery, the people in `notify` are told at once with the runtime
left. When the runtime left falls to the staged shutdown's budget (its plan's estimate or its last real
run, whichever is longer, plus `margin`), or the charge to `battery_floor`, or the UPS says battery low,
the shutdown runbook starts in its emergency mode, scoped to the devices that UPS feeds (`oti_power`).
The approvals it keeps or waives are the policy's `emergency` rules, written here, never implied.
Mains back: once the input has been normal for `mains_stable_for` and the battery has recharged to
`battery_recharged`, the startup runbook starts (with `ask_first`, its first step asks the role
`ask_role` before anything is switched on).
"""

from __future__ import annotations

from pydantic import Field

from agent.core.automation import Emergency, ExpiryRule
from agent.core.config_daemon import Duration, _Model


def _default_emergency() -> Emergency:
    # the jefa is asked and may cancel within 2 minutes (silence is a yes); GG is told afterwards
    return Emergency(approvals={"aprobacion-jefa": ExpiryRule(expire_after=120.0, on_expiry="approve")},
                     skip_approvals=["aprobacion-gg"])


class PowerShutdown(_Model):
    """The staged shutdown on the UPS's budget."""

    runbook: str = "datacenter-shutdown"
    params: dict[str, str | int | float | bool] = Field(
        {}, description="more parameters of the run (emergencia=true and motivo are set by the policy)")
    margin: Duration = Field(300.0, description="added to the shutdown's own estimate")
    battery_floor: float = Field(0.3, ge=0.0, le=1.0, description="start at this charge (0-1) whatever the runtime")
    emergency: Emergency = Field(default_factory=_default_emergency)
    nut_forced_shutdown: bool = Field(True, description="once the staged shutdown has finished, raise the UPS's "
                                      "FSD flag through upsd (a UPS managed by NUT; the credential needs `upsmon "
                                      "primary`): NUT's upsmon then shuts down what is left and powers the UPS off")


class PowerStartup(_Model):
    """The gated return once the mains are back."""

    runbook: str = "datacenter-startup"
    params: dict[str, str | int | float | bool] = {}
    mains_stable_for: Duration = Field(600.0, description="the input normal without a break this long")
    battery_recharged: float = Field(0.8, ge=0.0, le=1.0, description="and the battery charged to this (0-1)")
    ask_first: bool = Field(True, description="the startup's first step asks `ask_role` before switching on")
    ask_role: str = "jefa"


class PowerSection(_Model):
    """The power policy; off unless enabled."""

    enabled: bool = False
    ups: list[str] = Field([], description="the UPS devices watched (empty: every device of kind ups)")
    notify: list[str] = Field(["especialistas", "jefa"],
                              description="mail.recipients groups told at once when a UPS goes on battery")
    shutdown: PowerShutdown = PowerShutdown()
    startup: PowerStartup = PowerStartup()
