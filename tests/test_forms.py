"""Forms and labels are data: every shipped form loads, every device kind has its Spanish word, and an
office's own form and labels (config `forms_dir`) change what the documents print."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from openpyxl import load_workbook

from agent.core import plugins
from agent.core.inventory import KINDS
from agent.core.settings import load_all
from agent.documents import forms
from agent.documents.compose import compose, document
from agent.store import Store


def test_every_document_has_a_form_and_every_kind_a_label():
    labels = forms.Labels()
    for name in plugins.names("documents"):
        doc = document(name)
        form = forms.form(doc.form_for({}))
        assert form.title and form.sections, name
    missing = [k for k in KINDS if labels.get("kinds", k, default="") == ""]
    assert not missing, f"no Spanish label for kinds {missing}"
    assert labels.get("kinds", "antiflood") == "sistema anti-aniego"       # the inventory's own word


def test_an_office_renames_a_column_and_a_kind_in_its_own_forms(site, tmp_path):
    site.hosts["aa-01"] = {"ansible_host": "127.0.0.40", "oti_kind": "antiflood"}
    own = tmp_path / "formularios"
    own.mkdir()
    shipped = (forms.SHIPPED / "checklist-diario.yaml").read_text()
    (own / "checklist-diario.yaml").write_text(shipped.replace("name: Observación", "name: Comentario del turno"))
    (own / "labels.es.yaml").write_text(textwrap.dedent("""\
        kinds:
          antiflood: detector de aniego
        """))
    site.extra["forms_dir"] = "formularios"
    site.extra["reports"] = {"office": "Oficina de Tecnologías de la Información y Comunicaciones"}
    settings = load_all(site.write())
    store = Store(settings.config.store.url, settings.config.base_dir)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    done = compose("checklist-diario", settings, store, now=now, day=now.date())
    rows = [[c.value for c in r] for r in load_workbook(done.paths[1]).active.iter_rows()]
    assert rows[0] == ["OFICINA DE TECNOLOGÍAS DE LA INFORMACIÓN Y COMUNICACIONES"] + [None] * (len(rows[0]) - 1)
    assert rows[2][0] == "Código: S.04.04.01.02_P — Anexo 07"
    head = next(r for r in rows if r[0] == "Ítem")
    assert head == ["Ítem", "Actividades", "Sí", "No", "Comentario del turno"]
    assert any(r[1] == "Operatividad de aa-01 (detector de aniego)" for r in rows)
    html = done.paths[0].read_text(encoding="utf-8")
    assert "Versión formato: 1.0" in html and "Comentario del turno" in html
