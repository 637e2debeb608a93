"""Licencias y garantías (S.04.04.01.01_P): the licensing master (Anexo 1) and every device's warranty as data
the office edits, the maintenance control sheet (Anexo 2) and the technical service records (Anexo 3), each
linked to a device and, when it answered one, to its alert; and the three documents, written from them.

The office's staff read it (as the documents); only the OTI's operators add or change anything. A later
TERMINO is a renewal (flow 1, activities 23–27) and a «no se renovará» ends the procedure (activity 16):
either resolves the item's open expiry notices at once. An alert escalated to its vendor closes with its
service record: resolving one sends the person here (see `needs_service_record`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from agent.assets import fields, licences, maintenance, service_records, warranties
from agent.assets.expiry import ExpiryWatch
from agent.core.people import OPERATORS
from agent.documents import compose
from agent.errors import AgentError, Forbidden
from agent.store import queries
from agent.web.console import Viewer, in_thread, page, posted, section_viewer

router = APIRouter(include_in_schema=False)
SECTION = "/licencias"
seen_here = section_viewer(SECTION)
Seen = Annotated[Viewer, Depends(seen_here)]
RECENT = 20
NOTICES = {"licencia": "Licencia ITEM {n} guardada en el maestro.", "renovada": "Renovación registrada: sus avisos "
           "de vencimiento se cerraron.", "garantia": "Garantía de {n} guardada.",
           "mantenimiento": "Mantenimiento N° {n} registrado en la ficha de control (Anexo 2).",
           "acta": "Acta de servicio N° {n} registrada (Anexo 3).",
           "resuelta": "Alerta N° {n} resuelta. Fue escalada al proveedor: registre el acta de servicio de su atención."}
DOCUMENTS = {"maestro": "maestro-licencias", "ficha": "ficha-mantenimientos", "acta": "acta-servicio"}


def _ctx(request: Request):
    return request.app.state.ctx


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(_ctx(request).settings.config.agent.timezone)


def _now(request: Request) -> datetime:
    return _ctx(request).clock().astimezone(_zone(request))


def _editor(seen: Viewer) -> None:
    if not seen.may(OPERATORS):
        raise Forbidden("registrar o cambiar licencias, garantías, mantenimientos y actas es para los especialistas, "
                        "el coordinador y la jefa de la OTI")


def _signer(request: Request, seen: Viewer) -> str:
    """The specialist as the acta's signature line names them: 'Name — their OTI role'."""
    people = _ctx(request).people
    role = next((r for r in sorted(seen.roles) if r in OPERATORS), None)
    return f"{seen.who.name} — {people.title(role)}" if role else seen.who.describe()


def overview(request: Request) -> dict:
    """The master with its state today, every device with its warranty, the latest maintenance and actas."""
    ctx = _ctx(request)
    today, soon = _now(request).date(), max(ctx.settings.config.renewals.notice_days)
    rows = [dict(r, shown=licences.state(r["status"], r["ends"], today, soon), inicio=fields.dmy(r["starts"]),
                 termino=fields.dmy(r["ends"]) or "perpetua", valor=fields.money(r["value_cents"]))
            for r in queries.asset_rows(ctx.store, "licences")]
    recorded = {w["device"]: w for w in queries.asset_rows(ctx.store, "warranties")}
    devices = [{"name": d.name, "vendor": d.vendor.name if d.vendor else "", "w": recorded.get(d.name),
                "shown": licences.state(recorded[d.name]["status"], recorded[d.name]["ends"], today, soon)
                if d.name in recorded else ("sin garantía registrada", ""),
                "termino": fields.dmy(recorded[d.name]["ends"]) if d.name in recorded else ""}
               for d in ctx.settings.inventory]
    works = list(reversed(queries.asset_rows(ctx.store, "maintenance_records")))[:RECENT]
    actas = list(reversed(queries.asset_rows(ctx.store, "service_records")))[:RECENT]
    return {"licences": rows, "devices": devices, "soon": soon, "kinds": maintenance.KINDS,
            "works": [dict(m, fecha=fields.dmy(m["day"])) for m in works], "actas": actas}


@router.get(SECTION, response_class=HTMLResponse)
async def licencias(request: Request, seen: Seen, aviso: str | None = None, n: str | None = None) -> HTMLResponse:
    """The master, the warranties, the latest maintenance and service records, and the documents."""
    values = await in_thread(overview, request)
    notice = NOTICES[aviso].format(n=n or "") if aviso in NOTICES else None
    return page(request, seen, "licencias.html", notice=notice, may_edit=seen.may(OPERATORS), **values)


# ---------------------------------------------------------------------------------------------- licences
def _licence_page(request, seen, item: int | None, form: dict, status: int = 200, errors: dict | None = None):
    return page(request, seen, "licencias_licencia.html", status, item=item, form=form, errors=errors or {},
                statuses=fields.STATUSES, columns=licences.COLUMNS,
                error="Revise los campos marcados: no se guardó." if errors else None)


@router.get(SECTION + "/licencia/nueva", response_class=HTMLResponse)
async def licencia_nueva(request: Request, seen: Seen) -> HTMLResponse:
    _editor(seen)
    return _licence_page(request, seen, None, {"estado": "vigente", "cantidad": "1", "mes": f"{_now(request):%m/%Y}"})


@router.get(SECTION + "/licencia/{item}", response_class=HTMLResponse)
async def licencia(request: Request, item: int, seen: Seen) -> HTMLResponse:
    _editor(seen)
    found = await in_thread(licences.Licences(_ctx(request).store).get, item)
    return _licence_page(request, seen, item, licences.form_of(found))


async def _clear(request: Request, kind: str, item: str, by: str, why: str) -> None:
    """Resolve an item's open expiry notices now (the daily look would, tomorrow)."""
    ctx = _ctx(request)
    if ctx.alerts is not None:
        await in_thread(ExpiryWatch(ctx.settings, ctx.store, ctx.alerts, ctx.clock).clear, kind, item, by, why)


async def _after_save(request: Request, kind: str, item: str, values: dict, renewed: bool, by: str) -> str:
    """Close the notices a renewal or a decision not to renew ends; the notice code to show."""
    if renewed:
        await _clear(request, kind, item, by, f"renovada hasta el {fields.dmy(values['ends'])} (actividad 27)")
        return "renovada"
    if values["status"] != "vigente":
        await _clear(request, kind, item, by, f"{fields.STATUSES[values['status']].lower()} (actividad 16)")
    return "licencia" if kind == "licence" else "garantia"


@router.post(SECTION + "/licencia", response_class=HTMLResponse)
@router.post(SECTION + "/licencia/{item}", response_class=HTMLResponse)
async def licencia_guardar(request: Request, seen: Seen, item: int | None = None):
    """Add a licence to the master, or change one (a later TERMINO: a renewal)."""
    data = await posted(request, seen)
    _editor(seen)
    form = {k: str(data.get(k, "")).strip() for k in licences.TYPED}
    values, errors = licences.check(form)
    if errors:
        return _licence_page(request, seen, item, form, 400, errors)
    ctx, by = _ctx(request), seen.who.describe()
    book = licences.Licences(ctx.store, ctx.clock)
    if item is None:
        item, renewed = await in_thread(book.add, values, by), False
    else:
        renewed = await in_thread(book.update, item, values, by)
    code = await _after_save(request, "licence", str(item), values, renewed, by)
    return RedirectResponse(f"{SECTION}?" + urlencode({"aviso": code, "n": item}), status_code=303)


# ---------------------------------------------------------------------------------------------- warranties
def _device(request: Request, name: str):
    found = _ctx(request).settings.inventory.by_name.get(name)
    if found is None:
        raise AgentError(f"No hay un equipo «{name}» en el inventario.")
    return found


@router.get(SECTION + "/garantia/{device}", response_class=HTMLResponse)
async def garantia(request: Request, device: str, seen: Seen) -> HTMLResponse:
    _editor(seen)
    found = _device(request, device)
    row = await in_thread(warranties.Warranties(_ctx(request).store).get, device)
    return page(request, seen, "licencias_garantia.html", device=found, form=warranties.form_of(row, found),
                errors={}, error=None, statuses=fields.STATUSES)


@router.post(SECTION + "/garantia/{device}", response_class=HTMLResponse)
async def garantia_guardar(request: Request, device: str, seen: Seen):
    """Record or change a device's warranty (a later end: a renewal)."""
    data = await posted(request, seen)
    _editor(seen)
    found = _device(request, device)
    form = {k: str(data.get(k, "")).strip() for k in ("proveedor", "contrato", "inicio", "termino", "estado", "nota")}
    values, errors = warranties.check(form)
    if errors:
        return page(request, seen, "licencias_garantia.html", 400, device=found, form=form, errors=errors,
                    error="Revise los campos marcados: no se guardó.", statuses=fields.STATUSES)
    ctx, by = _ctx(request), seen.who.describe()
    renewed = await in_thread(warranties.Warranties(ctx.store, ctx.clock).set, device, values, by)
    code = await _after_save(request, "warranty", device, values, renewed, by)
    return RedirectResponse(f"{SECTION}?" + urlencode({"aviso": code, "n": device}), status_code=303)


# ---------------------------------------------------------------------------------------------- links
def _links(request: Request, data, errors: dict) -> tuple[str | None, int | None]:
    """The device and alert a record names (optional), checked against the inventory and the alert book."""
    device, alert = str(data.get("equipo") or "").strip() or None, str(data.get("alerta") or "").strip() or None
    if device is not None and device not in _ctx(request).settings.inventory.by_name:
        errors["equipo"] = "Equipo: elija uno del inventario (o ninguno)."
    if alert is not None and not (alert.isdigit() and queries.alerts_list(_ctx(request).store, None, [int(alert)])):
        errors["alerta"] = f"Alerta: no existe la alerta N° {alert}."
        return device, None
    return device, int(alert) if alert else None


def _prefill(request: Request, equipo: str | None, alerta: str | None) -> dict:
    """A new record's form, from the alert (its device, its message) or the device it is about."""
    ctx, now = _ctx(request), _now(request)
    form = {"fecha": now.date().isoformat(), "hora": now.strftime("%H:%M"), "equipo": equipo or "",
            "alerta": alerta or "", "unidad": "Oficina de Tecnologías de la Información"}
    found = queries.alerts_list(ctx.store, None, [int(alerta)]) if alerta and alerta.isdigit() else []
    if found:
        form.update(equipo=found[0]["device"], motivo=found[0]["message"] or found[0]["reading"], tipo="correctivo",
                    descripcion=f"Atención de la alerta N° {found[0]['id']}: {found[0]['message'] or ''}".strip())
    device = ctx.settings.inventory.by_name.get(form["equipo"])
    if device is not None:
        form.update(b1_descripcion=f"{device.name}" + (f" — {device.description}" if device.description else ""),
                    equipos=device.name, proveedor=device.vendor.name if device.vendor else "OTI (recursos internos)")
    return form


def _record_page(request, seen, template: str, form: dict, status: int = 200, errors: dict | None = None):
    return page(request, seen, template, status, form=form, errors=errors or {}, kinds=maintenance.KINDS,
                finals=maintenance.FINAL_STATES, devices=[d.name for d in _ctx(request).settings.inventory],
                error="Revise los campos marcados: no se registró." if errors else None)


# ---------------------------------------------------------------------------------------------- Anexo 2
@router.get(SECTION + "/mantenimiento", response_class=HTMLResponse)
async def mantenimiento(request: Request, seen: Seen, equipo: str | None = None, alerta: str | None = None,
                        acta: str | None = None) -> HTMLResponse:
    _editor(seen)
    form = await in_thread(_prefill, request, equipo, alerta)
    return _record_page(request, seen, "licencias_mantenimiento.html", dict(form, acta=acta or ""))


@router.post(SECTION + "/mantenimiento", response_class=HTMLResponse)
async def mantenimiento_guardar(request: Request, seen: Seen):
    """Record a maintenance in the control sheet (flow 2, activities 9 and 22)."""
    data = await posted(request, seen)
    _editor(seen)
    form = {k: str(v).strip() for k, v in data.items() if k != "csrf_token"}
    values, errors = maintenance.check(form)
    device, alert = await in_thread(_links, request, data, errors)
    acta = form.get("acta") or None
    if acta is not None and not (acta.isdigit() and await in_thread(
            queries.asset_rows, _ctx(request).store, "service_records", [int(acta)])):
        errors["acta"] = f"Acta de servicio: no existe el acta N° {acta}."
    if errors:
        return _record_page(request, seen, "licencias_mantenimiento.html", form, 400, errors)
    ctx = _ctx(request)
    number = await in_thread(maintenance.MaintenanceSheet(ctx.store, ctx.clock).add, values, seen.who.describe(),
                             device=device, alert_id=alert, service_record_id=int(acta) if acta else None)
    return RedirectResponse(f"{SECTION}?" + urlencode({"aviso": "mantenimiento", "n": number}), status_code=303)


# ---------------------------------------------------------------------------------------------- Anexo 3
@router.get(SECTION + "/acta", response_class=HTMLResponse)
async def acta(request: Request, seen: Seen, equipo: str | None = None, alerta: str | None = None,
               aviso: str | None = None) -> HTMLResponse:
    _editor(seen)
    form = await in_thread(_prefill, request, equipo, alerta)
    notice = NOTICES["resuelta"].format(n=alerta) if aviso == "resuelta" and alerta else None
    return _acta_page(request, seen, form, notice=notice)


def _acta_page(request, seen, form: dict, status: int = 200, errors: dict | None = None, notice: str | None = None):
    return page(request, seen, "licencias_acta.html", status, form=form, errors=errors or {}, notice=notice,
                rows=range(1, service_records.GOODS_ROWS + 1), good_fields=service_records.GOOD_FIELDS,
                devices=[d.name for d in _ctx(request).settings.inventory],
                error="Revise los campos marcados: no se registró." if errors else None)


@router.post(SECTION + "/acta", response_class=HTMLResponse)
async def acta_guardar(request: Request, seen: Seen):
    """Record a technical service record (flow 2, activity 13); on its alert's history too."""
    data = await posted(request, seen)
    _editor(seen)
    form = {k: str(v).strip() for k, v in data.items() if k != "csrf_token"}
    values, errors = service_records.check(form, _zone(request))
    device, alert = await in_thread(_links, request, data, errors)
    if errors:
        return _acta_page(request, seen, form, 400, errors)
    ctx = _ctx(request)
    number = await in_thread(service_records.ServiceRecords(ctx.store, ctx.clock).add, values,
                             _signer(request, seen), device=device, alert_id=alert)
    if alert is not None and ctx.alerts is not None:
        await in_thread(ctx.alerts.comment, alert, seen.who.describe(),
                        f"Acta de servicio de mantenimiento técnico N° {number} registrada (Anexo 3)")
    return RedirectResponse(f"{SECTION}?" + urlencode({"aviso": "acta", "n": number}), status_code=303)


def needs_service_record(ctx, alert_id: int) -> bool:
    """Whether an alert was escalated to its device's vendor and has no service record yet (then closing it
    asks for one: the vendor's visit is recorded in an acta, Anexo 3)."""
    found = queries.alerts_list(ctx.store, None, [alert_id])
    if not found:
        return False
    device = ctx.settings.inventory.by_name.get(found[0]["device"])
    email = device.vendor.email if device is not None and device.vendor else None
    events = queries.alert_events(ctx.store, [alert_id], event="notified")[alert_id]
    return queries.vendor_escalated(found[0], events, email) and not any(
        r["alert_id"] == alert_id for r in queries.asset_rows(ctx.store, "service_records"))


# ---------------------------------------------------------------------------------------------- documents
@router.post(SECTION + "/documento", response_class=HTMLResponse)
async def documento(request: Request, seen: Seen):
    """Write Anexo 1, 2 or 3 now (through the same compose as the CLI and the daemon); on to the document."""
    data = await posted(request, seen)
    _editor(seen)
    kind, number = str(data.get("tipo", "")), str(data.get("acta", "")).strip()
    if kind not in DOCUMENTS or (kind == "acta" and not number.isdigit()):
        raise AgentError("Documento: elija el maestro (Anexo 1), la ficha (Anexo 2) o un acta (Anexo 3) por su número.")
    ctx = _ctx(request)
    params = {"acta": int(number)} if kind == "acta" else {"por": _signer(request, seen)}
    done = await in_thread(compose.compose, DOCUMENTS[kind], ctx.settings, ctx.store, now=ctx.clock(),
                           origin=f"consola ({seen.who.login})", **params)
    root = ctx.settings.config.path(ctx.settings.config.documents_dir).resolve()
    key = done.paths[0].resolve().relative_to(root).with_suffix("").as_posix()
    return RedirectResponse(f"/documentos?generado={quote(key, safe='')}", status_code=303)
