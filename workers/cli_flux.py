"""`parcours flux ...` sub-commands: read, check and generate CAF/MSA beneficiaries flows.

``import --dry-run`` needs no server: it parses and validates the file and prints a summary. Output never
holds a NIR, a name or a matricule: rejections are given by position and reason only.
"""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Iterable, Iterator, NoReturn, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from activities.cnaf_parser import CnafFluxReader, FluxUnreadable
from activities.csv_import import CsvNewEntrants, load_mapping
from activities.flux_generator import generate_flux
from domain.flux import FluxSummary, ParsedRecord
from workers.cli_core import OneLineErrors

app = typer.Typer(help="CAF/MSA beneficiaries flows: check, import, generate.", no_args_is_help=True)

UNREADABLE = 2
_TABLE_ROWS = 50


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def _fail(message: str) -> NoReturn:
    typer.echo(" ".join(message.split()), err=True)
    raise typer.Exit(UNREADABLE)


def _records_with_progress(reader: CnafFluxReader | CsvNewEntrants, show: bool) -> Iterator[ParsedRecord]:
    """Yield the reader's records, moving a progress bar on stderr (by bytes read) when ``show``."""
    if not show:
        yield from reader
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[households]} households"),
        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    )
    with progress:
        task = progress.add_task(reader.path.name, total=max(reader.total_bytes, 1), households=0)
        for count, record in enumerate(reader, start=1):
            if count % 500 == 0:
                progress.update(task, completed=reader.raw_bytes, households=count)
            yield record
        progress.update(task, completed=reader.total_bytes)


def summarise(records: Iterable[ParsedRecord]) -> FluxSummary:
    summary = FluxSummary()
    for record in records:
        summary.add(record)
    return summary


def _print_table(summary: FluxSummary, name: str) -> None:
    console = Console()
    console.print(f"[bold]{name}[/bold]: dry run, nothing imported")
    totals = Table(show_header=False)
    totals.add_column(style="bold")
    totals.add_column(justify="right")
    totals.add_row("households accepted", str(summary.households))
    totals.add_row("persons", str(summary.persons))
    totals.add_row("subject to rights and duties", str(summary.subject_to_duties))
    totals.add_row("records rejected", str(len(summary.rejected)))
    console.print(totals)
    if summary.rejected:
        rejected = Table(title="rejected records")
        rejected.add_column("position", justify="right")
        rejected.add_column("reason", overflow="fold")
        for item in summary.rejected[:_TABLE_ROWS]:
            rejected.add_row(str(item.position), item.reason)
        console.print(rejected)
        if len(summary.rejected) > _TABLE_ROWS:
            console.print(f"… and {len(summary.rejected) - _TABLE_ROWS} more (use --format json for all)")


@app.command("import", cls=OneLineErrors)
def import_flux(
    file: Path = typer.Argument(..., metavar="FILE", help="CNAF XML flow (or CSV list with --mapping)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Parse and validate only; no server needed."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table (with progress) or json."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Column mapping (TOML/JSON): FILE is a CSV list."),
) -> None:
    """Import a CAF/MSA beneficiaries flow; with --dry-run, check it and print a summary."""
    if not dry_run:
        _fail("parcours flux import: not implemented yet: needs the import workflow (use --dry-run to check a file)")
    try:
        reader: CnafFluxReader | CsvNewEntrants
        reader = CsvNewEntrants(file, load_mapping(mapping)) if mapping else CnafFluxReader(file)
        summary = summarise(_records_with_progress(reader, show=output is OutputFormat.table))
    except FluxUnreadable as exc:
        _fail(f"parcours flux import: {exc}")
    if output is OutputFormat.json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), ensure_ascii=False))
    else:
        _print_table(summary, file.name)


@app.command("generate", cls=OneLineErrors)
def generate(
    out: Path = typer.Argument(..., metavar="OUT.xml", help="File to write."),
    households: int = typer.Option(..., "--households", min=0, help="Number of households."),
    seed: int = typer.Option(..., "--seed", help="Random seed: same seed, same file."),
    invalid_share: float = typer.Option(0.0, "--invalid-share", min=0.0, max=1.0,
                                        help="Share of households made invalid, cycling through every rejection reason."),
    flow_date: Optional[str] = typer.Option(None, "--flow-date", metavar="YYYY-MM-DD",
                                            help="DTCREAFLUX of the file (default: today)."),
) -> None:
    """Write a synthetic CNAF beneficiaries flow (fake names, valid-looking NIRs, no real person)."""
    try:
        day = date.fromisoformat(flow_date) if flow_date else date.today()
    except ValueError:
        _fail(f"parcours flux generate: --flow-date must be YYYY-MM-DD, got {flow_date!r}")
    try:
        report = generate_flux(out, households=households, seed=seed, flow_date=day, invalid_share=invalid_share)
    except OSError as exc:
        _fail(f"parcours flux generate: cannot write {out}: {exc.strerror or exc}")
    invalid = sum(report.injected.values())
    typer.echo(f"wrote {report.households} households ({report.persons} persons, {invalid} invalid) to {out}")
