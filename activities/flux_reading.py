"""Reading a flow file for its import: the reader of its kind, the records of a slice, the header a slice is judged
with, the rule set of its date; a file that cannot be read is a non-retryable failure."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Iterator

from temporalio.exceptions import ApplicationError

from activities.cnaf_parser import CnafFluxReader
from activities.csv_import import ColumnMapping, CsvNewEntrants
from domain.flux import FluxHeader, ParsedRecord
from domain.flux_import import SliceRequest
from domain.rules import RULE_SETS, RuleSet, rule_set_for


def make_reader(path: str | Path, source: str, mapping: dict[str, Any] | None) -> CnafFluxReader | CsvNewEntrants:
    """The CNAF XML reader, or the CSV/XLSX list reader when the import has a column mapping."""
    if mapping is not None:
        return CsvNewEntrants(path, ColumnMapping.model_validate(mapping))
    return CnafFluxReader(path)


def unreadable(message: str, refused: bool = False) -> ApplicationError:
    """Non-retryable: reading the same bytes again gives the same answer."""
    return ApplicationError(message, type="FLUX_REFUSED" if refused else "FLUX_UNREADABLE", non_retryable=True)


def records_between(reader: Any, first: int, last: int) -> Iterator[ParsedRecord]:
    """The records of positions ``first``..``last``; the file is read from its start (no seeking in a stream)."""
    for record in reader:
        if record.position == 0 or record.position < first:
            continue
        if record.position > last:
            break
        yield record


def slice_header(reader: Any, req: SliceRequest) -> FluxHeader:
    """The file's header; a list (no DTCREAFLUX) takes the survey's flow date."""
    header = getattr(reader, "header", None)
    if header is not None and header.creation_date is not None:
        return header
    return FluxHeader(creation_date=req.flow_date, flow_type=header.flow_type if header else None)


def rules_for_flow(day: date) -> RuleSet:
    """The rule set of a flow's date."""
    try:
        return rule_set_for(day)
    except ValueError:  # a flow dated before the first rule set: the earliest applies
        return min(RULE_SETS, key=lambda r: r.effective_from)


def flow_source(source: str) -> str:
    """The source recorded for a flow's observations: MSA, else CAF (CSV lists are CAF's)."""
    return "MSA" if source == "MSA" else "CAF"
