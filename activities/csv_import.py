"""CSV and Excel (.xlsx) lists of new entrants, read through a per-département column mapping.

The mapping file (TOML or JSON) names, for each field, the column header that holds it, and may translate
values (the way rdv-insertion users import their lists)::

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
    [values.right_state]
    rsa_droit_ouvert_versable = "2"
    rsa_demande_en_attente = "0"

Headers match whatever their case, accents, line breaks and repeated spaces ("Date d'entrée" finds
"DATE D'ENTREE" or "Date\nd'entrée"); so do the values of ``[values.<field>]``. Blank rows (Excel writes
some after the data) are ignored. An ``.xlsx`` workbook is read directly (its first sheet, or ``sheet``),
streamed in read-only mode; a file that is neither a CSV text file nor an ``.xlsx`` workbook is refused
with a clear message.

Each row is a person; consecutive rows with the same matricule form one household. A household is
numbered by the data row (1-based, header excluded) where it starts. The same rules as for the XML flow
apply (:func:`domain.flux_validation.judge`), so a list and a flow reject the same things for the same reasons.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import Iterator, TypeVar

from pydantic import BaseModel, Field, field_validator, model_validator

from activities.cnaf_split import FluxUnreadable
from activities.list_rows import ListRows, normalise_label
from domain.flux import ParsedRecord, RawHousehold, RawPerson
from domain.flux_validation import DuplicateGuard, judge

M = TypeVar("M", bound="TableMapping")
HOUSEHOLD_FIELDS = ("matricule", "right_state", "suspension_reason", "suspension_date", "closure_reason",
                    "closure_date", "no_fixed_abode", "entry_date", "commune")
PERSON_FIELDS = ("nir", "last_name", "first_name", "birth_date", "role", "subject_to_duties")
DATE_FIELDS = ("suspension_date", "closure_date", "entry_date", "birth_date")
FLAG_FIELDS = ("subject_to_duties", "no_fixed_abode")
_TRUE = {"1", "o", "oui", "y", "yes", "true", "vrai", "x"}
_FALSE = {"0", "n", "non", "no", "false", "faux", ""}


class TableMapping(BaseModel):
    """Where each field is read in a CSV or XLSX table (shared by the flow lists and the caseload import)."""

    delimiter: str = ";"
    encoding: str = "utf-8-sig"
    sheet: str | None = None  # .xlsx: the sheet to read (default: the first one)
    date_formats: list[str] = Field(default_factory=lambda: ["%d/%m/%Y", "%Y-%m-%d"])
    columns: dict[str, str]
    defaults: dict[str, str] = Field(default_factory=dict)

    def rows(self, path: Path) -> Iterator[tuple[int, dict[str, str]]]:
        """(data row number, {field: cell}) of the mapped columns; raises ``FluxUnreadable``."""
        return ListRows(path, delimiter=self.delimiter, encoding=self.encoding, sheet=self.sheet).records(self.columns)


class ColumnMapping(TableMapping):
    values: dict[str, dict[str, str]] = Field(default_factory=dict)  # field -> {value in the list: value meant}

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = set(columns) - set(HOUSEHOLD_FIELDS) - set(PERSON_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) in [columns]: {', '.join(sorted(unknown))}")
        if "matricule" not in columns:
            raise ValueError("[columns] must map 'matricule'")
        return columns

    @model_validator(mode="after")
    def _translated_fields_are_mapped(self) -> "ColumnMapping":
        unmapped = set(self.values) - set(self.columns)
        if unmapped:
            raise ValueError(f"[values] for field(s) not in [columns]: {', '.join(sorted(unmapped))}")
        for field, table in self.values.items():
            keys = [normalise_label(k) for k in table]
            if len(set(keys)) != len(keys):
                raise ValueError(f"[values.{field}] has keys that differ only by case, accents or spaces")
        return self

    def translate(self, field: str, value: str | None) -> str | None:
        table = self.values.get(field)
        if not table or value is None:
            return value
        wanted = normalise_label(value)
        return next((meant for seen, meant in table.items() if normalise_label(seen) == wanted), value)


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
    """ISO text for a date in one of the mapping's formats (or ISO, as .xlsx dates are); the raw text
    otherwise (rejected later)."""
    if value is None or not value.strip():
        return value
    for fmt in [*formats, "%Y-%m-%d"]:
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
    """Iterate over a CSV or .xlsx list's households as :class:`ParsedRecord`; raises :class:`FluxUnreadable`."""

    def __init__(self, path: str | Path, mapping: ColumnMapping) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.raw_bytes = 0  # progress is only reported at the end: lists are small
        try:
            self.total_bytes = self.path.stat().st_size
        except OSError as exc:
            raise FluxUnreadable(f"cannot open {self.path.name}: {exc.strerror or exc}") from None

    def _value(self, row: dict[str, str], name: str) -> str | None:
        value = row.get(name)
        if value is None or (not value.strip() and name in self.mapping.defaults):
            value = self.mapping.defaults.get(name, value)
        value = self.mapping.translate(name, value)
        if name in DATE_FIELDS:
            value = normalise_date(value, self.mapping.date_formats)
        elif name in FLAG_FIELDS:
            value = _normalise_flag(value)
        return value

    def __iter__(self) -> Iterator[ParsedRecord]:
        rows = self.mapping.rows(self.path)
        guard = DuplicateGuard()

        def household_key(item: tuple[int, dict[str, str]]) -> object:
            value = (item[1].get("matricule") or "").strip()
            return value or ("", item[0])  # rows without matricule stay alone

        for _, group in groupby(rows, key=household_key):
            members = list(group)
            position = members[0][0]
            first = members[0][1]
            digest = hashlib.sha256()
            for _, row in members:
                digest.update(json.dumps(sorted(row.items()), ensure_ascii=False).encode("utf-8"))
            raw = RawHousehold(
                matricule=self._value(first, "matricule"),
                right_states=[v for v in [self._value(first, "right_state")] if v is not None],
                suspension_reasons=[v for v in [self._value(first, "suspension_reason")] if v],
                suspension_date=self._value(first, "suspension_date"),
                closure_reason=self._value(first, "closure_reason"),
                closure_date=self._value(first, "closure_date"),
                no_fixed_abode=self._value(first, "no_fixed_abode"),
                entry_date=self._value(first, "entry_date"),
                commune=self._value(first, "commune"),
                persons=[RawPerson(**{name: self._value(row, name) for name in PERSON_FIELDS}) for _, row in members],
            )
            yield judge(raw, position, digest.hexdigest(), guard, reference=date.today())
        self.raw_bytes = self.total_bytes
