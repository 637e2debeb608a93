"""The restore drill report (informe de simulacro de restauración, issue 17), in the style of Anexo 06:
one drill — the asset, the backup restored (date, type, tapes), where, when it started and ended, the
measured recovery time against the objective, every check with what was expected and found, the cleanup
and the result. Written by the drill's `drill_report` step; the jefa receives it."""

from __future__ import annotations

from agent.backups.drills import duration_text
from agent.documents.base import DocContext, Document
from agent.documents.render import Page, human_bytes
from agent.errors import DocumentError
from agent.store import queries_drills

RESULT_CLASS = {"ok": "ok", "failed": "bad"}


def levels_text(ctx: DocContext, levels: str | None) -> str:
    """'Full + Incremental' as the office writes it: 'Completo + Incremental'."""
    return " + ".join(ctx.labels.get("backup_level", lv.strip()) for lv in (levels or "").split("+") if lv.strip())


def backup_text(ctx: DocContext, d: dict) -> str:
    """The backup restored: its date, type, tapes (or archives) and size."""
    if not d["jobs"]:
        return "ninguna (no había copia que restaurar)"
    parts = [ctx.local(d["backup_date"]), levels_text(ctx, d["levels"]),
             f"volúmenes {d['volumes'].replace(',', ', ')}" if d["volumes"] else "",
             human_bytes(d["bytes"]) if d["bytes"] else "", f"jobs {d['jobs']}"]
    return "; ".join(p for p in parts if p)


class DrillReport(Document):
    """One restore drill: what was restored, where, how long it took, what was checked."""

    form = "informe-simulacro"
    folder = "simulacros"
    params = ("run_id",)

    def build(self, ctx: DocContext) -> Page:
        run_id = ctx.params.get("run_id")
        d = queries_drills.drill(ctx.store, run_id) if run_id else None
        if d is None:
            raise DocumentError(f"no restore drill recorded for run {run_id!r}")
        asset = next((a for a in (ctx.settings.assets.assets if ctx.settings.assets else []) if a.id == d["asset"]),
                     None)
        result = (ctx.labels.get("drill_result", d["result"]), RESULT_CLASS.get(d["result"], ""))
        within = "" if not d["objective_s"] or d["seconds"] is None else (
            "dentro del objetivo" if d["seconds"] <= d["objective_s"] else "EXCEDE el objetivo")
        drill = {"activo": f"{asset.name} ({d['asset']})" if asset else d["asset"], "copia": backup_text(ctx, d),
                 "destino": d["target"] or "", "inicio": ctx.local(d["started_at"]), "fin": ctx.local(d["ended_at"]),
                 "tiempo": duration_text(d["seconds"]), "objetivo": duration_text(d["objective_s"]),
                 "limpieza": (("Realizada", "ok") if d["cleanup"] else ("Incompleta", "bad")),
                 "resultado": result,
                 "observacion": "; ".join(x for x in (f"regla: {d['rule']}", within, d["error"] or "",
                                                      d["cleanup_note"] or "") if x)}
        checks = [{"n": str(i), "que": c["check"], "esperado": c["expected"], "encontrado": c["found"],
                   "resultado": ("Conforme", "ok") if c["ok"] else ("No conforme", "bad")}
                  for i, c in enumerate(d["checks"], 1)]
        header = {"oficina": ctx.config.reports.office, "encargado": ctx.config.backups.responsible,
                  "ejecucion": run_id, "fecha": ctx.local(d["at"], "%d/%m/%Y"), "resultado": result[0]}
        return ctx.page(f"informe-simulacro-{run_id}", header, {"simulacro": [drill], "verificaciones": checks},
                        facts={"result": d["result"], "asset": d["asset"]})


def monthly_section(ctx: DocContext, since, until) -> tuple[list[dict], str]:
    """The monthly report's "Simulacros de restauración": each drill of the month (asset, date, result,
    measured time against the objective), then each asset due a drill that month that had none."""
    assets = ctx.settings.assets.assets if ctx.settings.assets else []
    names = {a.id: a.name for a in assets}
    found = queries_drills.drills(ctx.store, since, until)
    rows = []
    for d in found:
        slow = d["objective_s"] and d["seconds"] is not None and d["seconds"] > d["objective_s"]
        rows.append({"activo": names.get(d["asset"], d["asset"]), "fecha": ctx.local(d["at"]),
                     "resultado": (ctx.labels.get("drill_result", d["result"]), RESULT_CLASS.get(d["result"], "")),
                     "tiempo": (duration_text(d["seconds"]), "bad" if slow else ""),
                     "objetivo": duration_text(d["objective_s"]), "observacion": d["error"] or ""})
    drilled = {d["asset"] for d in found}
    month = since.astimezone(ctx.tz).month
    missing = [a for a in assets if month in a.drill_months() and a.id not in drilled]
    for a in missing:
        rows.append({"activo": a.name, "fecha": "", "resultado": (ctx.labels.get("drill_result", "pendiente"), "bad"),
                     "tiempo": "—", "objetivo": duration_text(a.rto),
                     "observacion": f"simulacro {a.drill} previsto en el mes y no realizado"})
    for i, r in enumerate(rows, 1):
        r["n"] = str(i)
    ok = sum(1 for d in found if d["result"] == "ok")
    summary = (f"{ok} de {len(found)} conforme(s)" if found else "ninguno") + (
        f"; {len(missing)} activo(s) sin el simulacro previsto" if missing else "")
    return rows, summary
