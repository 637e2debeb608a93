"""Plan a run without touching anything: targets in order, parallel branches, approvals, critical path."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agent.core.inventory import Device, Inventory
from agent.errors import ConfigError, Problem
from agent.runbook import expr
from agent.runbook import template as templates
from agent.runbook.kinds import load_kind
from agent.runbook.model import Runbook, Step


def order_targets(devices: list[Device], order: str) -> list[Device]:
    """Sort targets: startup puts critico first and low oti_order first; shutdown the reverse."""
    ranked = sorted(devices, key=lambda d: (d.criticality != "critico", d.order, d.name))
    return ranked if order == "startup" else list(reversed(ranked))


def resolve_targets(book: Runbook, step: Step, inventory: Inventory, params: dict | None = None) -> list[Device]:
    """Return a step's targets in order; raise ConfigError naming the file and step if none match.

    Names may come from the run's parameters (`names: ["{{ params.equipo }}"]`)."""
    if step.targets is None:
        return []
    t = step.targets
    names = [_param_name(n, params or {}) for n in t.names]
    try:
        found = inventory.select(kinds=t.kinds, groups=t.groups, names=names, criticality=t.criticality, sites=t.sites)
    except ConfigError as err:        # an unknown name: say which step asked for it
        raise ConfigError([Problem(book.source, f"steps[{step.id}].targets", None, p.message)
                           for p in err.problems]) from None
    if t.roles:
        found = [d for d in found if d.role in t.roles]
    if not found and t.optional:
        return []
    if not found:
        which = f" (names: {', '.join(names)})" if names else ""
        raise ConfigError([Problem(book.source, f"steps[{step.id}].targets", None,
                                   f"the selector matches no device in {inventory.path}{which}")])
    return order_targets(found, step.order)


@dataclass
class PlannedStep:
    """A step as it would run."""

    step: Step
    targets: list[Device]
    runs: bool                     # False when its `when` is false for these parameters
    estimate_s: float
    start_s: float = 0.0           # earliest start on the critical-path schedule
    description: str = ""
    parallel_with: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The whole plan."""

    runbook: Runbook
    params: dict
    steps: list[PlannedStep]
    critical_path_s: float
    critical_path: list[str]

    @property
    def devices(self) -> list[str]:
        """Return every device the run touches (they go into maintenance)."""
        return sorted({d.name for p in self.steps if p.runs for d in p.targets})


def make_plan(book: Runbook, params: dict, settings) -> Plan:
    """Resolve every step against the inventory and schedule it; raise ConfigError listing all problems."""
    problems, planned = [], {}
    for step in book.steps:
        try:
            targets = resolve_targets(book, step, settings.inventory, params)
        except ConfigError as err:
            problems += err.problems
            continue
        kind = load_kind(step.kind)()
        options = kind.Options.model_validate(step.with_)
        runs = not (step.targets and step.targets.optional and not targets)
        if runs and step.when and not any(expr.step_refs(step.when)):
            runs = expr.evaluate(step.when, params, {})
        # a step these parameters leave out is not held against the inventory: a UPS managed by NUT has no
        # SNMP shutdown action, and only a relocation's activity 15 would need one
        found = kind.target_problems(options, targets, settings) if runs else []
        found += kind.param_problems(options, params)
        problems += [Problem(book.source, f"steps[{step.id}]", None, msg) for msg in found]
        waves = math.ceil(len(targets) / step.parallel) if targets else 1
        estimate = (step.estimate if step.estimate is not None else kind.estimate_s) * waves if runs else 0.0
        planned[step.id] = PlannedStep(step, targets, runs, estimate, description=_describe(book, step, kind, options))
    if problems:
        raise ConfigError(problems)
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for sid in _topological(book):
        p = planned[sid]
        p.start_s = max((finish[n] for n in p.step.needs), default=0.0)
        via[sid] = max(p.step.needs, key=lambda n: finish[n]) if p.step.needs else None
        finish[sid] = p.start_s + p.estimate_s
    for p in planned.values():
        p.parallel_with = [q.step.id for q in planned.values() if q is not p and q.runs and p.runs
                           and q.start_s < p.start_s + p.estimate_s and p.start_s < q.start_s + q.estimate_s]
    end = max(finish, key=finish.get)
    path, node = [], end
    while node:
        path.append(node)
        node = via[node]
    return Plan(book, params, [planned[s.id] for s in book.steps], finish[end], list(reversed(path)))


def _topological(book: Runbook) -> list[str]:
    done: list[str] = []
    pending = [s for s in book.steps]
    while pending:
        ready = [s for s in pending if all(n in done for n in s.needs)]
        done += [s.id for s in ready]
        pending = [s for s in pending if s.id not in done]
    return done


def _param_name(name: str, params: dict) -> str:
    """A target name, or `{{ params.x }}` replaced by that parameter's value."""
    if "{{" not in name:
        return name
    return templates.render(name, params=params).strip()


def _describe(book: Runbook, step: Step, kind, options) -> str:
    """What the step does, and where a failure sends the run (the manual's «No: regresa a la actividad N»)."""
    text = kind.describe(options)
    if step.back_to:
        back = book.step(step.back_to)
        times = "una vez" if step.back_times == 1 else f"hasta {step.back_times} veces"
        text += f"; si falla vuelve a la actividad {back.activities[0]} ({back.id}) {times}"
    return text
