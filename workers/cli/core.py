"""Small top-level commands: ``parcours deadline`` and friends."""

from __future__ import annotations

import re
from datetime import date
from typing import Optional

import typer

from domain.deadlines import party_deadline, service_deadline
from workers.cli.common import OneLineErrors, fail

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def deadline(
    start: str = typer.Argument(..., metavar="START", help="Starting date, YYYY-MM-DD (e.g. date of notification)."),
    months: Optional[int] = typer.Option(None, "--months", help="Length in calendar months."),
    days: Optional[int] = typer.Option(None, "--days", help="Length in calendar days."),
    party: bool = typer.Option(
        False, "--party", help="A party's window to act (appeal, answer): extended past weekends and holidays."
    ),
) -> None:
    """Print the last allowed day (YYYY-MM-DD) of a deadline of N months or N days from START."""
    if not _ISO_DATE.match(start):
        fail(f"parcours deadline: START must be a date YYYY-MM-DD, got {start!r}")
    try:
        start_day = date.fromisoformat(start)
    except ValueError:
        fail(f"parcours deadline: START is not a calendar date: {start!r}")
    if (months is None) == (days is None):
        fail("parcours deadline: give exactly one of --months N or --days N")
    length = months if months is not None else days
    if length < 0:
        fail(f"parcours deadline: the length cannot be negative, got {length}")
    compute = party_deadline if party else service_deadline
    try:
        due = compute(start_day, months=months or 0, days=days or 0)
    except OverflowError:
        fail("parcours deadline: the due date would be out of the calendar's range")
    except ValueError as error:
        fail(f"parcours deadline: {error}")
    typer.echo(due.isoformat())


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("deadline", cls=OneLineErrors)(deadline)
