"""`parcours cer ...` sub-commands.

``parcours cer score FILE`` scores one CER evaluation (JSON, ``-`` for stdin) on the Annexe 2 grid and
prints ``{"sections": {...}, "total": x, "max": 10, "percent": x}``. An invalid input exits with code 2
and one line on stderr naming the field or the rule, and prints nothing on stdout.
"""

from __future__ import annotations

import json

import typer

from domain.cer_grid import CerInputError, parse_cer_evaluation, score_cer
from workers.cli.common import fail, read_json_input, rules_in_force


app = typer.Typer(help="CER quality grid (Annexe 2 of the Label référent RSA).", no_args_is_help=True)


@app.command("score")
def score(file: str = typer.Argument(..., metavar="FILE", help="CER evaluation as JSON; - reads stdin.")) -> None:
    """Score one CER evaluation on the 10-point grid."""
    try:
        rules = rules_in_force()
        evaluation = parse_cer_evaluation(read_json_input(file), rules)
    except (ValueError, CerInputError) as error:
        fail(str(error))
        return
    typer.echo(json.dumps(score_cer(evaluation, rules).model_dump(mode="json"), ensure_ascii=False))
