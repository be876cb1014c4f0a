"""`parcours label ...` sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="label commands", no_args_is_help=True)
