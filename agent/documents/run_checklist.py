"""Checklists written from a run's journal: nothing is typed twice.

One line per action of each step (one per step without targets; one per device for a `checks`
step): activity, what was done, on which equipment, by whom (the agent, or the person who approved
or confirmed), when, and the result. Two forms show those lines:

- `actividades`, the apagado-encendido checklist (activities 16 and 29): every column above;
- `servicios`, the validation checklist of applications and IT services (activity 28): the
  manual gives it no form of its own, so it takes the office's checklist form of IT services
  (Anexo 07 of the backup procedure): Ítem, Actividades, Sí, No, Observación.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.store import queries


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


def lines(ctx: DocContext, book, run_id: str, activities: list[int] | None, writer: str | None = None) -> list[Line]:
    """The checklist lines of a run, from its journal (leaving out `writer`, the step writing them)."""
    steps, actions = queries.run_step_rows(ctx.store, run_id), queries.run_action_rows(ctx.store, run_id)
    decisions, events = queries.run_decision_rows(ctx.store, run_id), queries.run_event_rows(ctx.store, run_id)
    out = []
    for step in book.steps:
        if step.id == writer or (activities and not set(step.activities) & set(activities)):
            continue
        people = [d for d in decisions if d["step_id"] == step.id and d["kind"] in ("approval", "confirm")]
        who = ", ".join(responsible(ctx, d) for d in people) or "oti-agent"
        out += _step_lines(ctx, step, steps.get(step.id, {}), [a for a in actions if a["step_id"] == step.id],
                           _last_checks(events, step.id), who)
    return out


def _signers(ctx: DocContext, run: dict, starter, by_step: dict[str, str] | None) -> dict[str, str]:
    """Who signs a run's checklist: who started it made it ("Elaborado por"); each other line is the person who
    decided the step the runbook names for it (`signers`), else the last approval's holder approved it and an
    earlier approver reviewed it. A line the journal cannot fill yet stays blank for a hand signature."""
    people = getattr(ctx.settings, "people", None)
    made = starter.name + (f" — {people.title(starter.roles[0])}" if people is not None and starter.roles else "") \
        if starter else run["started_by"]
    decided = [d for d in queries.run_decision_rows(ctx.store, run["id"])
               if d["kind"] in ("approval", "confirm") and d["decision"] in ("approved", "confirmed")
               and not d.get("superseded")]
    out = {"Elaborado por": made}
    if by_step:
        for label, step in by_step.items():
            mine = [d for d in decided if d["step_id"] == step]
            if mine:
                out[label] = responsible(ctx, mine[-1])
        return out
    approvals = [d for d in decided if d["kind"] == "approval"]
    if approvals:
        out["Aprobado por"] = responsible(ctx, approvals[-1])
        earlier = [d for d in approvals[:-1] if d["by"] != approvals[-1]["by"]]
        if earlier:
            out["Revisado por"] = responsible(ctx, earlier[-1])
    return out


def responsible(ctx: DocContext, decision: dict) -> str:
    """The checklists' Responsable: the person's name and the manual's role ('María Rojas — Jefa de la OTI,
    encargada'), or the login for someone the registry no longer knows; the agent for what it decided."""
    people = getattr(ctx.settings, "people", None)
    person = people.person(decision["by"]) if people is not None else None
    name = person.name if person else decision["by"]
    if decision["by"] == "agente":
        name = "oti-agent"
    role = decision.get("role")
    if not role:
        return name
    title = people.title(role) if people is not None else role
    return f"{name} — {title}" + (" (encargado/a)" if decision.get("held_as") == "encargado" else "")


def _step_lines(ctx: DocContext, step, row: dict, acts: list[dict], checked: dict, who: str) -> list[Line]:
    activity, what = ", ".join(map(str, step.activities)), step.checklist or step.name
    if checked:                             # a `checks` step: one line per device it judged
        return [Line(activity, what, device, who, ctx.local(e["at"], "%d/%m/%Y %H:%M:%S"),
                     "Conforme" if e["event"] == "check_ok" else "No conforme", e["detail"] or "")
                for device, e in checked.items()]
    if not acts:
        status = row.get("status", "")
        return [Line(activity, what, "—", who, ctx.local(row.get("ended_at"), "%d/%m/%Y %H:%M:%S"),
                     ctx.labels.get("run_result", status) if status else "Pendiente", row.get("message") or "")]
    return [Line(activity, what, a["target"] or "—", "operador" if a["by"] == "operador" else who,
                 ctx.local(a["ended_at"] or a["started_at"], "%d/%m/%Y %H:%M:%S"),
                 ctx.labels.get("run_result", a["status"]),
                 a["message"] or "") for a in acts]


def _last_checks(events: list[dict], step_id: str) -> dict[str, dict]:
    """The last verdict on each device of a `checks` step (a retried step judged them again)."""
    out: dict[str, dict] = {}
    for e in events:
        if e["step_id"] == step_id and e["event"] in ("check_ok", "check_failed") and e["target"]:
            out[e["target"]] = e
    return out


def _row(form: str, i: int, r: Line) -> dict:
    """A line in a form's columns; cells carry their class (ok, bad or none)."""
    cls = "ok" if r.result == "Conforme" else "bad" if r.result == "No conforme" else ""
    if form == "servicios":
        what = r.description + (f" — {r.equipment}" if r.equipment != "—" else "")
        note = "; ".join(x for x in (r.note, f"{r.by}, {r.at}" if r.at else r.by) if x)
        if r.result not in ("Conforme", "No conforme"):
            note = f"{r.result}. {note}"
        return {"n": str(i), "actividad": what, "si": ("X" if cls == "ok" else "", "ok"),
                "no": ("X" if cls == "bad" else "", "bad"), "observacion": note}
    return {"n": str(i), "actividad": r.activity, "descripcion": r.description, "equipo": r.equipment,
            "responsable": r.by, "fecha": r.at, "resultado": (r.result, cls), "observacion": r.note}


class RunChecklist(Document):
    """A checklist of a run so far (the `checklist` step writes it), in one of the two forms."""

    folder = "{run_id}"
    pdf = False
    params = ("run_id", "file", "title", "form", "activities", "writer", "signers")

    def form_for(self, params: dict) -> str:
        return f"checklist-{params.get('form', 'actividades')}"

    def build(self, ctx: DocContext) -> Page:
        from agent.runbook.model import load

        p = ctx.params
        run = queries.run_row(ctx.store, p["run_id"])
        book = load(Path(run["runbook_path"]))
        found = lines(ctx, book, p["run_id"], p.get("activities") or None, p.get("writer"))
        starter = ctx.settings.people.person(run["started_by"]) if hasattr(ctx.settings, "people") else None
        header = {"responsable": starter.name if starter else run["started_by"], "fecha": ctx.local(ctx.now, "%d/%m/%Y"),
                  "procedimiento": book.procedure, "ejecucion": p["run_id"], "sede": ctx.config.agent.site}
        extra = {f"Parámetro {k}": str(v) for k, v in run["params"].items()}
        rows = [_row(p.get("form", "actividades"), i, r) for i, r in enumerate(found, 1)]
        return ctx.page(p["file"], header, {"lineas": rows}, extra_header=extra, title=p.get("title"),
                        facts={"lines": len(rows)}, signers=_signers(ctx, run, starter, p.get("signers")))
