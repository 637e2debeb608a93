"""Anexo 1 of S.04.04.01.01_P, the Maestro de la OTI de licenciamiento: every licence of the master in the
manual's columns, its amortisation and net balance at the document's date, its state today (por vencer
within the largest of renewals.notice_days), and the warranty of every device of the inventory (the master
"controls the licensing and/or warranties"). Written on demand from the console's «Licencias y garantías»."""

from __future__ import annotations

from agent.assets import fields
from agent.assets.licences import amortisation, state
from agent.documents.base import DocContext, Document
from agent.documents.render import Page
from agent.store import queries


def jefa(ctx: DocContext) -> str:
    """The jefa's name and title today, for "Revisado por" ('' when the registry names none)."""
    people = getattr(ctx.settings, "people", None)
    found = people.holders("jefa", ctx.now) if people is not None else []
    return f"{found[0].name} — {people.title('jefa')}" if found else ""


class LicensingMaster(Document):
    """Anexo 1: the licensing master and the devices' warranties, as of the document's date."""

    form = "maestro-licencias"
    folder = "activos"

    def build(self, ctx: DocContext) -> Page:
        today, soon = ctx.today, max(ctx.config.renewals.notice_days)
        rows, due = [], 0
        for r in queries.asset_rows(ctx.store, "licences"):
            amortised, net = amortisation(r, today)
            shown = state(r["status"], r["ends"], today, soon)
            due += shown[0].startswith(("Por vencer", "Vencida"))
            rows.append({"item": str(r["id"]), "reg_siaf": r["siaf"], "orden": r["order_no"],
                         "cantidad": str(r["quantity"]), "software": r["software"], "tipo": r["licence_type"],
                         "ubicacion": r["location"], "inicio": fields.dmy(r["starts"]),
                         "termino": fields.dmy(r["ends"]) or "perpetua",
                         "vida_util": str(r["life_months"] or ""), "valor": fields.money(r["value_cents"]),
                         "amortizacion": fields.money(amortised), "saldo": fields.money(net), "estado": shown,
                         "nota_ccp": r["ccp_note"], "mes": r["month"]})
        recorded = {w["device"]: w for w in queries.asset_rows(ctx.store, "warranties")}
        warranties = []
        for n, d in enumerate(ctx.settings.inventory, 1):
            w = recorded.get(d.name)
            warranties.append({"n": str(n), "equipo": d.name, "tipo": ctx.labels.get("kinds", d.kind),
                               "proveedor": w["vendor"] if w else (d.vendor.name if d.vendor else ""),
                               "contrato": w["contract"] if w else "", "inicio": fields.dmy(w["starts"]) if w else "",
                               "termino": fields.dmy(w["ends"]) if w else "",
                               "estado": state(w["status"], w["ends"], today, soon) if w else
                               ("sin garantía registrada", "")})
        header = {"fecha": f"{today:%d.%m.%y}", "items": str(len(rows)),
                  "por_vencer": f"{due} licencia(s) por vencer o vencidas (próximos {soon} días)",
                  "garantias": f"{len(recorded)} registrada(s) de {len(warranties)} equipo(s)"}
        signers = {"Elaborado por": str(ctx.params.get("por") or ctx.config.reports.responsible),
                   "Revisado por": jefa(ctx)}
        return ctx.page(f"maestro-licencias-{today:%Y-%m-%d}", header,
                        {"licencias": rows, "garantias": warranties}, signers=signers)


AHEAD_DAYS = 90          # the monthly report looks this far past the month's close


def _days(n: int) -> str:
    return f"{n} día" if n == 1 else f"{n} días"


def monthly_section(ctx: DocContext, since, until) -> tuple[list[dict], str]:
    """The monthly report's «Licencias y garantías»: what ends within AHEAD_DAYS of the month's close (still
    vigente), then what was renewed during the month; and its one-line summary."""
    from datetime import timedelta

    from agent.assets.expiry import terms

    close = (until - timedelta(seconds=1)).astimezone(ctx.tz).date()
    ending = sorted((t for t in terms(ctx.store) if (t.ends - close).days <= AHEAD_DAYS), key=lambda t: t.ends)
    kinds = {"licence": "Licencia", "warranty": "Garantía"}
    rows = [{"tipo": kinds[t.kind], "descripcion": t.name, "termino": f"{t.ends:%d/%m/%Y}",
             "situacion": (f"Vencida hace {_days((close - t.ends).days)}" if t.ends < close else
                           f"Por vencer en {_days((t.ends - close).days)}", "bad")} for t in ending]
    renewed = queries.renewal_rows(ctx.store, since, until)
    rows += [{"tipo": kinds.get(r["kind"], r["kind"]), "descripcion": r["name"], "termino": fields.dmy(r["new_end"]),
              "situacion": (f"Renovada el {ctx.local(r['at'], '%d/%m/%Y')} (antes {fields.dmy(r['previous_end'])}) "
                            f"por {r['by']}", "ok")} for r in renewed]
    for n, row in enumerate(rows, 1):
        row["n"] = str(n)
    return rows, f"{len(ending)} por vencer en {AHEAD_DAYS} días, {len(renewed)} renovada(s) en el mes"
