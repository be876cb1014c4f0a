"""`parcours flux ...` sub-commands: read, check and generate CAF/MSA beneficiaries flows.

``import --dry-run`` needs no server: it parses and validates the file and prints a summary. Without
``--dry-run`` the file is copied into the drop directory (``PARCOURS_DROP_DIR``, default
``$PARCOURS_HOME/drop``: the one place flow files, and so NIRs and names, are kept), a ``FluxImport``
workflow is started (or joined: same bytes, same workflow) and a progress bar follows it. Output never
holds a NIR, a name or a matricule: rejections are given by position and reason only.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from activities.cnaf_parser import CnafFluxReader, FluxUnreadable, file_digest
from activities.csv_import import CsvNewEntrants, load_mapping
from activities.flux_generator import generate_flux
from domain.flux import FluxSummary, ParsedRecord
from domain.flux_import import DEFAULT_TERRITORY, FluxImportInput
from workers.cli.common import (
    OneLineErrors, OutputFormat, fail, run_client_command, run_import, stage_file,
)
from workers.runtime.config import Settings, drop_directory

app = typer.Typer(help="CAF/MSA beneficiaries flows: check, import, generate.", no_args_is_help=True)

_TABLE_ROWS = 50


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


def summarise(records: Iterable[ParsedRecord], reader: CnafFluxReader | CsvNewEntrants | None = None) -> FluxSummary:
    """Counts, rejections and warnings of a read; the reader's file-level warnings (trailer) come last."""
    summary = FluxSummary()
    for record in records:
        summary.add(record)
    for position, reason in getattr(reader, "file_warnings", lambda: [])():
        summary.warn(position, reason)
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
    totals.add_row("subject to duties unknown (no pathway yet)", str(summary.subject_to_duties_unknown))
    totals.add_row("records rejected", str(len(summary.rejected)))
    totals.add_row("warnings", str(len(summary.warnings)))
    console.print(totals)
    for item in summary.warnings[:_TABLE_ROWS]:
        console.print(f"warning at position {item.position}: {item.reason}")
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
    mapping: Optional[Path] = typer.Option(None, "--mapping",
                                           help="Column mapping (TOML/JSON): FILE is a CSV or .xlsx list."),
    territory: str = typer.Option(DEFAULT_TERRITORY, "--territory", help="Territory of the pathways started."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Positions per batch activity."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the import to its end (default)."),
) -> None:
    """Import a CAF/MSA beneficiaries flow; with --dry-run, check it and print a summary."""
    if mapping is None and file.suffix.lower() in (".xlsx", ".csv", ".xls"):
        fail(f"parcours flux import: {file.name} is a list: give its column mapping with --mapping (see README)")
    if not dry_run:
        _import(file, output, mapping, territory, batch_size, wait)
        return
    try:
        reader: CnafFluxReader | CsvNewEntrants
        reader = CsvNewEntrants(file, load_mapping(mapping)) if mapping else CnafFluxReader(file)
        summary = summarise(_records_with_progress(reader, show=output is OutputFormat.table), reader)
    except FluxUnreadable as exc:
        fail(f"parcours flux import: {exc}")
    if output is OutputFormat.json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), ensure_ascii=False))
    else:
        _print_table(summary, file.name)


# ---------------------------------------------------------------- import through the workflow


def _import(file: Path, output: OutputFormat, mapping: Optional[Path], territory: str, batch_size: Optional[int],
            wait: bool) -> None:
    settings = Settings.from_env()
    if not file.is_file():
        fail(f"parcours flux import: cannot open {file.name}: no such regular file")
    try:
        digest = file_digest(file)
        staged = stage_file(file, drop_directory(settings), digest)
    except OSError as exc:
        fail(f"parcours flux import: cannot read {file.name}: {exc.strerror or exc}")
    inp = FluxImportInput(
        file_path=str(staged), file_digest=digest, file_name=file.name, territory=territory, batch_size=batch_size,
        remove_when_imported=True,
        source="CSV" if mapping else "CAF", mapping=load_mapping(mapping).model_dump() if mapping else None,
    )
    show = wait and output is OutputFormat.table
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = progress.add_task(file.name, total=None)

    def moved(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    try:
        if show:
            with progress:
                workflow_id, result = run_client_command(run_import(settings, inp, wait=wait, on_progress=moved))
        else:
            workflow_id, result = run_client_command(run_import(settings, inp, wait=wait))
    except Exception as exc:  # noqa: BLE001 - server unreachable, import failed: one line, no trace
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        typer.echo(f"parcours flux import: {' '.join(str(message).split())}", err=True)
        raise typer.Exit(1)
    if result is None:
        summary = {"workflow_id": workflow_id, "file_digest": digest}
        typer.echo(json.dumps(summary) if output is OutputFormat.json else f"import started: {workflow_id}")
        return
    if output is OutputFormat.json:
        typer.echo(json.dumps({"workflow_id": workflow_id, **result.model_dump(mode="json")}, ensure_ascii=False))
        return
    console = Console()
    console.print(f"[bold]{file.name}[/bold]: imported ({workflow_id})")
    totals = Table(show_header=False)
    totals.add_column(style="bold")
    totals.add_column(justify="right")
    for label, value in (("households accepted", result.households), ("persons", result.persons),
                         ("subject to rights and duties", result.subject_to_duties),
                         ("records rejected (quarantined)", result.rejected), ("pathway signals", result.signals),
                         ("pathways started", result.new_pathways)):
        totals.add_row(label, str(value))
    console.print(totals)


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
        fail(f"parcours flux generate: --flow-date must be YYYY-MM-DD, got {flow_date!r}")
    try:
        report = generate_flux(out, households=households, seed=seed, flow_date=day, invalid_share=invalid_share)
    except OSError as exc:
        fail(f"parcours flux generate: cannot write {out}: {exc.strerror or exc}")
    invalid = sum(report.injected.values())
    typer.echo(f"wrote {report.households} households ({report.persons} persons, {invalid} invalid) to {out}")
