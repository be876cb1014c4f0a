"""`parcours report caf`: the CAF's quota and counts per referent id and per ETP (live, from DATABASE_URL), or
the annual report stored each 31 January (``--stored``). Counts and opaque ids only.

    parcours report caf --year YYYY [--etp N] [--stored] [--format table|json]

Exit 0 with the report; 1 when ``--stored`` finds no report for the year or the database is unreachable;
2 on bad input.
"""

from __future__ import annotations

import asyncio
import json
from typing import Optional

import typer

from workers.runtime.config import Settings


def caf(
    year: int = typer.Option(..., "--year", min=2009, max=2100, help="The year counted (accompaniments started)."),
    etp: Optional[int] = typer.Option(None, "--etp", min=1, max=10000,
                                      help="CAF social workers in ETP (default: the convention's, 65)."),
    stored: bool = typer.Option(False, "--stored", help="The report stored on 31 January of the next year."),
    output: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """The CAF's quota (≥ 20 per ETP, 1 300 a year) and counts per CAF referent id, or its stored annual report."""
    if output not in ("table", "json"):
        typer.echo(f"parcours report caf: --format is table or json, got {output!r}", err=True)
        raise typer.Exit(2)
    settings = Settings.from_env()
    if not settings.database_url:
        typer.echo("parcours report caf: DATABASE_URL is not set", err=True)
        raise typer.Exit(2)
    try:
        report = asyncio.run(_read(settings.database_url, year, etp, stored))
    except OSError as exc:
        typer.echo(f"parcours report caf: database unreachable ({type(exc).__name__})", err=True)
        raise typer.Exit(1)
    if report is None:
        typer.echo(f"parcours report caf: no CAF report stored for {year} (built each 31 January of the next year)",
                   err=True)
        raise typer.Exit(1)
    if output == "json":
        typer.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=1))
        return
    typer.echo(f"CAF {report.year} — convention {report.convention} "
               f"({report.convention_period[0]} to {report.convention_period[1]}), report due {report.due_on}")
    typer.echo(f"accompaniments {report.accompaniments} / {report.year_target} a year"
               f"{' (reached)' if report.year_reached else ''}; 2022: {report.reference_2022}")
    typer.echo(f"per ETP {report.per_etp} / {report.per_etp_target} over {report.etp} ETP"
               f"{' (reached)' if report.per_etp_reached else ' — widening M3 possible'}")
    for s in report.structures:
        typer.echo(f"  {s.structure_id}: {s.accompaniments}{' (≥ ' + str(s.per_etp_target) + ')' if s.reached else ''}")
    f = report.facts
    typer.echo(f"CERs signed {f.cers_signed}; ended {f.cers_ended}, of which ≥ 3 physical appointments "
               f"{f.cers_ended_with_3_physical}; reorientations {f.reorientations}")
    for label, counts in (("saisines", f.saisines_by_mode), ("exits", f.exits_by_reason),
                          ("GESICA domains", f.cers_by_gesica_domain)):
        if counts:
            typer.echo(f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


async def _read(database_url: str, year: int, etp: int | None, stored: bool):
    import asyncpg

    from activities.caf_report import CafReportStore

    conn = await asyncpg.connect(database_url)
    try:
        store = CafReportStore(conn)
        return await store.stored(year) if stored else await store.report(year, etp)
    finally:
        await conn.close()
