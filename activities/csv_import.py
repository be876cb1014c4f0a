"""CSV (or Excel-exported) lists of new entrants, read through a per-département column mapping.

The mapping file (TOML or JSON) names, for each field, the column header that holds it::

    delimiter = ";"
    encoding = "utf-8-sig"
    date_formats = ["%d/%m/%Y", "%Y-%m-%d"]
    [columns]
    matricule = "N° allocataire"
    nir = "NIR"
    last_name = "Nom"
    first_name = "Prénom"
    birth_date = "Date de naissance"
    subject_to_duties = "Soumis D&D"
    right_state = "Etat dossier"
    entry_date = "Date d'entrée"
    [defaults]
    right_state = "2"

Each row is a person; consecutive rows with the same matricule form one household. A household is
numbered by the data row (1-based, header excluded) where it starts. The same rules as for the XML flow
apply (:func:`domain.flux.judge`), so a list and a flow reject the same things for the same reasons.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tomllib
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Iterator, TypeVar

from pydantic import BaseModel, Field, field_validator

from domain.flux import DuplicateGuard, ParsedRecord, RawHousehold, RawPerson, judge
from activities.cnaf_parser import FluxUnreadable

M = TypeVar("M", bound="TableMapping")
HOUSEHOLD_FIELDS = ("matricule", "right_state", "suspension_reason", "suspension_date", "closure_reason",
                    "closure_date", "no_fixed_abode", "entry_date")
PERSON_FIELDS = ("nir", "last_name", "first_name", "birth_date", "role", "subject_to_duties")
DATE_FIELDS = ("suspension_date", "closure_date", "entry_date", "birth_date")
FLAG_FIELDS = ("subject_to_duties", "no_fixed_abode")
_TRUE = {"1", "o", "oui", "y", "yes", "true", "vrai", "x"}
_FALSE = {"0", "n", "non", "no", "false", "faux", ""}


class TableMapping(BaseModel):
    """Where each field is read in a CSV or XLSX table (shared by the flow lists and the caseload import)."""

    delimiter: str = ";"
    encoding: str = "utf-8-sig"
    date_formats: list[str] = Field(default_factory=lambda: ["%d/%m/%Y", "%Y-%m-%d"])
    columns: dict[str, str]
    defaults: dict[str, str] = Field(default_factory=dict)


class ColumnMapping(TableMapping):
    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = set(columns) - set(HOUSEHOLD_FIELDS) - set(PERSON_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) in [columns]: {', '.join(sorted(unknown))}")
        if "matricule" not in columns:
            raise ValueError("[columns] must map 'matricule'")
        return columns


def load_mapping(path: str | Path, model: type[M] = ColumnMapping) -> M:  # type: ignore[assignment]
    """Read a TOML (``.toml``) or JSON mapping file into ``model``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FluxUnreadable(f"cannot open mapping {path.name}: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(data.decode("utf-8")) if path.suffix.lower() == ".toml" else json.loads(data)
        return model.model_validate(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        message = " ".join(str(exc).split())
        raise FluxUnreadable(f"mapping {path.name} is not valid: {message}") from None


def normalise_date(value: str | None, formats: list[str]) -> str | None:
    """ISO text for a date in one of the mapping's formats; the raw text otherwise (rejected later)."""
    if value is None or not value.strip():
        return value
    for fmt in formats:
        try:
            return datetime.strptime(value.strip(), fmt).date().isoformat()
        except ValueError:
            continue
    return value


def _normalise_flag(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return "1"
    if lowered in _FALSE and lowered:
        return "0"
    return value


class CsvNewEntrants:
    """Iterate over a CSV list's households as :class:`ParsedRecord`; raises :class:`FluxUnreadable`."""

    def __init__(self, path: str | Path, mapping: ColumnMapping) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.raw_bytes = 0  # progress is only reported at the end: lists are small
        try:
            self.total_bytes = self.path.stat().st_size
        except OSError as exc:
            raise FluxUnreadable(f"cannot open {self.path.name}: {exc.strerror or exc}") from None

    def _value(self, row: dict[str, str | None], name: str) -> str | None:
        column = self.mapping.columns.get(name)
        value = row.get(column) if column else None
        if value is None or (not value.strip() and name in self.mapping.defaults):
            value = self.mapping.defaults.get(name, value)
        if name in DATE_FIELDS:
            value = normalise_date(value, self.mapping.date_formats)
        elif name in FLAG_FIELDS:
            value = _normalise_flag(value)
        return value

    def __iter__(self) -> Iterator[ParsedRecord]:
        with mapped_rows(self.path, self.mapping) as rows_in:
            guard = DuplicateGuard()
            rows = iter(rows_in)

            def household_key(item: tuple[int, dict]) -> object:
                value = (item[1].get(self.mapping.columns["matricule"]) or "").strip()
                return value or ("", item[0])  # rows without matricule stay alone

            for _, group in groupby(rows, key=household_key):
                members = list(group)
                position = members[0][0]
                first = members[0][1]
                digest = hashlib.sha256()
                for _, row in members:
                    digest.update(json.dumps(list(row.values()), ensure_ascii=False).encode("utf-8"))
                raw = RawHousehold(
                    matricule=self._value(first, "matricule"),
                    right_states=[v for v in [self._value(first, "right_state")] if v is not None],
                    suspension_reasons=[v for v in [self._value(first, "suspension_reason")] if v],
                    suspension_date=self._value(first, "suspension_date"),
                    closure_reason=self._value(first, "closure_reason"),
                    closure_date=self._value(first, "closure_date"),
                    no_fixed_abode=self._value(first, "no_fixed_abode"),
                    entry_date=self._value(first, "entry_date"),
                    persons=[RawPerson(**{name: self._value(row, name) for name in PERSON_FIELDS}) for _, row in members],
                )
                yield judge(raw, position, digest.hexdigest(), guard)
            self.raw_bytes = self.total_bytes


def _xlsx_rows(path: Path) -> Iterator[list[str | None]]:
    """Cell texts of the first sheet; dates as ISO text (Excel stores them as dates, not text)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError or its own errors for a damaged file
        raise FluxUnreadable(f"{path.name} is not a readable XLSX file ({type(exc).__name__})") from None
    try:
        for cells in book.worksheets[0].iter_rows(values_only=True):
            yield [None if c is None else (c.date().isoformat() if isinstance(c, datetime) else str(c)) for c in cells]
    finally:
        book.close()


@contextmanager
def mapped_rows(path: Path, mapping: TableMapping) -> Iterator[Iterator[tuple[int, dict[str, str | None]]]]:
    """The data rows of a CSV (or ``.xlsx``) table as (row number from 1, header excluded; {header: text}),
    after checking that every mapped column is in the header; raises :class:`FluxUnreadable`."""
    if path.suffix.lower() == ".xlsx":
        lines: Iterator[list[str | None]] = _xlsx_rows(path)
        handle = None
    else:
        try:
            handle = open(path, encoding=mapping.encoding, errors="replace", newline="")
        except (OSError, LookupError) as exc:
            raise FluxUnreadable(f"cannot open {path.name}: {getattr(exc, 'strerror', None) or exc}") from None
        lines = csv.reader(handle, delimiter=mapping.delimiter)
    try:
        header = [h or "" for h in next(lines, None) or []]
        if not any(header):
            raise FluxUnreadable(f"{path.name} is empty or has no header line")
        missing = [c for c in mapping.columns.values() if c not in header]
        if missing:
            raise FluxUnreadable(f"column(s) {', '.join(map(repr, missing))} not in the header of {path.name}")
        yield ((n, dict(zip(header, [*cells, *[None] * (len(header) - len(cells))])))
               for n, cells in enumerate((c for c in lines if c), start=1))
    finally:
        if handle is not None:
            handle.close()
