"""`oti-agent plan`: the ordered plan of a runbook, computed here from the config (nothing is touched, no
daemon needed)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_plan(out: Console, runbook: str, config: Path, params: dict) -> None:
    """Print the plan: steps in order with their targets, approvals, parallel branches, critical path."""
    from agent.core.settings import load_all
    from agent.runbook.model import find, load
    from agent.runbook.plan import make_plan

    settings = load_all(config)
    cfg = settings.config
    book = load(find(runbook, cfg.path(cfg.runbooks_dir), any_file=True))
    p = make_plan(book, book.resolve_params(params), settings)
    out.print(f"[bold]{escape(book.title)}[/bold] — {escape(book.procedure)}")
    out.print("parámetros: " + escape(", ".join(f"{k}={v}" for k, v in p.params.items())))
    table = Table()
    for col in ("act.", "step", "kind", "what", "targets, in order", "par.", "needs", "start s", "est. s"):
        table.add_column(col, overflow="fold")
    for ps in p.steps:
        s = ps.step
        targets = ", ".join(d.name for d in ps.targets) or "—"
        what = escape(ps.description) if ps.runs else f"[dim]no aplica ({escape(s.when or '')})[/dim]"
        table.add_row(",".join(map(str, s.activities)), s.id, s.kind, what, escape(targets), str(s.parallel),
                      ", ".join(s.needs), f"{ps.start_s:.0f}", f"{ps.estimate_s:.0f}")
    out.print(table)
    approvals = [f"{ps.step.id} ({ps.step.with_.get('role')})" for ps in p.steps if ps.step.kind == "approval"]
    if approvals:
        out.print("aprobaciones: " + " → ".join(approvals))
    for ps in p.steps:
        if ps.parallel_with and ps.runs:
            out.print(f"en paralelo: {ps.step.id} con {', '.join(ps.parallel_with)}")
    out.print(f"ruta crítica (estimada, sin esperas de personas): {p.critical_path_s:.0f} s — "
              + " → ".join(p.critical_path))
    out.print(f"equipos en mantenimiento durante la ejecución: {escape(', '.join(p.devices)) or 'ninguno'}")
