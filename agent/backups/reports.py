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


RESTORE_STATUS = {"completado": ("Completado", "ok"), "fallido": ("Fallido", "bad"),
                  "sin_copia": ("No existe copia en la fecha", "bad")}
RESTORE_COLUMNS = ["N°", "Solicitante", "Fecha de backup", "Servidor", "Nombre de restauración", "Files",
                   "Directorios", "Peso del backup", "Estado", "Observaciones"]


def restore_log(store, tz: ZoneInfo, folder: Path, responsible: str) -> list[Path]:
    """Write the bitácora de restauración de servidores (Anexo 06): every restore recorded."""
    from sqlalchemy import select

    from agent.store.times import aware
    from agent.store.schema import restores

    with store.engine.connect() as conn:
        found = [dict(r._mapping) for r in conn.execute(select(restores).order_by(restores.c.at, restores.c.id))]
    rows = []
    for i, r in enumerate(found, 1):
        text, cls = RESTORE_STATUS.get(r["status"], (r["status"], ""))
        when = aware(r["backup_date"])
        note = "; ".join(x for x in (f"fecha solicitada {date.fromisoformat(r['requested_date']):%d/%m/%Y}"
                                     if r["requested_date"] else "", f"jobs {r['jobs']}" if r["jobs"] else "",
                                     r["note"] or "", f"ejecución {r['run_id']}") if x)
        rows.append([(str(i), ""), (r["requester"], ""), (f"{when.astimezone(tz):%d/%m/%Y}" if when else "", ""),
                     (r["server"] or "", ""), (r["restore_name"] or "", ""), (str(r["files"]), ""),
                     (str(r["directories"]), ""), (human_bytes(r["bytes"]) if r["bytes"] else "", ""),
                     (text, cls), (note, "")])
    last = aware(found[-1]["at"]).astimezone(tz) if found else None
    header = {"Oficina": "Oficina de Tecnologías de la Información",
              "Nombre del encargado del activo de información": responsible,
              "Fecha de última actualización": f"{last:%d/%m/%Y}" if last else ""}
    return write_table(folder, "bitacora-restauracion", "Bitácora de restauración de servidores (Anexo 06)", header,
                       RESTORE_COLUMNS, rows, (5, 16, 13, 16, 34, 9, 11, 14, 22, 60))
