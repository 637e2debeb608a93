"""Checklists written from a run's journal, in Spanish, as HTML and XLSX: nothing is typed twice.

One line per action of each step (or one per step without targets; one per device for a `checks`
step): activity, what was done, on which equipment, by whom (the agent, or the person who approved
or confirmed), when, and the result. Two forms show those lines:

- `actividades`, the apagado-encendido checklist: every column above;
- `servicios`, the validation checklist of applications and IT services (activity 28): the
  manual gives it no form of its own, so it takes the office's checklist form of IT services
  (Anexo 07 of the backup procedure): Ítem, Actividades, Sí, No, Observación.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.documents import write_table
from agent.runbook.journal import Journal
from agent.store.times import aware
from agent.runbook.model import Runbook

RESULT = {"done": "Conforme", "failed": "No conforme", "skipped": "No aplica", "successful": "Conforme",
          "canceled": "Cancelado", "started": "En curso"}
FORMS = {
    "actividades": ["N°", "Actividad", "Descripción", "Equipo", "Responsable", "Fecha y hora", "Resultado",
                    "Observación"],
    "servicios": ["Ítem", "Actividades", "Sí", "No", "Observación"],
}
WIDTHS = {"actividades": (5, 10, 48, 22, 28, 20, 14, 60), "servicios": (6, 60, 6, 6, 70)}


@dataclass
class Line:
    """One line of a checklist."""

    activity: str
    description: str
    equipment: str
    by: str
    at: str
    result: str
    note: str


def lines(journal: Journal, book: Runbook, run_id: str, activities: list[int] | None, tz: str,
          writer: str | None = None) -> list[Line]:
    """Build the checklist lines of a run from its journal (leaving out `writer`, the step writing them)."""
    zone = ZoneInfo(tz)
    steps = journal.steps(run_id)
    actions = journal.actions(run_id)
    decisions = journal.decisions(run_id)
    events = journal.events(run_id)
    out = []
    for step in book.steps:
        if step.id == writer or (activities and not set(step.activities) & set(activities)):
            continue
        row = steps.get(step.id, {})
        acts = [a for a in actions if a["step_id"] == step.id]
        checked = _last_checks(events, step.id)
        people = [d for d in decisions if d["step_id"] == step.id and d["kind"] in ("approval", "confirm")]
        who = ", ".join(f"{d['by']}" + (f" ({d['role']})" if d["role"] else "") for d in people) or "oti-agent"
        activity = ", ".join(map(str, step.activities))
        what = step.checklist or step.name
        if checked:                             # a `checks` step: one line per device it judged
            for device, e in checked.items():
                out.append(Line(activity, what, device, who, _when(e["at"], zone),
                                "Conforme" if e["event"] == "check_ok" else "No conforme", e["detail"] or ""))
            continue
        if not acts:
            out.append(Line(activity, what, "—", who, _when(row.get("ended_at"), zone),
                            RESULT.get(row.get("status", ""), row.get("status", "Pendiente")), row.get("message") or ""))
            continue
        for a in acts:
            by = "operador" if a["by"] == "operador" else who
            out.append(Line(activity, what, a["target"] or "—", by, _when(a["ended_at"] or a["started_at"], zone),
                            RESULT.get(a["status"], a["status"]), a["message"] or ""))
    return out


def _last_checks(events: list[dict], step_id: str) -> dict[str, dict]:
    """The last verdict on each device of a `checks` step (a retried step judged them again)."""
    out: dict[str, dict] = {}
    for e in events:
        if e["step_id"] == step_id and e["event"] in ("check_ok", "check_failed") and e["target"]:
            out[e["target"]] = e
    return out


def cells(form: str, rows: list[Line]) -> list[list[tuple[str, str]]]:
    """Lay the lines out in a form's columns; each cell is (text, css class: ok, bad or none)."""
    out = []
    for i, r in enumerate(rows, 1):
        cls = "ok" if r.result == "Conforme" else "bad" if r.result == "No conforme" else ""
        if form == "servicios":
            what = r.description + (f" — {r.equipment}" if r.equipment != "—" else "")
            note = "; ".join(x for x in (r.note, f"{r.by}, {r.at}" if r.at else r.by) if x)
            if r.result not in ("Conforme", "No conforme"):
                note = f"{r.result}. {note}"
            out.append([(str(i), ""), (what, ""), ("X" if cls == "ok" else "", "ok"),
                        ("X" if cls == "bad" else "", "bad"), (note, "")])
        else:
            out.append([(str(i), ""), (r.activity, ""), (r.description, ""), (r.equipment, ""), (r.by, ""),
                        (r.at, ""), (r.result, cls), (r.note, "")])
    return out


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    if at is None:
        return ""
    return aware(at).astimezone(zone).strftime("%d/%m/%Y %H:%M:%S")


def write(folder: Path, name: str, title: str, header: dict[str, str], rows: list[Line],
          form: str = "actividades") -> list[Path]:
    """Write `name`.html and `name`.xlsx; return both paths."""
    return write_table(folder, name, title, header, FORMS[form], cells(form, rows), WIDTHS[form],
                       footer="Documento generado por oti-agent a partir del registro de la ejecución; "
                              "no se digita a mano.")
