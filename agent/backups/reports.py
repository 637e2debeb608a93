"""The backup procedure's forms, written from the store: nothing is typed twice.

- Anexo 03, bitácora diaria de copia de respaldo de servidores: one line per job of the day.
- Anexo 04, inventario de cintas: every tape, where it is (library slot, office, custody box).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.documents import human_bytes, write_table

STATUS = {"ok": ("Conforme", "ok"), "warning": ("Conforme con advertencias", "ok"), "failed": ("Fallida", "bad"),
          "error": ("Error", "bad"), "canceled": ("Cancelada", "bad"), "running": ("En curso", "")}
LEVEL = {"Full": "Completo", "Incremental": "Incremental", "Differential": "Diferencial"}
DAILY_COLUMNS = ["N°", "Fecha", "Servidor", "Activo de información", "Tipo de copia", "Hora de inicio",
                 "Hora de fin", "Tamaño", "Archivos", "Estado", "Cintas utilizadas", "Observaciones"]
LOCATION = {"biblioteca": "Biblioteca de cintas", "oficina": "Oficina (OTI)", "custodia": "Empresa de resguardo"}
TAPE_STATUS = {"append": "En uso (anexable)", "full": "Completa", "used": "Completa", "error": "Con error",
               "recycled": "Reciclable", "scratch": "Libre", "read_only": "Solo lectura", "cleaning": "Limpieza"}
TAPE_COLUMNS = ["N°", "Cinta (etiqueta)", "Pool", "Estado", "Primera escritura", "Última escritura",
                "Retención hasta", "Trabajos que contiene", "Ubicación", "Slot", "Caja", "Precinto",
                "Fecha de envío", "Fecha de retorno"]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tz)
    return start, start + timedelta(days=1)


def daily_log(service, day: date, folder: Path, responsible: str) -> list[Path]:
    """Write the bitácora diaria de copia de respaldo (Anexo 03) of one day; return the files."""
    tz = service.tz
    since, until = day_bounds(day, tz)
    assets = {a.id: a for a in service.settings.assets.assets}
    rows = []
    for i, r in enumerate(service.runs(since, until), 1):
        asset = assets.get(r["asset"])
        text, cls = STATUS.get(r["status"], (r["status"], ""))
        notes = []
        if r["attempt"] > 1:
            notes.append(f"reintento {r['attempt'] - 1}")
        if r["trigger"] == "manual":
            notes.append("ejecutada a pedido")
        notes += r["errors"][:4]
        if r["job_id"]:
            notes.append(f"{r['backend']} job {r['job_id']}")
        started, ended = r["started_at"].astimezone(tz), r["ended_at"].astimezone(tz) if r["ended_at"] else None
        server = asset.server if asset else ""
        rows.append([(str(i), ""), (f"{started:%d/%m/%Y}", ""), (server, ""),
                     (asset.name if asset else r["asset"], ""), (LEVEL.get(r["level"], r["level"]), ""),
                     (f"{started:%H:%M:%S}", ""), (f"{ended:%H:%M:%S}" if ended else "", ""),
                     (human_bytes(r["bytes"]) if r["status"] in ("ok", "warning") else "", ""),
                     (str(r["files"]), ""), (text, cls), ((r["volumes"] or "").replace(",", ", "), ""),
                     ("; ".join(notes), "")])
    header = {"Oficina": "Oficina de Tecnologías de la Información", "Fecha": f"{day:%d/%m/%Y}",
              "Responsable": responsible, "Copias registradas": str(len(rows)),
              "Conformes": str(sum(1 for r in rows if r[9][1] == "ok"))}
    return write_table(folder, f"bitacora-copias-{day:%Y-%m-%d}",
                       "Bitácora diaria de copia de respaldo de servidores (Anexo 03)", header, DAILY_COLUMNS,
                       rows, (5, 11, 16, 30, 13, 10, 10, 12, 9, 14, 18, 60))


def tape_inventory(tapes: list[dict], jobs_by_tape: dict[str, list[str]], boxes: dict[str, dict], folder: Path,
                   tz: ZoneInfo, responsible: str, today: date) -> list[Path]:
    """Write the tape inventory (Anexo 04); return the files."""
    def d(when):
        return f"{when.astimezone(tz):%d/%m/%Y}" if when else ""

    rows = []
    for i, t in enumerate(tapes, 1):
        box = boxes.get(t["box"] or "", {})
        expired = t["retention_until"] is not None and t["retention_until"].astimezone(tz).date() < today
        rows.append([(str(i), ""), (t["label"], ""), (t["pool"] or "", ""),
                     (TAPE_STATUS.get(t["status"], t["status"]), "bad" if t["status"] == "error" else ""),
                     (d(t["first_written"]), ""), (d(t["last_written"]), ""),
                     (d(t["retention_until"]) + (" (vencida)" if expired else ""), ""),
                     ("; ".join(jobs_by_tape.get(t["label"], [])), ""),
                     (LOCATION.get(t["location"], t["location"]), ""), (str(t["slot"] or ""), ""),
                     (t["box"] or "", ""), (box.get("seal") or "", ""), (d(box.get("sent_at")), ""),
                     (d(box.get("returned_at")), "")])
    header = {"Oficina": "Oficina de Tecnologías de la Información", "Fecha": f"{today:%d/%m/%Y}",
              "Responsable": responsible, "Cintas": str(len(rows)),
              "En custodia": str(sum(1 for t in tapes if t["location"] == "custodia"))}
    return write_table(folder, f"inventario-cintas-{today:%Y-%m-%d}", "Inventario de cintas de respaldo (Anexo 04)",
                       header, TAPE_COLUMNS, rows, (5, 14, 12, 16, 12, 12, 16, 50, 20, 6, 10, 12, 12, 12))
