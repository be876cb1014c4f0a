"""`parcours cer ...` sub-commands.

``parcours cer score FILE`` scores one CER evaluation (JSON, ``-`` for stdin) on the Annexe 2 grid and
prints ``{"sections": {...}, "total": x, "max": 10, "percent": x}``. An invalid input exits with code 2
and one line on stderr naming the field or the rule, and prints nothing on stdout.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

import typer

from domain.cer_grid import CerInputError, parse_cer_evaluation, score_cer
from domain.deadlines import paris_date
from domain.rules import RuleSet, rule_set_for


def rules_in_force() -> RuleSet:
    """The rule set in force today (Paris): the grid an evaluator scores with now."""
    return rule_set_for(paris_date(datetime.now(timezone.utc)))

app = typer.Typer(help="CER quality grid (Annexe 2 of the Label référent RSA).", no_args_is_help=True)


def read_json_input(source: str) -> Any:
    """Decode JSON from a file path or ``-`` (stdin); raise ``ValueError`` with a one-line reason."""
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as error:
        raise ValueError(f"{source}: cannot read file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{source}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def fail(message: str) -> None:
    """Exit code 2 with exactly one line on stderr."""
    typer.echo(" ".join(message.splitlines()), err=True)
    raise typer.Exit(2)


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
