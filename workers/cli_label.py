"""`parcours label ...` sub-commands.

``parcours label evaluate FILE`` evaluates a structure's label file (JSON, ``-`` for stdin; the format is
documented in ``domain/label_evaluation.py``) and prints the proposal as JSON: ``proposal`` ("grant" or
"refuse"), ``reasons`` (every reason, one sentence each), both gates with their details, the recorded
seed and drawn CER sample, the 50/50 presentation and the items flagged for DPID review. ``--text``
prints the proposal and the reasons as plain lines instead. Invalid input exits with code 2 and one line
on stderr.
"""

from __future__ import annotations

import json

import typer

from domain.label_evaluation import LabelInputError, evaluate_structure, parse_label_file
from workers.cli_cer import fail, read_json_input

app = typer.Typer(help="Label référent RSA commands.", no_args_is_help=True)


@app.command("evaluate")
def evaluate(
    file: str = typer.Argument(..., metavar="FILE", help="Label file as JSON; - reads stdin."),
    renewal: bool = typer.Option(False, "--renewal", help="Renewal: reduced CER sample (lighter procedure)."),
    text: bool = typer.Option(False, "--text", help="Print the proposal and reasons as plain lines."),
) -> None:
    """Propose grant or refusal of the label, with every reason.

    FILE: {"structure_id", "evaluation_date": "YYYY-MM-DD", "seed"?, "cer_per_professional"?,
    "professionals": [{"professional_id", "arrival_date"?, "attestations": [{"module", "attended_on",
    "external"?, "equivalence_accepted"?}], "absences"?: [{"module", "reason", "rebooked_on"?}],
    "training_plan"?: [{"module", "planned_on"}], "cers": [{"cer_id", "self_score"?, "evaluation": <the
    `parcours cer score` input>}]}]}. Full description in domain/label_evaluation.py.
    """
    try:
        label_file = parse_label_file(read_json_input(file))
    except (ValueError, LabelInputError) as error:
        fail(str(error))
        return
    proposal = evaluate_structure(label_file, renewal=renewal)
    if text:
        typer.echo(f"{proposal.structure_id}: {proposal.proposal}")
        for reason in proposal.reasons:
            typer.echo(f"- {reason}")
        for flag in proposal.review_flags:
            typer.echo(f"! review: {flag}")
        return
    typer.echo(json.dumps(proposal.model_dump(mode="json"), ensure_ascii=False, indent=2))
