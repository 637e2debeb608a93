"""Activity 5's question, «¿Existe disponibilidad en la fecha y hora indicados?», answered with what the agent
knows, for the jefa to read beside the request; and activity 9's «Revisa estado del Centro de Datos», the
room's active alerts.

The rooms are the centro de datos and the cuartos de comunicaciones: a device whose inventory `oti_location`
starts with «Cuarto» is in that cuarto (one room per distinct location); every other device is in the centro
de datos. What makes a window unavailable:

- another authorised visit to the same room whose window overlaps;
- a planned datacenter shutdown or startup (a `schedules:` entry of those runbooks due in the window), or one
  under way now, when the window is today (the centro de datos only: the cuartos keep working);
- a maintenance window: a silence of a device of the room in force during the window;
- the window outside the office's hours (alerts.office_hours: weekdays, hours, holidays).

Each is a `Conflict` with the Spanish text the jefa reads. The pure part takes its times as arguments.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from agent.alerts.office_hours import in_office_hours
from agent.store import queries, queries_access

DATACENTER = "centro-datos"
DATACENTER_LABEL = "Centro de datos"
PLANNED_RUNBOOKS = {"datacenter-shutdown": "apagado", "datacenter-startup": "encendido"}
FINISHED = {"successful", "completed_with_failures", "failed", "canceled", "skipped", "timeout"}


@dataclass(frozen=True)
class Conflict:
    """One reason the window is not available: its kind and what the jefa reads."""

    kind: str                 # visita | apagado | mantenimiento | horario
    text: str

    def as_dict(self) -> dict:
        return asdict(self)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in plain).split())[:120] or "cuarto"


def rooms(inventory) -> dict[str, str]:
    """The rooms one may ask to enter: key -> name (the centro de datos first, then each cuarto)."""
    found = {DATACENTER: DATACENTER_LABEL}
    for device in inventory:
        where = (device.location or "").strip()
        if where.casefold().startswith("cuarto"):
            found.setdefault(_slug(where), where)
    return found


def room_devices(inventory, room: str) -> set[str]:
    """The names of the devices in a room."""
    def key(device) -> str:
        where = (device.location or "").strip()
        return _slug(where) if where.casefold().startswith("cuarto") else DATACENTER

    return {d.name for d in inventory if key(d) == room}


def window(day: date, time_from: str, time_to: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """A request's window as aware times in the office's zone."""
    start = datetime.combine(day, time.fromisoformat(time_from), tz)
    return start, datetime.combine(day, time.fromisoformat(time_to), tz)


def _hhmm(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def overlapping_visits(request: dict, others: list[dict]) -> list[Conflict]:
    """Other authorised visits to the same room on the same day whose windows overlap this one's."""
    return [Conflict("visita", f"Visita N° {o['id']} ya autorizada de {o['name']} ({o['company']}) de "
                               f"{o['time_from']} a {o['time_to']}")
            for o in others
            if o["id"] != request.get("id") and o["room"] == request["room"] and o["day"] == request["day"]
            and o["time_from"] < request["time_to"] and request["time_from"] < o["time_to"]]


def planned_runs(schedules, runs: list[dict], start: datetime, end: datetime, now: datetime,
                 tz: tzinfo) -> list[Conflict]:
    """Shutdowns and startups of the datacenter scheduled in [start, end), or under way when it is today."""
    from agent.runbook.schedules import occurrences

    out = []
    for spec in schedules:
        if spec.runbook not in PLANNED_RUNBOOKS or not spec.enabled:
            continue
        first = next(occurrences(spec, tz, start - timedelta(seconds=1)), None)
        if first is not None and first < end:
            out.append(Conflict("apagado", f"{PLANNED_RUNBOOKS[spec.runbook].capitalize()} del centro de datos "
                                           f"programado para el {_hhmm(first, tz)} («{spec.name}»)"))
    if start.astimezone(tz).date() == now.astimezone(tz).date() and end > now:
        for run in runs:
            if run["runbook"] in PLANNED_RUNBOOKS and run["status"] not in FINISHED:
                out.append(Conflict("apagado", f"{PLANNED_RUNBOOKS[run['runbook']].capitalize()} del centro de "
                                               f"datos en curso (ejecución {run['id']})"))
    return out


def maintenance(silences: list[dict], devices: set[str], tz: tzinfo) -> list[Conflict]:
    """Silences of the room's devices in force during the window: someone works on them then."""
    return [Conflict("mantenimiento", f"{s['device']} en mantenimiento hasta el {_hhmm(s['until'], tz)}"
                                      + (f" ({s['reason']})" if s.get("reason") else "") + f", según {s['by']}")
            for s in silences if s["device"] in devices]


def outside_hours(start: datetime, end: datetime, hours) -> list[Conflict]:
    """The window, or part of it, outside the office's working hours."""
    last = end - timedelta(minutes=1) if end > start else start
    if in_office_hours(start, hours) and in_office_hours(last, hours):
        return []
    return [Conflict("horario", f"Fuera del horario de la oficina ({hours.days.replace(' ', ', ')} de "
                                f"{hours.start} a {hours.end}, salvo feriados)")]


def conflicts(settings, store, request: dict, now: datetime) -> list[Conflict]:
    """Activity 5's answer for a request (its room, day and window): every reason it is not available."""
    from zoneinfo import ZoneInfo

    cfg = settings.config
    tz = ZoneInfo(cfg.agent.timezone)
    start, end = window(date.fromisoformat(request["day"]), request["time_from"], request["time_to"], tz)
    others = queries_access.access_requests(store, statuses=("authorised",), first_day=request["day"],
                                            end_day=(date.fromisoformat(request["day"]) + timedelta(days=1))
                                            .isoformat(), room=request["room"])
    found = overlapping_visits(request, others)
    if request["room"] == DATACENTER:
        found += planned_runs(cfg.schedules, queries.run_list(store, limit=50), start, end, now, tz)
    found += maintenance(queries_access.silences_during(store, start, end),
                         room_devices(settings.inventory, request["room"]), tz)
    return found + outside_hours(start, end, cfg.alerts.office_hours)


def room_alerts(settings, store, room: str) -> list[dict]:
    """Activity 9: the room's active alerts (open or acknowledged), worst first, as the specialist reads them."""
    devices = room_devices(settings.inventory, room)
    found = [a for a in queries.alerts_list(store) if a["device"] in devices]
    found.sort(key=lambda a: (-int(a["severity"]), a["opened_at"]))
    return [{"id": a["id"], "device": a["device"], "reading": a["reading"], "severity": a["severity"].name,
             "text": a["message"] or a["text"] or "", "since": a["opened_at"].isoformat(),
             "status": a["status"]} for a in found]
