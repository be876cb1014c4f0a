"""The rows of a list of new entrants, from a CSV text file or an ``.xlsx`` workbook, as text cells.

What a spreadsheet user does not see is not held against the file: blank rows are skipped, and headers
(and translated values) are compared after :func:`normalise_label` (case, accents, line breaks, repeated
spaces). Anything else (an ``.xls`` workbook, a PDF, a zip) raises :class:`FluxUnreadable` naming what the
file looks like, instead of a misleading message about missing columns.
"""

from __future__ import annotations

import csv
import unicodedata
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

from activities.cnaf_split import FluxUnreadable

_XLSX_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (Excel 97-2003), .doc
_KNOWN_BINARIES = ((b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"))


def normalise_label(text: str) -> str:
    """Lower case, no accents, every run of white space (line breaks, non-breaking spaces) as one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV export would hold (dates ISO, whole numbers without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sniff_kind(path: Path) -> str:
    """``"xlsx"`` or ``"csv"``; raises :class:`FluxUnreadable` for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise FluxUnreadable(f"cannot open {path.name}: {exc.strerror or exc}") from None
    if head.startswith(_XLSX_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                if "xl/workbook.xml" in archive.namelist():
                    return "xlsx"
        except zipfile.BadZipFile:
            pass
        raise FluxUnreadable(f"{path.name} is a zip archive but not an .xlsx workbook: give a CSV or .xlsx list")
    if head.startswith(_OLE2_MAGIC):
        raise FluxUnreadable(f"{path.name} is an old Excel .xls (or Word) file: save it as .xlsx or CSV")
    for magic, what in _KNOWN_BINARIES:
        if head.startswith(magic):
            raise FluxUnreadable(f"{path.name} is {what}, neither a CSV nor an .xlsx list")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FluxUnreadable(f"{path.name} is a binary file, neither a CSV nor an .xlsx list")
    return "csv"


def _csv_rows(path: Path, delimiter: str, encoding: str) -> Iterator[list[str]]:
    try:
        handle = open(path, encoding=encoding, errors="replace", newline="")
    except (OSError, LookupError) as exc:
        raise FluxUnreadable(f"cannot open {path.name}: {getattr(exc, 'strerror', None) or exc}") from None
    with handle:
        try:
            yield from csv.reader(handle, delimiter=delimiter)
        except csv.Error as exc:
            raise FluxUnreadable(f"{path.name} is not a readable CSV file ({exc})") from None


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a damaged workbook: one line
        raise FluxUnreadable(f"{path.name} is not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise FluxUnreadable(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        for row in worksheet.iter_rows(values_only=True):
            yield [_cell_text(value) for value in row]
    finally:
        workbook.close()


class ListRows:
    """Header and data rows of a list; ``header`` is the first non-blank row, ``rows()`` numbers the data
    rows from 1 (blank rows are skipped but keep their number, so positions match the spreadsheet)."""

    def __init__(self, path: Path, *, delimiter: str = ";", encoding: str = "utf-8-sig",
                 sheet: str | None = None) -> None:
        self.path = path
        self.kind = sniff_kind(path)
        self._delimiter, self._encoding, self._sheet = delimiter, encoding, sheet

    def _raw(self) -> Iterator[list[str]]:
        if self.kind == "xlsx":
            return _xlsx_rows(self.path, self._sheet)
        return _csv_rows(self.path, self._delimiter, self._encoding)

    def labels(self) -> set[str]:
        """The header's labels, normalised (empty when the list has no header line)."""
        header = next((row for row in self._raw() if any(cell.strip() for cell in row)), [])
        return {normalise_label(label) for label in header}

    def records(self, wanted: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
        """(data row number, {field: cell}) for the fields of ``wanted`` (field -> header label)."""
        rows = self._raw()
        header = next((row for row in rows if any(cell.strip() for cell in row)), None)
        if header is None:
            raise FluxUnreadable(f"{self.path.name} is empty or has no header line")
        where = {normalise_label(label): index for index, label in reversed(list(enumerate(header)))}
        columns = {name: where.get(normalise_label(label)) for name, label in wanted.items()}
        missing = [wanted[name] for name, index in columns.items() if index is None]
        if missing:
            raise FluxUnreadable(f"column(s) {', '.join(map(repr, missing))} not in the header of {self.path.name}")
        for number, row in enumerate(rows, start=1):
            if not any(cell.strip() for cell in row):
                continue
            yield number, {name: (row[index] if index < len(row) else "") for name, index in columns.items()}
