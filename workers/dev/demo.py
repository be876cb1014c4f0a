"""``parcours dev --demo N``: a synthetic flow of N households (no real person), imported into pathways
so the Web UI and the dashboards show live pathways right after start-up.

The file is written in the drop directory like a real CAF drop, dated today; the same N on the same day
gives the same bytes, so a second ``--demo N`` is the same import (a no-op returning its result).
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from activities.cnaf_parser import file_digest
from activities.drop_files import make_private, private_dir
from activities.flux_generator import generate_flux
from domain.deadlines import PARIS
from domain.flux_import import DEFAULT_TERRITORY, FluxImportInput, FluxImportResult
from workers.cli.common import run_import
from workers.runtime.config import Settings, drop_directory

DEMO_INVALID_SHARE = 0.02  # a few rejected records, so the quarantine is not empty either


def write_demo_flux(drop_dir: Path, households: int) -> Path:
    """Generate the demo file in the drop directory (written under a temporary name, then renamed)."""
    today = datetime.now(PARIS).date()
    path = private_dir(drop_dir) / f"demo-{today.isoformat()}-{households}.xml"
    if not path.exists():
        partial = path.with_name(f".{path.name}.part")
        generate_flux(partial, households=households, seed=households * 7919 + today.toordinal(), flow_date=today,
                      invalid_share=DEMO_INVALID_SHARE)
        make_private(partial)
        os.replace(partial, path)
    return path


def run_demo(settings: Settings, households: int, *, territory: str = DEFAULT_TERRITORY,
             console: Console | None = None) -> FluxImportResult:
    """Generate ``households`` households and import them through the ``FluxImport`` workflow (waits)."""
    console = console or Console(stderr=True, highlight=False)
    path = write_demo_flux(drop_directory(settings), households)
    inp = FluxImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                          territory=territory, remove_when_imported=True)
    progress = Progress(TextColumn("[bold]demo import"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        console=console, transient=True)
    task = progress.add_task("demo", total=None)
    with progress:
        _, result = asyncio.run(run_import(
            settings, inp, on_progress=lambda done, total: progress.update(task, completed=done, total=total)))
    assert result is not None
    console.print(f"demo: {result.households} households, {result.new_pathways} pathways started, "
                  f"{result.rejected} records quarantined ({path.name})")
    return result
