"""`oti-agent verify`: is this file (or this code) a document the agent wrote, and is the history intact?

`verify FILE…` says of each file whether it is one the archive kept (which document, written when, by
what, signed by whom) or refuses it, naming the document it claims to be. `--code` answers for a printed
verification code. `--journals` walks the tamper-evident chains of the store (agent/store/chain.py) and,
with `--anchor`, checks them against the anchors printed in a daily checklist. Exit 0 when everything
checked is authentic and intact, 1 otherwise. It reads the store directly (the daemon need not run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent.cli.show import esc

out, err = Console(), Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command()(verify)
    app.command("anchor-key")(anchor_key)


def anchor_key(path: Annotated[Path, typer.Argument(help="where to write the private key (PATH.pub: the public one)",
                                                     metavar="PATH")]) -> None:
    """Make the Ed25519 key pair that signs the daily anchors of the journals (integrity.signing_key); print
    the config lines. An existing key is never overwritten."""
    from agent.cli.journals import new_key

    raise typer.Exit(new_key(path, out, err))


def verify(files: Annotated[list[Path] | None, typer.Argument(help="documents to check (PDF, XLSX or HTML)",
                                                              metavar="[FILE]...", show_default=False)] = None,
           code: Annotated[list[str] | None, typer.Option("--code", help="a verification code, as printed "
                                                          "(repeatable)", show_default=False)] = None,
           journals: Annotated[bool, typer.Option("--journals", help="walk the store's chained journals and "
                                                  "name the first broken entry of each")] = False,
           anchor: Annotated[list[str] | None, typer.Option("--anchor", help="with --journals: an anchor as "
                                                            "printed in a daily checklist (CHAIN#N:HASH; "
                                                            "repeatable)", show_default=False)] = None,
           as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
           config: Annotated[Path, typer.Option("--config", "-c", help="config file")] = Path("config.yaml")) -> None:
    """Check documents against the archive of what the agent wrote, and the journals' chains."""
    from agent.cli.show import reading_store
    from agent.core.settings import load_all
    from agent.documents.verification import check_code, check_file

    if not (files or code or journals):
        raise typer.BadParameter("name a FILE, a --code or --journals")
    missing = [str(f) for f in files or () if not f.is_file()]
    if missing:
        raise typer.BadParameter(f"no such file: {', '.join(missing)}")
    settings = load_all(config)
    store = reading_store(settings.config)
    verdicts = [(str(f), check_file(store, f)) for f in files or ()]
    verdicts += [(c, check_code(store, c)) for c in code or ()]
    tz = settings.config.agent.timezone
    if as_json:
        out.print_json(json.dumps([_json(what, v) for what, v in verdicts]))
    else:
        for what, v in verdicts:
            _print(what, v, tz)
    failed = any(not v.ok for _, v in verdicts)
    if journals:
        from agent.cli.journals import check_journals

        failed |= check_journals(settings, list(anchor or ()), out, err) != 0
    raise typer.Exit(1 if failed else 0)


def _print(what: str, v, tz: str) -> None:
    from zoneinfo import ZoneInfo

    head = {"authentic": "[green]AUTHENTIC[/green]", "altered": "[bold red]REFUSED[/bold red]",
            "unknown": "[bold red]REFUSED[/bold red]"}[v.status]
    out.print(f"{esc(what)}: {head}", highlight=False, soft_wrap=True)
    r = v.record
    if v.status == "unknown":
        why = ("no archived document has this code" if not v.sha256 else
               "no archived document has this file's content, and the file names no verification code")
        out.print(f"  {why}" + (f" (sha256 {v.sha256})" if v.sha256 else ""), highlight=False, soft_wrap=True)
        return
    if v.status == "altered":
        out.print(f"  the file is not the one archived: it claims to be {esc(r.title)} ({r.shown_code}), but "
                  f"its content differs from the {(v.format or 'file').upper()} the agent wrote", highlight=False, soft_wrap=True)
    written = r.written_at.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M")
    params = ", ".join(f"{k}={v_}" for k, v_ in sorted(r.params.items()) if v_ not in (None, "", [], {}))
    rows = [("document", f"{r.title} ({r.document}{': ' + params if params else ''})"), ("form", r.form),
            ("code", r.shown_code), ("written", f"{written} ({tz}) by {r.origin}"),
            ("signed", "; ".join(f"{k}: {n}" for k, n in r.signers.items()) or "-")]
    if v.sha256:
        rows.append(("sha256", v.sha256))
    if v.expected:
        rows.append(("archived", v.expected))
    for key, value in rows:
        out.print(f"  {key:<9} {esc(value)}", highlight=False, soft_wrap=True)


def _json(what: str, v) -> dict:
    r = v.record
    record = None if r is None else {"code": r.shown_code, "document": r.document, "title": r.title, "form": r.form,
                                     "params": r.params, "origin": r.origin, "signers": r.signers,
                                     "written_at": r.written_at.isoformat(), "files": list(r.files)}
    return {"checked": what, "status": v.status, "format": v.format, "sha256": v.sha256 or None,
            "archived_sha256": v.expected or None, "record": record}
