"""`parcours caseload import FILE [--mapping M] [--dry-run] [--format table|json] [--no-past-breaches] [--update]`.

``--dry-run`` starts nothing: every row is validated and replayed against the pathway rules (as the import would
on this day) and, with ``DATABASE_URL``, judged against the adoptions and identity links already there (a row by NIR
whose person was adopted by CAF matricule + rank and linked is ``unchanged`` or ``CHANGED_ROW``, as in the import;
with ``--update``, a changed row whose pathway lived since its adoption ``PATHWAY_MOVED``, read from Temporal);
the command prints what would be adopted, by stage, each row's outcome and each rejected row with its reason.
Without it, the file is copied into the drop directory (as ``parcours flux import`` does), a ``CaseloadImport``
workflow is started (or joined: same bytes, same workflow) and followed until done. Output never holds a NIR or
a matricule: rows are named by their number in the file (header excluded).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from activities.caseload_file import CaseloadMapping, caseload_rows, default_mapping, load_caseload_mapping
from activities.caseload_import import judge
from activities.cnaf_parser import FluxUnreadable, file_digest
from domain.caseload_import import CaseloadImportInput, CaseloadImportProgress, RowOutcome
from domain.deadlines import paris_date
from workers.cli.common import (
    OneLineErrors, OutputFormat, connect_client, fail, run_client_command, stage_file,
)
from workers.runtime.config import Settings, drop_directory

app = typer.Typer(help="A département's running caseload: adopt each case at its stage.", no_args_is_help=True)


def dry_run(file: Path, mapping: CaseloadMapping, past_breaches: bool, update: bool = False,
            settings: Settings | None = None) -> tuple[list[tuple[RowOutcome, bool]], bool]:
    """(each row's outcome and whether its NIR is linked, whether identities were looked up): the import's
    judgement, nothing started. With the read model's ``DATABASE_URL`` (and the person-id secret) in ``settings``,
    the rows are judged against the adoptions and identity links already there, as the import would, and with
    ``update`` a changed row's pathway history is read from Temporal (``PATHWAY_MOVED``); without it, alone."""
    now = datetime.now(timezone.utc)
    today = paris_date(now)
    digest = file_digest(file)
    if settings is not None and settings.database_url:
        return run_client_command(_preview(settings, file, mapping, today, now, digest, past_breaches, update)), True
    secret = secrets.token_bytes(32)  # ids are never shown: any key tells the same rows apart
    outcomes = []
    for number, raw in caseload_rows(file, mapping):
        judged = judge(raw, number, today, now, secret, file_digest_=digest, past_breaches=past_breaches)
        outcomes.append((judged if isinstance(judged, RowOutcome)
                         else RowOutcome(row=number, outcome="adopted", stage=judged[1].stage.value), False))
    return outcomes, False


async def _preview(settings: Settings, file: Path, mapping: CaseloadMapping, today, now, digest: str,
                   past_breaches: bool, update: bool) -> list[tuple[RowOutcome, bool]]:
    import asyncpg

    from activities.caseload_import import CaseloadImporter

    client = None
    if update:  # whether an adopted pathway moved since its adoption: its history
        try:
            client = await connect_client(settings)
        except Exception as exc:  # noqa: BLE001 - unreachable server, no keys: one line
            raise RuntimeError(" ".join(str(getattr(exc, "message", None) or exc).split())) from None
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        return await CaseloadImporter(pool, settings.person_id_key, client).preview(
            str(file), mapping, today, now, digest, past_breaches=past_breaches, update=update)
    finally:
        await pool.close()


def dry_run_summary(name: str, outcomes: list[tuple[RowOutcome, bool]], identities: bool) -> dict:
    """The dry run's JSON: counts by outcome, the stages the adopted (or updated) rows start at, every rejection
    with its reason, and each row's outcome (row numbers, codes and stages only)."""
    counts = Counter(o.outcome for o, _ in outcomes)
    stages = Counter(o.stage for o, _ in outcomes if o.outcome in ("adopted", "updated"))
    return {"file": name, "dry_run": True, "identities_checked": identities, "rows": len(outcomes),
            **{k: counts.get(k, 0) for k in ("adopted", "unchanged", "updated", "rejected")},
            "linked": sum(linked for _, linked in outcomes), "stages": dict(sorted(stages.items())),
            "rejections": [o.model_dump(include={"row", "code", "reason"}) for o, _ in outcomes
                           if o.outcome == "rejected"],
            "outcomes": [{**o.model_dump(include={"row", "outcome", "code", "stage"}), "linked": linked}
                         for o, linked in outcomes]}


def _print_rejections(rejected: list[RowOutcome]) -> None:
    if not rejected:
        return
    table = Table("row", "code", "reason", title="rejected rows (nothing started for them)")
    for r in rejected:
        table.add_row(str(r.row), r.code or "", r.reason or "")
    Console().print(table)


async def _run(settings: Settings, inp: CaseloadImportInput, progress: Progress | None,
               poll_seconds: float = 0.5) -> tuple[str, CaseloadImportProgress, list[RowOutcome]]:
    from workflows.caseload_import import CaseloadImport, start_caseload_import

    client = await connect_client(settings)
    handle = await start_caseload_import(client, inp, task_queue=settings.temporal_task_queue)
    result_task = asyncio.ensure_future(handle.result())
    task = progress.add_task(inp.file_name, total=None) if progress is not None else None
    while not result_task.done():
        if progress is not None and task is not None:
            try:
                now = await handle.query(CaseloadImport.progress)
                progress.update(task, completed=now.done, total=now.total)
            except Exception:  # noqa: BLE001 - no worker yet, or the workflow just closed: progress is best-effort
                pass
        await asyncio.wait([result_task], timeout=poll_seconds)
    result = CaseloadImportProgress.model_validate(result_task.result())
    rejected: list[RowOutcome] = []
    if settings.database_url:
        import asyncpg

        from activities.caseload_import import CaseloadImporter

        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            rejected = await CaseloadImporter(pool, b"-", client).rejections(inp.file_digest)
        finally:
            await pool.close()
    return handle.id, result, rejected


@app.command("import", cls=OneLineErrors)
def import_(
    file: Path = typer.Argument(..., metavar="FILE", help="Caseload, CSV or XLSX (docs/caseload.md)."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Column mapping (TOML/JSON), as for flux import."),
    dry: bool = typer.Option(False, "--dry-run", help="Validate and replay every row; start nothing."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    no_past_breaches: bool = typer.Option(False, "--no-past-breaches",
                                          help="Deadlines past before the import: migration facts, not breaches."),
    update: bool = typer.Option(False, "--update", help="A changed row re-adopts its pathway, if nothing happened "
                                                        "to it since its adoption (else refused: PATHWAY_MOVED)."),
) -> None:
    """Adopt a département's running caseload: each pathway at its stage, with the clocks it would have had."""
    if not file.is_file():
        fail(f"parcours caseload import: cannot open {file.name}: no such regular file")
    settings = Settings.from_env()
    try:
        columns = load_caseload_mapping(mapping) if mapping else default_mapping()
        if dry:
            outcomes, identities = dry_run(file, columns, not no_past_breaches, update, settings)
    except (FluxUnreadable, OSError) as exc:
        fail(f"parcours caseload import: {exc}")
    except RuntimeError as exc:  # --update's dry run could not reach Temporal to read the adopted pathways
        fail(f"parcours caseload import: --dry-run --update reads the adopted pathways from Temporal: {exc}")
    if dry:
        summary = dry_run_summary(file.name, outcomes, identities)
        if output is OutputFormat.json:
            typer.echo(json.dumps(summary, ensure_ascii=False))
            return
        Console().print(f"[bold]{file.name}[/bold] (dry run): {summary['rows']} rows, {summary['adopted']} would be "
                        f"adopted, {summary['unchanged']} unchanged, {summary['updated']} updated, "
                        f"{summary['rejected']} rejected, {summary['linked']} by a linked NIR"
                        + ("" if identities else " (identities not looked up: no DATABASE_URL)"))
        table = Table("stage", "cases")
        for stage, n in summary["stages"].items():
            table.add_row(stage, str(n))
        Console().print(table)
        _print_rejections([o for o, _ in outcomes if o.outcome == "rejected"])
        return
    settings = Settings.from_env()
    try:
        digest = file_digest(file)
        staged = stage_file(file, drop_directory(settings), digest)
    except OSError as exc:
        fail(f"parcours caseload import: cannot read {file.name}: {exc.strerror or exc}")
    inp = CaseloadImportInput(file_path=str(staged), file_digest=digest, file_name=file.name[:255],
                              mapping=columns.model_dump(), past_breaches=not no_past_breaches, update=update)
    progress = None
    if output is OutputFormat.table:
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total} rows"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
    try:
        if progress is not None:
            with progress:
                workflow_id, result, rejected = run_client_command(_run(settings, inp, progress))
        else:
            workflow_id, result, rejected = run_client_command(_run(settings, inp, None))
    except Exception as exc:  # noqa: BLE001 - server unreachable, import failed: one line, no trace
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        typer.echo(f"parcours caseload import: {' '.join(str(message).split())}", err=True)
        raise typer.Exit(1)
    if output is OutputFormat.json:
        typer.echo(json.dumps({"workflow_id": workflow_id, **result.model_dump(mode="json"),
                               "rejections": [r.model_dump(include={"row", "code", "reason"}) for r in rejected]},
                              ensure_ascii=False))
        return
    Console().print(f"[bold]{file.name}[/bold]: {result.adopted} adopted, {result.unchanged} unchanged, "
                    f"{result.updated} updated, {result.rejected} rejected ({workflow_id})")
    _print_rejections(rejected)


