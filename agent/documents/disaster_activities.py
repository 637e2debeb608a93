"""Anexo 09 of S.04.04.01.02_P, actividades después del desastre: the list of the declared type (activity
11), item by item as the run worked through it — who confirmed it or what the agent found, when, and the
result. An item sent back by a No at activity 12 shows its last round; the hoja de control keeps them all."""

from __future__ import annotations

from pathlib import Path

from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.store import queries


class DisasterActivities(Document):
    """Anexo 09 for one declared disaster: its type's items, each with its person, time and result."""

    form = "actividades-desastre"
    folder = "desastres"
    params = ("run_id",)

    def build(self, ctx: DocContext) -> Page:
        from agent.documents.run_checklist import responsible
        from agent.runbook.model import load

        run_id = ctx.params["run_id"]
        run = queries.run_row(ctx.store, run_id)
        declared = str(run["params"].get("tipo", ""))
        book = load(Path(run["runbook_path"]))
        steps = queries.run_step_rows(ctx.store, run_id)
        decisions = [d for d in queries.run_decision_rows(ctx.store, run_id) if d["kind"] == "confirm"]
        actions = queries.run_action_rows(ctx.store, run_id)
        rows = []
        for step in [s for s in book.steps if s.id.startswith(f"{declared}-")]:
            item, _, what = step.name.partition(") ")
            row = steps.get(step.id, {})
            mine = [d for d in decisions if d["step_id"] == step.id]
            notes = [a["message"] for a in actions if a["step_id"] == step.id and a.get("message")]
            values = mine[-1].get("values") if mine else None
            if values:
                notes.append(", ".join(f"{k}={v}" for k, v in values.items()))
            if mine and mine[-1].get("comment"):
                notes.append(mine[-1]["comment"])
            status = row.get("status", "pending")
            rows.append({"item": item if what else "", "actividad": what or step.name,
                         "responsable": responsible(ctx, mine[-1]) if mine else "oti-agent",
                         "fecha": ctx.local(row.get("ended_at")),
                         "resultado": ctx.labels.get("run_result", status, "Pendiente"),
                         "observacion": "; ".join(notes) or (row.get("message") or "")})
        header = {"ejecucion": run_id, "tipo": ctx.labels.get("disaster", declared),
                  "fecha": ctx.local(run["created_at"])}
        return ctx.page(f"actividades-desastre-{run_id}", header, {"actividades": rows})
