"""The daemon's own runbooks checked against the runbooks folder: what `schedules:` and `policies:` name
must exist (asked by `oti-agent config check` and by `serve` before it starts anything)."""

from __future__ import annotations

from pathlib import Path

from agent.core import yamlfile
from agent.core.settings import Settings
from agent.core.yamlfile import line_of
from agent.errors import ConfigError, Problem
from agent.runbook.model import find, load


def config_lines(path: Path) -> dict[tuple, int]:
    try:
        return yamlfile.load_located(path)[1]
    except ConfigError:
        return {}


def problems(settings: Settings) -> list[Problem]:
    """Each schedule and policy names a runbook of the runbooks folder, with parameters it takes; a policy's
    emergency rules name approval steps of that runbook."""
    config, file = settings.config, str(settings.path)
    lines = config_lines(settings.path)
    out: list[Problem] = []
    folder = config.path(config.runbooks_dir)
    for section in ("schedules", "policies"):
        for i, spec in enumerate(getattr(config, section)):
            where = (section, i, "runbook")
            try:
                book = load(find(spec.runbook, folder))
            except Exception as err:               # noqa: BLE001 - a ConfigError or a missing file: told here
                out.append(Problem(file, ".".join(map(str, where)), line_of(lines, where),
                                   f"{spec.name}: runbook {spec.runbook!r}: {str(err).splitlines()[0]}"))
                continue
            unknown = sorted(set(spec.params) - set(book.params))
            if unknown:
                at = (section, i, "params")
                out.append(Problem(file, ".".join(map(str, at)), line_of(lines, at),
                                   f"{spec.name}: runbook {book.id} has no parameter(s) {', '.join(unknown)} "
                                   f"(known: {', '.join(book.params) or 'none'})"))
            emergency = getattr(spec, "emergency", None)
            named = [*(emergency.approvals if emergency else {}), *(emergency.skip_approvals if emergency else [])]
            approvals = {s.id for s in book.steps if s.kind == "approval"}
            for step in [s for s in named if s not in approvals]:
                at = (section, i, "emergency")
                out.append(Problem(file, ".".join(map(str, at)), line_of(lines, at),
                                   f"{spec.name}: {step!r} is not an approval step of runbook {book.id} "
                                   f"(its approvals: {', '.join(sorted(approvals)) or 'none'})"))
    return out
