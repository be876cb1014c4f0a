"""`parcours flux ...` sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="flux commands", no_args_is_help=True)
