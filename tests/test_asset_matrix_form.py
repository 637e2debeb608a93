"""Anexo 01 of S.04.04.01.02_P rendered as its form (issue 15 item 11): the asset matrix file, one row per
asset, in the manual's eleven columns and words, with its Observación."""

from __future__ import annotations

from datetime import UTC, date, datetime

from openpyxl import load_workbook

from agent.core.settings import load_all
from agent.documents.compose import compose
from agent.store import Store
from tests.test_backups import _site

# seed line 1943, the form's heading row, column by column
MANUAL_COLUMNS = ["Responsable del activo de información",
                  "Nombre del activo de información que requiere copia de respaldo",
                  "Tipo (carpeta, BD, virtual, etc.)", "IP del servidor",
                  "Ruta de carpeta o nombres de recursos a respaldar",
                  "Periodicidad (L M M J V S D) (semanal, quincenal, mensual)",
                  "Horario de respaldo (Hora en la cual se debe hacer la copia)",
                  "Tipo de copia de respaldo (completo, incremental, diferencial)",
                  "Criticidad (Estado: Crítico, no crítico)", "Periodo de retención", "Observación"]


def test_the_asset_matrix_is_written_in_the_manuals_columns_with_its_observations(site, tmp_path):
    _site(site, tmp_path)
    matrix = tmp_path / "matriz.yaml"
    matrix.write_text(matrix.read_text().replace("job: BackupDocs",
                                                 "job: BackupDocs\n  observation: Carpeta compartida <b>de OTI</b>"))
    settings = load_all(tmp_path / "config.yaml")
    store = Store(settings.config.store.url, settings.config.base_dir)
    store.migrate()
    done = compose("matriz-activos", settings, store, now=datetime(2026, 12, 1, 15, tzinfo=UTC),
                   day=date(2026, 12, 1))
    xlsx = next(p for p in done.paths if p.suffix == ".xlsx")
    rows = [[c.value for c in r] for r in load_workbook(xlsx).active.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r[0] == MANUAL_COLUMNS[0])
    assert rows[head] == MANUAL_COLUMNS
    docs, db = rows[head + 1], rows[head + 2]
    assert docs == ["Especialista en IS", "Carpetas de trabajo", "carpeta", "127.0.0.9", str(tmp_path / "docs"),
                    "Diario", "01:00", "Completo", "No crítico", "4 años", "Carpeta compartida <b>de OTI</b>"]
    # the manual's positional days, the Anexo 02 category that filled the criticality, the IP as written
    assert db[3] == "127.0.0.10" and db[5] == "Lunes, martes, miércoles, jueves, viernes"
    assert db[7] == "Incremental" and db[8] == "Crítico" and db[9] == "4 años"
    assert db[10] == "Categoría del Anexo 02: Bases de datos de las aplicaciones de producción"
    html = next(p for p in done.paths if p.suffix == ".html").read_text()
    assert "Anexo 01" in html and "S.04.04.01.02_P" in html
    assert "&lt;b&gt;de OTI&lt;/b&gt;" in html and "<b>de OTI</b>" not in html        # typed text is text
    assert "Elaborado por" in html and "Aprobado por" in html
