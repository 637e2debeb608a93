"""The console's «Documentos» and «Copias y cintas» against the real daemon: documents the CLI wrote listed by
kind and date, read in the page, downloaded in each format, one generated from the form; a custody box
prepared and sent from the page (the custody company told by the real SMTP peer), the store and the page
saying where each tape is and who moved it; people without the role get no buttons and a 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import insert

from agent.core.settings import load_all
from agent.store import Store, queries
from agent.store.schema import backup_runs, restores, tapes
from tests.console import Person, set_passwords, text_of
from tests.test_backups import LIMA, _site

HOSTILE = "<script>alert(1)</script>"


def _office(site, tmp_path, smtp=None):
    """The backups site of test_backups (asset matrix, documents in docs-out), nothing due while it runs."""
    if smtp is not None:
        site.extra["mail"] = {
            "host": "127.0.0.1",
            "port": smtp[0],
            "starttls": True,
            "user": "agent",
            "password": site.secret("smtp", "mailpw"),
            "sender": "oti-agent@entidad.example",
            "recipients": {"custodia": ["operaciones@resguardo.example"]},
        }
    _site(site, tmp_path, catch_up="1s", custody={"company": "Resguardo S.A.C."}, responsible="Luis Quispe")
    config = site.root / "config.yaml"
    set_passwords(config, ("luis", "joanna"))
    return config


def test_documents_listed_viewed_downloaded_and_generated(site, tmp_path, agentd):
    config = _office(site, tmp_path)
    today = datetime.now(LIMA).date()
    day, other = today - timedelta(days=12), today - timedelta(days=9)
    daemon = agentd(config)
    done = daemon.cli("report", "daily", "--date", day.isoformat())
    assert done.returncode == 0, done.stderr
    docs = site.root / "docs-out"
    (docs / "reportes").mkdir(exist_ok=True)
    (docs / "reportes" / f"nota-{HOSTILE.replace('/', '')}-{day}.html").write_text(
        "<html><head><style>p{}</style></head><body><h2>Nota &lt;script&gt;alert(1)&lt;/script&gt;</h2>"
        "<p onclick='x()'>texto"
        "<script>alert(2)</script></p></body></html>",
        encoding="utf-8",
    )  # as archived: text escaped, then raw markup
    key = f"checklists/checklist-diario-{day}"

    with Person(daemon, "luis") as luis, Person(daemon, "joanna") as joanna:
        listed = luis.get(f"/documentos?tipo=checklist-diario&desde={day}&hasta={day}")
        words = text_of(listed.text)
        assert listed.status_code == 200 and "Archivo (1 de 2)" in words
        assert f"{day:%d/%m/%Y} Checklist diario de estado de los servicios TI" in words
        everything = luis.get("/documentos").text
        assert HOSTILE not in everything and "&lt;script&gt;" in everything

        shown = luis.get(f"/documentos/ver?doc={quote(key, safe='')}")
        words = text_of(shown.text)
        assert (
            shown.status_code == 200 and "S.04.04.01.02_P — Anexo 07" in words and f"{day:%d/%m/%Y}" in words
        )
        assert 'class="doc-lines"' in shown.text and "<style" not in shown.text.split("</head>")[1]
        hostile = luis.get(
            "/documentos/ver", params={"doc": f"reportes/nota-{HOSTILE.replace('/', '')}-{day}"}
        )
        assert hostile.status_code == 200 and "Nota &lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
        assert "alert(2)" not in hostile.text and "onclick" not in hostile.text

        files = {
            fmt: luis.get("/documentos/descargar", params={"doc": key, "formato": fmt})
            for fmt in ("html", "xlsx", "pdf")
        }
        assert (
            files["pdf"].content.startswith(b"%PDF")
            and files["pdf"].headers["content-type"] == "application/pdf"
        )
        assert (
            files["xlsx"].content.startswith(b"PK")
            and "spreadsheetml" in files["xlsx"].headers["content-type"]
        )
        assert files["html"].content == (docs / f"{key}.html").read_bytes()
        assert (
            files["pdf"].headers["content-disposition"]
            == f'attachment; filename="checklist-diario-{day}.pdf"'
        )
        for bad in (
            {"doc": "../config", "formato": "yaml"},
            {"doc": "../config", "formato": "html"},
            {"doc": "../../etc/passwd", "formato": "html"},
            {"doc": key, "formato": "txt"},
        ):
            assert luis.get("/documentos/descargar", params=bad).status_code == 404, bad

        # «Generar»: the operator writes the monitoring report of another day; a wrong date is named
        refused = luis.post("/documentos/generar", {"tipo": "reporte-monitoreo", "fecha": ""})
        assert refused.status_code == 400 and "Fecha: indique el día" in text_of(refused.text)
        assert 'value="reporte-monitoreo" selected' in refused.text
        future = luis.post(
            "/documentos/generar",
            {"tipo": "checklist-diario", "fecha": (today + timedelta(days=2)).isoformat()},
        )
        assert future.status_code == 400 and "no puede ser posterior a hoy" in future.text
        made = luis.post("/documentos/generar", {"tipo": "reporte-monitoreo", "fecha": other.isoformat()})
        assert made.status_code == 303, made.text[:2000]
        assert made.headers["location"] == f"/documentos?generado=reportes%2Freporte-monitoreo-{other}"
        assert {p.suffix for p in (docs / "reportes").glob(f"reporte-monitoreo-{other}.*")} == {
            ".html",
            ".xlsx",
            ".pdf",
        }
        notice = text_of(luis.get(made.headers["location"]).text)
        assert (
            "Se generó «Reporte de monitoreo de la infraestructura y de los servicios de TI»: "
            f"reporte-monitoreo-{other}"
            in notice
        )

        # General Management reads the archive but writes nothing
        theirs = joanna.get("/documentos")
        assert theirs.status_code == 200 and "checklist-diario" in theirs.text
        assert "/documentos/generar" not in theirs.text
        assert (
            joanna.post(
                "/documentos/generar", {"tipo": "checklist-diario", "fecha": day.isoformat()}
            ).status_code
            == 403
        )


def _seed(config, now):
    """What `tapes sync`, two nights of backups and a restore would have left in the store."""
    settings = load_all(config)
    store = Store(settings.config.store.url, settings.config.base_dir)
    with store.engine.begin() as conn:
        for label, status, location, slot in (
            ("TAPE001", "full", "oficina", None),
            ("TAPE002", "used", "oficina", None),
            ("TAPE003", "append", "biblioteca", 3),
            (f"T{HOSTILE}", "full", "oficina", None),
        ):
            conn.execute(
                insert(tapes).values(
                    label=label,
                    backend="vtl",
                    pool="TapePool",
                    status=status,
                    bytes=10**6,
                    last_written=now - timedelta(days=3),
                    location=location,
                    slot=slot,
                    retention_until=now + timedelta(days=1461),
                    synced_at=now,
                )
            )
        for days, status in ((3, "ok"), (2, "failed")):
            start = now - timedelta(days=days)
            conn.execute(
                insert(backup_runs).values(
                    asset="docs",
                    slot=start,
                    attempt=1,
                    trigger="schedule",
                    backend="vtl",
                    job_name="BackupDocs",
                    job_id=str(days),
                    level="Full",
                    status=status,
                    started_at=start,
                    ended_at=start + timedelta(minutes=20),
                    bytes=10**9,
                    files=1000,
                    volumes="TAPE001",
                    errors='["sin espacio en la cinta"]' if days == 2 else None,
                )
            )
        conn.execute(
            insert(restores).values(
                run_id="r-123",
                requester="Unidad de Logística",
                asset="docs",
                server="fs-01",
                requested_date=f"{now - timedelta(days=3):%Y-%m-%d}",
                status="completado",
                at=now - timedelta(days=1),
            )
        )
    return store


def test_custody_boxes_from_the_copias_page(site, tmp_path, agentd, smtp):
    port, inbox = smtp
    config = _office(site, tmp_path, smtp)
    now = datetime.now(UTC)
    store = _seed(config, now)
    daemon = agentd(config)
    with Person(daemon, "luis") as luis, Person(daemon, "joanna") as joanna:
        words = text_of(luis.get("/copias").text)
        assert "Carpetas de trabajo" in words and "Diario 01:00 Completo" in words
        assert "Fallida" in words and "sin espacio en la cinta" in words
        assert f"{(now - timedelta(days=3) + timedelta(minutes=20)).astimezone(LIMA):%d/%m/%Y %H:%M}" in words
        assert "TAPE003 TapePool En uso (anexable) Biblioteca de cintas ranura 3" in words
        assert "Unidad de Logística" in words and "Completado" in words
        page = luis.get("/copias").text
        assert HOSTILE not in page and "T&lt;script&gt;alert(1)&lt;/script&gt;" in page

        # fixable mistakes re-render the form, name the field, keep what was typed
        bad = luis.post(
            "/copias/caja/prepare", {"caja": "CAJA-01", "cintas": ["TAPE003"], "precinto": "P-0001"}
        )
        assert bad.status_code == 400 and "not full: TAPE003" in text_of(bad.text)
        assert 'value="CAJA-01"' in bad.text and 'value="TAPE003" checked' in bad.text
        assert luis.post("/copias/caja/prepare", {"caja": "CAJA-01"}).status_code == 400
        assert queries.tape_boxes_list(store) == {}

        made = luis.post(
            "/copias/caja/prepare",
            {"caja": "CAJA-01", "cintas": ["TAPE001", "TAPE002"], "precinto": "P-0001"},
        )
        assert made.status_code == 303 and made.headers["location"] == "/copias?hecho=prepare&caja=CAJA-01"
        sent = luis.post("/copias/caja/send", {"caja": "CAJA-01", "precinto": "P-0001", "correo": "1"})
        assert sent.status_code == 303, text_of(sent.text)[:2000]
        assert "Entrega de caja CAJA-01" in inbox.subjects()[-1]
        assert "TAPE001" in inbox.messages[-1].get_payload(decode=True).decode()
        mails = len(inbox.messages)
        again = luis.post("/copias/caja/send", {"caja": "CAJA-01", "precinto": "P-0001", "correo": "1"})
        assert again.status_code == 400 and "already sent" in text_of(again.text)
        assert len(inbox.messages) == mails                 # a refused send is not announced to the company

        where = {t["label"]: (t["location"], t["box"]) for t in queries.tape_list(store)}
        assert (
            where["TAPE001"] == where["TAPE002"] == ("custodia", "CAJA-01")
            and where["TAPE003"][0] == "biblioteca"
        )
        moves = [(m["movement"], m["by"]) for m in queries.custody_movements(store, "CAJA-01")]
        assert moves == [("preparada", "Luis Quispe (luis)"), ("enviada", "Luis Quispe (luis)")]
        words = text_of(luis.get(sent.headers["location"]).text)
        assert "Caja CAJA-01 enviada a Resguardo S.A.C." in words
        assert "TAPE001 TapePool Completa Empresa de resguardo CAJA-01" in words
        assert "Enviada a custodia por Luis Quispe (luis)" in words
        asked = luis.post("/copias/caja/request", {"caja": "CAJA-01", "motivo": "", "correo": "1"})
        assert asked.status_code == 400 and "Motivo: indique" in text_of(asked.text)

        # General Management: no page, no buttons, and the actions refused
        theirs = joanna.get("/copias")
        assert theirs.status_code == 403 and "/copias/caja" not in theirs.text
        for action in ("prepare", "send", "request", "receive"):
            assert (
                joanna.post(f"/copias/caja/{action}", {"caja": "CAJA-01", "motivo": "x"}).status_code == 403
            )
        assert [m["movement"] for m in queries.custody_movements(store, "CAJA-01")] == [
            "preparada",
            "enviada",
        ]
