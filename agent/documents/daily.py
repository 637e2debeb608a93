"""The daily checklist of IT services (Anexo 07 of S.04.04.01.02_P): computed, never typed.

Responsible, date, and one line per item — each piece of equipment of the inventory, each host's
compliance verdict and each backed-up asset — with "Sí" or "No" and an observation, from the last
day's readings, check runs, alerts and backups. A device is "Sí" when its checks answered, none of
its readings is CRITICAL now and none of its alerts of the day is still open; otherwise the
observation says why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agent.core.results import State
from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.monitoring.silence import NAME as SILENCE
from agent.store import queries


def period_end(settings, day: date, now: datetime) -> datetime:
    """The checklist of a past day is as of its morning review (`reports.daily_time`); today's is as of `now`."""
    tz = ZoneInfo(settings.config.agent.timezone)
    local = now.astimezone(tz)
    review = time.fromisoformat(settings.config.reports.daily_time)
    return (local if day == local.date() else datetime.combine(day, review, tz)).astimezone(UTC)


def zone_name(settings) -> str:
    """'hora de Lima' for America/Lima: how the office names its clock."""
    return "hora de " + settings.config.agent.timezone.rsplit("/", 1)[-1].replace("_", " ")


def items(ctx: DocContext, day: date) -> list[tuple[str, bool, str]]:
    """(activity, ok, observation) over the 24 hours before `period_end`."""
    until = period_end(ctx.settings, day, ctx.now)
    store = ctx.store
    statuses, critical = queries.check_statuses(store), queries.critical_readings(store)
    day_alerts = queries.alerts_during(store, until - timedelta(days=1), until)
    out = [_device_line(ctx, d, statuses, critical, day_alerts) for d in ctx.settings.inventory]
    for v in queries.compliance_verdicts(store):   # per host: a WSUS server's verdicts are about its clients
        area = ctx.labels.get("compliance_area", v["labels"].get("area", ""))
        out.append((f"Cumplimiento de {area} de {v['labels'].get('host', v['device'])}", v["state"] == State.OK,
                    v["message"] or ""))
    runs = queries.backup_runs(store, until=until)
    out += [_asset_line(ctx, asset, [r for r in runs if r["asset"] == asset.id], until)
            for asset in (ctx.settings.assets.assets if ctx.settings.assets else [])]
    return out


def _device_line(ctx: DocContext, d, statuses, critical, day_alerts) -> tuple[str, bool, str]:
    what = f"Operatividad de {d.name} ({ctx.labels.get('kinds', d.kind)})"
    mine = [s for s in statuses if s["device"] == d.name]
    if not mine:
        return what, False, "sin monitoreo registrado en el día"
    notes = [f"{s['check_name']} sin respuesta desde {ctx.local(s['failing_since'] or s['last_run'], '%H:%M')}: "
             f"{s['error']}" for s in mine if not s["up"]]
    mine_critical = [r for r in critical if r["device"] == d.name and r["name"] != SILENCE]   # said just above
    notes += _grouped([r["reading"] for r in mine_critical], "en estado crítico",
                      lambda r: f"{r['reading']} en estado crítico ({r['message'] or r['text'] or r['value']})",
                      mine_critical)
    open_ = [a for a in day_alerts if a["device"] == d.name and a["status"] != "resolved"]
    closed = [a for a in day_alerts if a["device"] == d.name and a["status"] == "resolved"]
    if open_:
        acked = sorted({a["acked_by"] for a in open_ if a["acked_by"]})
        ids = [a["id"] for a in open_]
        numbers = ", ".join(map(str, ids)) if len(ids) <= MAX_LISTED else f"{ids[0]} a {ids[-1]}"
        notes.append(f"{len(open_)} alerta(s) abierta(s) (N° {numbers}{_what(open_)})"
                     + (f", tomadas por {', '.join(acked)}" if acked else ", sin tomar"))
    ok = not notes
    if ok and closed:
        notes.append(f"{len(closed)} alerta(s) resuelta(s) en el día")
    return what, ok, "; ".join(notes)


MAX_LISTED = 5          # more alerts or readings of one kind than this: one line with the count


def _name(reading_key: str) -> str:
    return reading_key.split("{", 1)[0]


def _grouped(keys: list[str], what: str, one, rows: list[dict]) -> list[str]:
    """One note per reading, or one per kind of reading when a device has many (46 ports of a switch)."""
    kinds: dict[str, list[dict]] = {}
    for key, row in zip(keys, rows, strict=True):
        kinds.setdefault(_name(key), []).append(row)
    out = []
    for name, group in kinds.items():
        if len(group) > MAX_LISTED:
            out.append(f"{len(group)} lecturas {name} {what}")
        else:
            out += [one(r) for r in group]
    return out


def _what(alerts: list[dict]) -> str:
    """': 46 de if_oper_status' when many open alerts are of one kind."""
    kinds: dict[str, int] = {}
    for a in alerts:
        kinds[_name(a["reading"])] = kinds.get(_name(a["reading"]), 0) + 1
    if len(alerts) <= MAX_LISTED:
        return ""
    return ": " + ", ".join(f"{n} de {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def _asset_line(ctx: DocContext, asset, mine: list[dict], until: datetime) -> tuple[str, bool, str]:
    good = [r for r in mine if r["status"] in queries.GOOD_BACKUP]
    last_good = good[-1]["ended_at"] if good else None
    fresh = last_good is not None and until - last_good <= asset.periodicity.max_gap() + timedelta(
        seconds=ctx.config.backups.grace)
    last = mine[-1] if mine else None
    note = f"última copia buena {ctx.local(last_good)}" if last_good else "sin copia registrada"
    if last and last["status"] not in (*queries.GOOD_BACKUP, "running"):
        note += f"; última ejecución {last['status']}"
    return (f"Copia de respaldo de {asset.name} ({asset.periodicity.describe().lower()})",
            fresh and (last is None or last["status"] in (*queries.GOOD_BACKUP, "running")), note)


class DailyChecklist(Document):
    """Anexo 07: the daily checklist of IT services, mailed to the jefa every morning."""

    form = "checklist-diario"
    folder = "checklists"
    schedule = "daily"
    mail_template = "checklist-diario"
    params = ("day",)

    def build(self, ctx: DocContext) -> Page:
        day = ctx.params["day"]
        found = items(ctx, day)
        rows = [{"item": str(i), "actividad": what, "si": ("X" if ok else "", "ok"), "no": ("" if ok else "X", "bad"),
                 "observacion": note} for i, (what, ok, note) in enumerate(found, 1)]
        end = period_end(ctx.settings, day, ctx.now)
        header = {"responsable": ctx.config.reports.responsible, "fecha": f"{day:%d/%m/%Y}",
                  "periodo": f"24 horas hasta el {ctx.local(end)} ({zone_name(ctx.settings)})",
                  "conformes": f"{sum(1 for _, ok, _ in found if ok)} de {len(found)}"}
        facts = {"day": day, "ok": sum(1 for _, ok, _ in found if ok), "total": len(found),
                 "bad": [(what, note) for what, ok, note in found if not ok]}
        anchors = anchor_rows(ctx, day)
        facts["anchors"] = [a["ancla"] for a in anchors]
        return ctx.page(f"checklist-diario-{day:%Y-%m-%d}", header, {"items": rows, "anclas": anchors}, facts=facts)


def anchor_rows(ctx: DocContext, day: date) -> list[dict]:
    """The section «Anclas de integridad de los registros»: the head of each hash-chained journal for the day, so
    the printed or mailed checklist pins the history up to it (`oti-agent verify --journals --anchor ...`). They are
    fixed when the day's checklist is first built (`fijada`); built again, it prints the same."""
    return [{"registro": a["name"], "entradas": str(a["seq"]),
             "firma": "firmada" if a["signature"] else "sin firma", "fijada": ctx.local(a["at"]), "ancla": a["text"]}
            for a in queries.journal_anchors(ctx.store, day.isoformat(), ctx.now, ctx.config)]
