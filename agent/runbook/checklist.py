"""Checklists written from a run's journal, in Spanish, as HTML and XLSX: nothing is typed twice.

One line per action of each step (or one per step without targets): activity, what was done, on
which equipment, by whom (the agent, or the person who approved or confirmed), when, and the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent.runbook.journal import Journal
from agent.runbook.model import Runbook

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"
RESULT = {"done": "Conforme", "failed": "No conforme", "skipped": "No aplica", "successful": "Conforme",
          "canceled": "Cancelado", "started": "En curso"}
COLUMNS = ["N°", "Actividad", "Descripción", "Equipo", "Responsable", "Fecha y hora", "Resultado", "Observación"]


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


def lines(journal: Journal, book: Runbook, run_id: str, activities: list[int] | None, tz: str) -> list[Line]:
    """Build the checklist lines of a run from its journal."""
    zone = ZoneInfo(tz)
    steps = journal.steps(run_id)
    actions = journal.actions(run_id)
    decisions = journal.decisions(run_id)
    out = []
    for step in book.steps:
        if activities and not set(step.activities) & set(activities):
            continue
        row = steps.get(step.id, {})
        acts = [a for a in actions if a["step_id"] == step.id]
        people = [d for d in decisions if d["step_id"] == step.id and d["kind"] in ("approval", "confirm")]
        who = ", ".join(f"{d['by']}" + (f" ({d['role']})" if d["role"] else "") for d in people) or "oti-agent"
        activity = ", ".join(map(str, step.activities))
        what = step.checklist or step.name
        if not acts:
            out.append(Line(activity, what, "—", who, _when(row.get("ended_at"), zone),
                            RESULT.get(row.get("status", ""), row.get("status", "Pendiente")), row.get("message") or ""))
            continue
        for a in acts:
            by = "operador" if a["by"] == "operador" else who
            out.append(Line(activity, what, a["target"] or "—", by, _when(a["ended_at"] or a["started_at"], zone),
                            RESULT.get(a["status"], a["status"]), a["message"] or ""))
    return out


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        from datetime import UTC

        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M:%S")


def write(folder: Path, name: str, title: str, header: dict[str, str], rows: list[Line]) -> list[Path]:
    """Write `name`.html and `name`.xlsx atomically (temp file, then rename); return both paths."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    folder.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html"]))
    html = env.get_template("checklist.html.j2").render(title=title, header=header, columns=COLUMNS, rows=rows)
    html_path, xlsx_path = folder / f"{name}.html", folder / f"{name}.xlsx"
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(html_path)
    wb = Workbook()
    ws = wb.active
    ws.title = "Checklist"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    for key, value in header.items():
        ws.append([key, value])
    ws.append([])
    ws.append(COLUMNS)
    head = ws.max_row
    for cell in ws[head]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E78")
    for i, r in enumerate(rows, 1):
        ws.append([i, r.activity, r.description, r.equipment, r.by, r.at, r.result, r.note])
    for col, width in zip("ABCDEFGH", (5, 10, 48, 22, 28, 20, 14, 60), strict=True):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=head + 1):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    tmpx = xlsx_path.with_suffix(".xlsx.tmp")
    wb.save(tmpx)
    tmpx.replace(xlsx_path)
    return [html_path, xlsx_path]
