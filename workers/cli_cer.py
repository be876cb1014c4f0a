"""`parcours cer ...` sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="cer commands", no_args_is_help=True)
