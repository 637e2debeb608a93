"""The `renewals:` section of the config: when the agent notices that a licence of the master (Anexo 1 of
S.04.04.01.01_P) or a device's warranty is about to end (flow 1, activities 14–15 and 31–32).

Each threshold is a number of days before the TERMINO; when the day comes, one alert is raised in the alert
book (once per threshold and end date), and the normal escalation mails it. The nearest threshold (the
smallest) is CRITICAL, the others WARNING. The defaults: 60 days (time to ask the units how many to renew,
activities 17–18, and to go through purchasing), 30 (the purchase must be under way) and 7 (it is about to
lapse).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class RenewalsSection(BaseModel):
    """Expiry notices of licences and warranties."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_days: list[int] = Field([60, 30, 7], min_length=1, description="days before a licence's or warranty's "
                                   "end on which an alert is raised, once each (the smallest is critical)")
    notice_time: str = Field("08:00", pattern=HHMM, description="when the daily look at the master runs "
                             "(office time; also once when the daemon starts)")

    @field_validator("notice_days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(not 0 <= d <= 3650 for d in days):
            raise ValueError("each of notice_days is between 0 and 3650 days")
        if len(set(days)) != len(days):
            raise ValueError("notice_days repeats a number of days")
        return sorted(days, reverse=True)
