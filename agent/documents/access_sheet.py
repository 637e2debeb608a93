"""Anexo 1 of S.04.03.02_P for one visit: the formato de control de acceso al Centro de Datos, printed to be signed.

One document per request to enter (flow 1): its rows are the entries made at the door for it, in the manual's
columns (the «Firma salida» column left for the visitor's hand), under the request the jefa authorised
(activities 5–7); a second table has the reviews of the room's state at the exit (activity 9) with the alerts
the agent showed; the signature lines are the visitor's, the accompanying specialist's (who reviewed the exit,
else who recorded the entry) and the jefa's who authorised it, named as the store knows them.
"""

from __future__ import annotations

import re
from datetime import date

from agent.access.availability import rooms
from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.errors import DocumentError
from agent.store import queries_access

_LOGIN = re.compile(r"^(?P<name>.*?)\s*\((?P<login>[^()]+)\)$")
STATUS = {"requested": "Por autorizar", "observed": "Observada: sin disponibilidad (actividad 6)",
          "authorised": "Autorizada", "refused": "Denegada"}


def _name(recorded: str | None) -> str:
    """"Name (login)" as a person signs it: the name."""
    found = _LOGIN.match(recorded or "")
    return found["name"] if found else (recorded or "")


def _jefa(ctx: DocContext, request: dict) -> str:
    if not request["decided_by"] or request["status"] != "authorised":
        return ""
    people = getattr(ctx.settings, "people", None)
    title = people.title("jefa") if people is not None else "Jefa/e de la OTI"
    deputy = " (encargada/o)" if request["decided_as"] == "encargado" else ""
    return f"{_name(request['decided_by'])} — {title}{deputy}"


def _alerts(ctx: DocContext, alerts: list[dict]) -> str:
    return "; ".join(f"{a['device']}: {a['text'] or a['reading']} ({ctx.labels.get('states', a['severity'])})"
                     for a in alerts) or "ninguna"


class AccessSheet(Document):
    """Anexo 1 for one visit: its entries, the exit reviews, the signature lines."""

    form = "control-acceso"
    folder = "bitacoras"
    params = ("request_id",)

    def build(self, ctx: DocContext) -> Page:
        request_id = int(ctx.params["request_id"])
        request = queries_access.access_request(ctx.store, request_id)
        if request is None:
            raise DocumentError(f"control-acceso: there is no access request {request_id}")
        entries = queries_access.access_request_entries(ctx.store, [request_id])[request_id]
        reviews = queries_access.access_reviews(ctx.store, [e["id"] for e in entries])
        rows = [{"fecha": f"{date.fromisoformat(e['day']):%d/%m/%Y}", "nombre": e["name"], "dni": e["id_number"],
                 "entidad": e["company"], "actividad": e["activity"], "ingreso": e["time_in"],
                 "salida": e["time_out"] or "", "firma": ""} for e in entries]
        checked = [{"fecha": ctx.local(r["at"]),
                    "resultado": ("No", "ok") if r["outcome"] == "sin_problemas" else ("Sí", "bad"),
                    "alertas": _alerts(ctx, r["alerts"]), "observacion": r["observation"] or "",
                    "reviso": _name(r["by"])} for e in entries for r in reviews[e["id"]]]
        closing = next((r for e in entries for r in reversed(reviews[e["id"]]) if r["outcome"] == "sin_problemas"),
                       None)
        specialist = _name(closing["by"]) if closing else _name(entries[-1]["recorded_by"]) if entries else ""
        open_ = [e for e in entries if e["time_out"] is None]
        state = STATUS[request["status"]] if not entries else (
            "En curso: el visitante no ha salido o hay problemas por resolver (actividad 8)" if open_
            else "Concluida: salida registrada sin problemas (actividad 9)")
        day = f"{date.fromisoformat(request['day']):%d/%m/%Y}"
        header = {"solicitud": str(request_id), "area": "Infraestructura TI",
                  "sala": rooms(ctx.settings.inventory).get(request["room"], request["room"]),
                  "horario": f"{day} de {request['time_from']} a {request['time_to']}",
                  "solicitado": f"{date.fromisoformat(request['asked_day']):%d/%m/%Y} de {request['asked_from']} "
                                f"a {request['asked_to']}",
                  "autorizacion": (f"{STATUS[request['status']]} por {_name(request['decided_by'])} el "
                                   f"{ctx.local(request['decided_at'])}" if request["decided_by"]
                                   else STATUS[request["status"]]),
                  "estado": state}
        signers = {"Visitante": f"{request['name']} — {request['company']}",
                   "Especialista que acompaña": specialist, "Autorizó (Jefa/e de la OTI)": _jefa(ctx, request)}
        return ctx.page(f"control-acceso-{request_id}", header, {"ingresos": rows, "revision": checked},
                        signers=signers, facts={"entries": len(entries), "open": len(open_)})
