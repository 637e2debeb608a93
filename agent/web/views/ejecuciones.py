"""Ejecuciones: the runs, newest first (those waiting for the viewer's decision on top), and starting a
runbook from a form built from its parameters, with the plan shown before anything starts.

Everything goes through the daemon's RunService exactly as the API calls it, as the person logged in
(channel "web", the browser's address). The live view of a run is ejecuciones_vivo.py; the decision and
confirmation pages of a waiting step are ejecuciones_pasos.py.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from agent.api.deps import client_address, context
from agent.core.people import OPERATORS, Identity
from agent.errors import ApprovedBefore, ConfigError, DaemonUnavailable, Forbidden, RunbookError, SelfApproval
from agent.runbook.model import Param, Runbook, load
from agent.runbook.service import RunService
from agent.web.console import Viewer, in_thread, page, posted, section_viewer

_LOGGER = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
SECTION = "/ejecuciones"
seen_here = section_viewer(SECTION)
Seen = Annotated[Viewer, Depends(seen_here)]            # anyone who logged in: the section is open to all
LISTED = 50
RUN_STATUS = {"pending": "Pendiente", "running": "En curso", "awaiting_approval": "Espera aprobación",
              "awaiting_confirmation": "Espera confirmación", "awaiting_decision": "Espera una decisión",
              "interrupted": "Interrumpida", "successful": "Exitosa",
              "completed_with_failures": "Concluida con pasos fallidos", "failed": "Fallida",
              "canceled": "Cancelada", "skipped": "Omitida", "timeout": "Tiempo agotado"}
STEP_STATUS = {**RUN_STATUS, "interrupted": "Interrumpido", "successful": "Completado",
               "completed_with_failures": "Concluido con fallas", "failed": "Fallido",
               "canceled": "Cancelado", "skipped": "Omitido", "decided": "Decidido"}
FIELD = "p_"                                 # the form's name of a parameter (never clashes with csrf_token)
_DATE = "2026-01-31"


# ---------------------------------------------------------------- shared by the section's pages
def service(request: Request) -> RunService:
    """The daemon's runs (a server without them cannot start or decide anything)."""
    runs = context(request).runs
    if runs is None:
        raise DaemonUnavailable("las ejecuciones las lleva el agente (oti-agent serve); este servidor no "
                                "las tiene")
    return runs


def acting(request: Request, seen: Viewer) -> Identity:
    """The person logged in, acting through the console from the browser's address."""
    return dataclasses.replace(seen.who, channel="web", address=client_address(request))


def person_name(request: Request, login: str | None) -> str:
    """'Name (login)' of a person of the registry; the login (or the agent's own name) otherwise."""
    if not login:
        return "—"
    person = context(request).people.person(login)
    return f"{person.name} ({login})" if person else login


def aware(value) -> datetime | None:
    """A time of the journal (an ISO string or a datetime, naive meaning UTC) as an aware datetime."""
    if value is None or value == "":
        return None
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def approval_refusal(runs: RunService, run_id: str, step_id: str, who: Identity) -> str | None:
    """Why `who` may not decide this approval now (None: they may): the RunService's own checks — not the
    initiator, a holder of the role (or a deputy in force, or the role it was escalated to), another person
    than a `distinct_from` approval's — asked without recording anything."""
    try:
        runs.check_approver(run_id, step_id, who)
    except SelfApproval:
        return "usted inició esta ejecución: no puede aprobarla"
    except ApprovedBefore as err:
        return f"usted ya aprobó el paso {err.step}; este paso lo decide otra persona"
    except Forbidden as err:
        return str(err)
    except RunbookError:
        return "este paso ya no espera una aprobación"
    return None


def books(request: Request) -> list[Runbook]:
    """The runbooks of the config's folder that load (a broken file is left out, and logged: `oti-agent
    config check` names its problems)."""
    cfg = context(request).settings.config
    folder, found = cfg.path(cfg.runbooks_dir), []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            found.append(load(path))
        except ConfigError as err:
            _LOGGER.warning("runbook %s is not offered in the console: %s", path, err)
    return found


def may_start(seen: Viewer, book: Runbook) -> bool:
    """Whether the viewer holds one of the roles that start this runbook (the service checks it again)."""
    return seen.may(book.start_roles or OPERATORS)


# ---------------------------------------------------------------- the list
def _listing(request: Request, seen: Viewer) -> dict:
    runs = service(request)
    rows = runs.journal.runs(LISTED)
    waiting = {}
    for w in _waits(runs):
        if w["run_id"] in {r["id"] for r in rows} and approval_refusal(runs, w["run_id"], w["step_id"],
                                                                      seen.who) is None:
            waiting[w["run_id"]] = w["step_id"]
    listed = [dict(r, status_label=RUN_STATUS.get(r["status"], r["status"]),
                   by=person_name(request, r["started_by"]), mine=waiting.get(r["id"]),
                   created=aware(r["created_at"])) for r in rows]
    listed.sort(key=lambda r: r["mine"] is None)              # stable: newest first within each group
    startable = [b for b in books(request) if may_start(seen, b)]
    return {"runs": listed, "books": startable}


def _waits(runs: RunService) -> list[dict]:
    from agent.store.queries import run_wait_rows

    return run_wait_rows(runs.store)


@router.get(SECTION, response_class=HTMLResponse)
async def listing(request: Request, seen: Seen) -> HTMLResponse:
    """The runs, those waiting for the viewer first; the runbooks the viewer may start."""
    return page(request, seen, "ejecuciones.html", **await in_thread(_listing, request, seen))


# ---------------------------------------------------------------- starting one
def fields(book: Runbook, given: dict[str, str] | None = None) -> list[dict]:
    """The form's fields, one per parameter: its input type, label, help, and what is in it."""
    out = []
    for name, p in book.params.items():
        value = (given or {}).get(name)
        if value is None:
            value = "" if p.default is None else _shown(p.default)
        label = label_of(name, p.description)
        helps = p.description if p.description.strip().lower() != label.lower() else ""
        out.append({"name": name, "field": FIELD + name, "label": label, "help": helps,
                    "input": _input(p), "required": p.required, "value": value,
                    "choices": [_shown(c) for c in p.choices or []],
                    "step": "any" if p.type == "float" else "1"})
    return out


def label_of(name: str, description: str = "") -> str:
    """A parameter's label: the first clause of its Spanish description ('fecha y hora del apagado (AAAA...'
    -> 'Fecha y hora del apagado'), else its name ('fecha_programada' -> 'Fecha programada')."""
    words = re.split(r"[;:(]", description, maxsplit=1)[0].strip() or name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def param_labels(book: Runbook | None) -> dict[str, str]:
    """name -> label of a runbook's parameters."""
    return {n: label_of(n, p.description) for n, p in book.params.items()} if book else {}


# a reading's name ends in its unit (temperatura_sala_c): the unit as people write it
UNITS = {"c": "°C", "pct": "%", "v": "V", "a": "A", "kw": "kW", "kva": "kVA", "hz": "Hz", "s": "s",
         "min": "min", "h": "h", "rpm": "rpm"}
READINGS = {"temperatura_sala_c": "Temperatura de la sala", "humedad_sala_pct": "Humedad de la sala"}


def reading(name: str) -> dict:
    """A reading asked by name: its label, its unit (from the name's end), and its input type."""
    stem, _, suffix = name.rpartition("_")
    unit = UNITS.get(suffix) if stem else None
    label = READINGS.get(name) or label_of(stem if unit else name)
    return {"name": name, "field": "v_" + name, "label": label, "unit": unit,
            "input": "number" if unit else "text"}


def reading_text(name: str, value) -> str:
    """A reading given, as people read it: 'Temperatura de la sala: 23.5 °C'."""
    r = reading(name)
    return f"{r['label']}: {value}" + (f" {r['unit']}" if r["unit"] else "")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _input(p: Param) -> str:
    if p.choices:
        return "select"
    if p.type == "bool":
        return "checkbox"
    if p.type in ("int", "float"):
        return "number"
    if p.pattern and re.fullmatch(p.pattern, _DATE) and not re.fullmatch(p.pattern, "x"):
        return "date"
    return "text"


def read_form(book: Runbook, form: FormData) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(what was typed, the parameters to give the service, field -> error in Spanish)."""
    typed, given, errors = {}, {}, {}
    labels = param_labels(book)
    for name, p in book.params.items():
        raw = form.get(FIELD + name)
        text = raw.strip() if isinstance(raw, str) else ""
        if p.type == "bool":
            text = "true" if text in ("true", "on") else "false"
        typed[name] = text
        if text == "":
            if p.required:
                errors[name] = f"«{labels[name]}» es obligatorio"
            continue
        try:
            value = p.coerce(text)
        except ValueError:
            kind = {"int": "un número entero", "float": "un número", "bool": "sí o no"}.get(p.type, "texto")
            errors[name] = f"«{labels[name]}» debe ser {kind}"
            continue
        if p.choices is not None and value not in p.choices:
            options = ", ".join(map(str, p.choices))
            errors[name] = f"«{labels[name]}» debe ser una de las opciones: {options}"
        elif p.pattern is not None and re.fullmatch(p.pattern, text) is None:
            errors[name] = f"«{labels[name]}» no tiene la forma pedida ({p.description or p.pattern})"
        else:
            given[name] = value
    return typed, given, errors


def _book_for(request: Request, seen: Viewer, runbook: str) -> Runbook:
    book = service(request).book(runbook)
    if not may_start(seen, book):
        names = ", ".join(context(request).people.title(r) for r in sorted(book.start_roles or OPERATORS))
        raise Forbidden(f"«{book.title}» lo inician: {names}")
    return book


def _form_page(request, seen, book, typed=None, errors=None, error=None, status=200) -> HTMLResponse:
    return page(request, seen, "ejecuciones_nueva.html", status, book=book, fields=fields(book, typed),
                errors=errors or {}, error=error)


@router.get(SECTION + "/nueva/{runbook}", response_class=HTMLResponse)
async def new_form(request: Request, runbook: str, seen: Seen) -> HTMLResponse:
    """The form of a runbook's parameters (nothing starts here)."""
    book = await in_thread(_book_for, request, seen, runbook)
    return _form_page(request, seen, book)


@router.post(SECTION + "/nueva/{runbook}", response_class=HTMLResponse)
async def show_plan(request: Request, runbook: str, seen: Seen) -> HTMLResponse:
    """«Ver plan»: the parameters checked, and what the run would do, touching nothing."""
    form = await posted(request, seen)
    book = await in_thread(_book_for, request, seen, runbook)
    typed, given, errors = read_form(book, form)
    if errors or form.get("editar"):
        return _form_page(request, seen, book, typed, errors, status=400 if errors else 200)
    try:
        plan = await in_thread(service(request).plan, book.id, given)
    except ConfigError as err:
        return _form_page(request, seen, book, typed, error=f"El plan no se puede hacer: {err}", status=400)
    return page(request, seen, "ejecuciones_plan.html", book=book, plan=plan, fields=fields(book, typed),
                typed=typed, minutes=round(plan.critical_path_s / 60, 1))


@router.post(SECTION + "/nueva/{runbook}/iniciar")
async def start(request: Request, runbook: str, seen: Seen):
    """«Confirmar e iniciar»: the run starts in the daemon, as the person; on to its live view."""
    form = await posted(request, seen)
    book = await in_thread(_book_for, request, seen, runbook)
    typed, given, errors = read_form(book, form)
    if errors:
        return _form_page(request, seen, book, typed, errors, status=400)
    try:
        run_id = service(request).start(book.id, given, acting(request, seen))   # spawns on the loop
    except ConfigError as err:
        return _form_page(request, seen, book, typed, error=f"No se inició: {err}", status=400)
    return RedirectResponse(f"{SECTION}/{quote(run_id, safe='')}?aviso=iniciada", status_code=303)
