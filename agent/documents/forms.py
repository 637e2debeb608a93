"""Forms and labels as data: what each document looks like, in the manual's own words.

A form (`forms/<id>.yaml`) gives a document's title, the manual's header block (procedure code,
annex, form version), the labels of its header fields and, per section, the columns in order with
their widths. A document fills rows by column id; the form decides which columns show, in which
order, under which heading. `labels.es.yaml` holds the Spanish words for the agent's codes (device
kinds, states, backup and tape statuses...). An office overrides any form or label set by putting a
file of the same name in the config's `forms_dir` (like `mail.templates_dir` for mail).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent.core.yamlfile import load_with_lines, validate_file
from agent.errors import ConfigError

SHIPPED = Path(__file__).resolve().parent / "forms"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Model):
    """One column of a section: the id rows fill it by, its heading, its relative width."""

    id: str
    name: str
    width: int = Field(10, ge=1, le=200)


class SectionForm(_Model):
    """One table of a form."""

    id: str
    title: str = ""
    sheet: str = Field("", description="the XLSX sheet's name (at most 31 characters); the title's start if empty")
    columns: list[Column] = Field(min_length=1)


class Form(_Model):
    """A document's form: title, header block, header fields and sections."""

    title: str
    procedure: str = Field("", description="the manual's procedure code, e.g. S.04.04.01.02_P")
    annex: str = Field("", description="the manual's annex, e.g. Anexo 07")
    version: str = "1.0"
    header: dict[str, str] = Field({}, description="header field id -> its label, in order")
    sections: list[SectionForm] = Field(min_length=1)
    footer: str = "Documento generado por oti-agent a partir de su registro; no se digita a mano."
    signatures: list[str] = Field(["Elaborado por", "Revisado por", "Aprobado por"],
                                  description="the signature lines the office signs the form with")

    def section(self, section_id: str) -> SectionForm:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise ConfigError(f"form {self.title!r} has no section {section_id!r}")


def _find(name: str, override: Path | None) -> Path:
    if override is not None and (override / name).exists():
        return override / name
    return SHIPPED / name


@cache
def _form(path: Path) -> Form:
    data, lines = load_with_lines(path)
    return validate_file(Form, path, data, lines)


def form(form_id: str, override: Path | None = None) -> Form:
    """The form `form_id` (the office's own when its forms_dir has one); a broken one names file and line."""
    path = _find(f"{form_id}.yaml", override)
    if not path.exists():
        raise ConfigError(f"no form {form_id!r} in {SHIPPED}" + (f" or {override}" if override else ""))
    return _form(path)


@cache
def _labels(path: Path) -> dict[str, dict[str, str]]:
    data, _lines = load_with_lines(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path}: labels must be a mapping of catalogs, each a mapping of code -> text")
    return {k: {str(code): str(text) for code, text in v.items()} for k, v in data.items()}


class Labels:
    """The Spanish words of the agent's codes, by catalog: `labels.kind("ups")` -> 'UPS'."""

    def __init__(self, override: Path | None = None):
        self._catalogs = dict(_labels(SHIPPED / "labels.es.yaml"))
        path = _find("labels.es.yaml", override)
        if path.parent != SHIPPED:
            for name, entries in _labels(path).items():
                self._catalogs[name] = {**self._catalogs.get(name, {}), **entries}

    def get(self, catalog: str, code, default: str | None = None) -> str:
        """The text of a code; the code itself (or `default`) when the catalog does not know it."""
        found = self._catalogs.get(catalog, {}).get(str(code))
        return found if found is not None else (default if default is not None else str(code))


def forms_dir(config) -> Path | None:
    """The office's own forms and labels folder of a config, if it names one."""
    return config.path(config.forms_dir) if config.forms_dir else None
