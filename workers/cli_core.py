"""Small top-level commands: ``parcours deadline`` and friends."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Callable, NoReturn, Optional

import typer
from typer.core import TyperCommand

from domain.deadlines import party_deadline, service_deadline

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
USAGE_ERROR = 2
# typer >= 0.2x vendors its own click; find the usage-error class through a public export either way.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineErrors(TyperCommand):
    """Report usage errors as one line on stderr (exit 2) instead of click's usage block or rich panel.

    Staff and scripts read the command's answer; a bad call must be as easy to parse as a good one.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _UsageError as error:
            _fail(f"{ctx.command_path}: {error.format_message()}")


def _fail(message: str) -> NoReturn:
    typer.echo(" ".join(message.split()), err=True)
    raise typer.Exit(USAGE_ERROR)


def secrets_or_exit(command: str, loaders: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """The secrets a service needs, or exit 2 naming every missing or unsafe variable (nothing is started)."""
    from workers.config import load_startup_secrets

    values, problems = load_startup_secrets(loaders)
    if problems:
        typer.echo(f"parcours {command}: cannot start: " + "; ".join(problems), err=True)
        raise typer.Exit(USAGE_ERROR)
    return values


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
        _fail(f"parcours deadline: START must be a date YYYY-MM-DD, got {start!r}")
    try:
        start_day = date.fromisoformat(start)
    except ValueError:
        _fail(f"parcours deadline: START is not a calendar date: {start!r}")
    if (months is None) == (days is None):
        _fail("parcours deadline: give exactly one of --months N or --days N")
    length = months if months is not None else days
    if length < 0:
        _fail(f"parcours deadline: the length cannot be negative, got {length}")
    compute = party_deadline if party else service_deadline
    try:
        due = compute(start_day, months=months or 0, days=days or 0)
    except OverflowError:
        _fail("parcours deadline: the due date would be out of the calendar's range")
    except ValueError as error:
        _fail(f"parcours deadline: {error}")
    typer.echo(due.isoformat())


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("deadline", cls=OneLineErrors)(deadline)
