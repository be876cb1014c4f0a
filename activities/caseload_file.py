"""Reading a caseload file (CSV or XLSX) through its column mapping, with the flow lists' reader
(:meth:`activities.csv_import.TableMapping.rows`): field names to cell texts, dates normalised to ISO."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from pydantic import Field, field_validator

from activities.csv_import import TableMapping, load_mapping, normalise_date
from activities.list_rows import ListRows, normalise_label
from domain.caseload import ADDED_FIELDS, CASELOAD_FIELDS, DATE_FIELDS

MAX_CELL = 64  # no caseload field is longer; a longer cell is cut (and then refused by the field's rule)


class CaseloadMapping(TableMapping):
    #: Mapped fields a file may lack (read as empty): the default mapping's later columns (domain.caseload
    #: ADDED_FIELDS), so a file written before them still reads.
    optional: list[str] = Field(default_factory=list)

    def rows(self, path: Path) -> Iterator[tuple[int, dict[str, str]]]:
        reader = ListRows(path, delimiter=self.delimiter, encoding=self.encoding, sheet=self.sheet)
        columns = self.columns
        if self.optional:
            present = reader.labels()
            columns = {name: label for name, label in columns.items()
                       if name not in self.optional or normalise_label(label) in present}
        return reader.records(columns)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = set(columns) - set(CASELOAD_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) in [columns]: {', '.join(sorted(unknown))}")
        needed = {"territory", "stage", "caf_transmission_date"} - set(columns)
        if needed:
            raise ValueError(f"[columns] must map {', '.join(sorted(needed))}")
        if "nir" not in columns and not {"matricule", "rank"} <= set(columns):
            raise ValueError("[columns] must map 'nir', or 'matricule' and 'rank'")
        return columns


def load_caseload_mapping(path: str | Path) -> CaseloadMapping:
    return load_mapping(path, CaseloadMapping)


def caseload_rows(path: str | Path, mapping: CaseloadMapping,
                  first: int = 1) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(data row number from 1, {field: text}) from row ``first`` on (the rows before are skipped unread: a slice
    starts where it is); raises ``FluxUnreadable`` when the file or its header is not usable."""
    for number, cells in mapping.rows(Path(path)):
        if number < first:
            continue
        raw: dict[str, str | None] = {}
        for name in CASELOAD_FIELDS:
            value = cells.get(name)
            if value is None or not value.strip():
                value = mapping.defaults.get(name, value)
            value = value[:MAX_CELL] if value is not None else None
            raw[name] = normalise_date(value, mapping.date_formats) if name in DATE_FIELDS else value
        yield number, raw


def default_mapping() -> CaseloadMapping:
    """Without a mapping: each column is headed by its field name (docs/caseload.md), ``;``-separated; the
    platform, CAF-route and review columns may be left out."""
    return CaseloadMapping(columns={name: name for name in CASELOAD_FIELDS}, optional=list(ADDED_FIELDS))
