"""`parcours label ...` sub-commands.

``parcours label evaluate FILE`` evaluates a structure's label file (JSON, ``-`` for stdin; the format is
documented in ``domain/label_evaluation.py``) and prints the proposal as JSON: ``proposal`` ("grant" or
"refuse"), ``reasons`` (every reason, one sentence each), both gates with their details, the recorded
seed and drawn CER sample, the 50/50 presentation and the items flagged for DPID review. ``--text``
prints the proposal and the reasons as plain lines instead. Invalid input exits with code 2 and one line
on stderr.

Two commands answer from the label read model (``DATABASE_URL``), never from Temporal:

    parcours label is-labelled STRUCTURE_ID [--on YYYY-MM-DD] [--format table|json] [--funding]
    parcours label yearly-list --year YYYY [--format table|csv|json]

``is-labelled`` is the funding check: exit 0 when the structure holds a valid label on the day (default:
today), 1 when it does not, 2 on bad input (structure id, date, DATABASE_URL unset), 3 when the database
cannot answer (so a script never reads an outage as "not labelled"). ``label_valid_until`` is the last day
of validity (included). With ``--funding`` the exit code answers "may it be funded?" instead, and the JSON
adds ``funding_allowed`` / ``funding_reason`` (label required from mid-2026; structures listed in
``PARCOURS_LABEL_FUNDING_EXEMPT``, the CAF, are exempt: G-L23). ``yearly-list`` is the annual report to the Commission Permanente: the labels
granted in the year (ceremony) and every label valid at some point of it; ``expires_on`` / ``ended_on`` are
read-model dates, the first day no longer valid. Output holds opaque structure ids, territories, dates and
statuses only.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from enum import Enum
from typing import Any, Awaitable, Callable, Optional, TypeVar

import typer

from domain.label import validate_structure_id
from domain.label_funding import funding_answer, parse_exempt
from domain.rules import RULE_SETS, rule_set_for
from domain.label_evaluation import LabelInputError, evaluate_structure, parse_label_file
from workers.cli.common import OneLineErrors, fail, on_read_model, read_json_input, rules_in_force
from workers.runtime.config import Settings

T = TypeVar("T")
NOT_LABELLED = 1
DATABASE_FAILURE = 3  # is-labelled: 1 already means "not labelled"
YEARLY_COLUMNS = ("list", "structure_id", "territory", "granted_on", "expires_on", "status", "ended_on")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)

app = typer.Typer(help="Label référent RSA commands.", no_args_is_help=True)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class AnswerFormat(str, Enum):
    table = "table"
    json = "json"


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
        rules = rules_in_force()
        label_file = parse_label_file(read_json_input(file), rules)
    except (ValueError, LabelInputError) as error:
        fail(str(error))
        return
    proposal = evaluate_structure(label_file, rules, renewal=renewal)
    if text:
        typer.echo(f"{proposal.structure_id}: {proposal.proposal}")
        for reason in proposal.reasons:
            typer.echo(f"- {reason}")
        for flag in proposal.review_flags:
            typer.echo(f"! review: {flag}")
        return
    typer.echo(json.dumps(proposal.model_dump(mode="json"), ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- read model


def _read_model(command: str, query: Callable[[Any], Awaitable[T]], failure_code: int) -> T:
    """Run ``query`` on a ``LabelRegistry`` over DATABASE_URL; database trouble is one line, no traceback."""
    from activities.label import LabelRegistry

    return on_read_model(f"parcours label {command}", lambda pool: query(LabelRegistry(pool)), failure_code,
                         "the answer comes from the PostgreSQL read model")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


@app.command("is-labelled", cls=OneLineErrors)
def is_labelled(
    structure_id: str = typer.Argument(..., metavar="STRUCTURE_ID", help="Opaque structure id."),
    on: Optional[str] = typer.Option(None, "--on", metavar="YYYY-MM-DD", help="Day of the check (default: today)."),
    output: AnswerFormat = typer.Option(AnswerFormat.table, "--format", help="table or json."),
    funding: bool = typer.Option(False, "--funding", help="Exit 0/1 on whether the structure may be funded "
                                 "(label required from mid-2026; PARCOURS_LABEL_FUNDING_EXEMPT, G-L23)."),
) -> None:
    """Does the structure hold a valid label on the day? Exit 0 yes, 1 no, 2 bad input, 3 database failure."""
    try:
        validate_structure_id(structure_id)
        exempt = parse_exempt(Settings.from_env().label_funding_exempt)
    except ValueError as error:
        fail(f"parcours label is-labelled: {error}, got {structure_id!r}")
    if on is None:
        day = date.today()
    else:
        try:
            if not _ISO_DATE.match(on):
                raise ValueError
            day = date.fromisoformat(on)
        except ValueError:
            fail(f"parcours label is-labelled: --on must be a calendar date YYYY-MM-DD, got {on!r}")
    label = _read_model("is-labelled", lambda registry: registry.label_on(structure_id, day), DATABASE_FAILURE)
    answer = {
        "structure_id": structure_id,
        "labelled": label is not None,
        "on": day.isoformat(),
        "label_valid_until": None,
        "granted_on": None,
        "label_status": None,
    }
    if funding:
        rules = rule_set_for(max(day, RULE_SETS[0].effective_from))
        answer.update(funding_answer(structure_id, day, label is not None, exempt, rules).model_dump())
    if label is not None:
        answer.update(
            label_valid_until=((label["ended_on"] or label["expires_on"]) - timedelta(days=1)).isoformat(),
            granted_on=label["granted_on"].isoformat(),
            label_status=label["status"],
        )
    if output is AnswerFormat.json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
    elif label is None:
        typer.echo(f"{structure_id}: not labelled on {answer['on']}")
    else:
        typer.echo(f"{structure_id}: labelled on {answer['on']} (granted {answer['granted_on']}, valid until "
                   f"{answer['label_valid_until']} included, status {answer['label_status']})")
    if not (answer["funding_allowed"] if funding else label is not None):
        raise typer.Exit(NOT_LABELLED)


@app.command("yearly-list", cls=OneLineErrors)
def yearly_list(
    year: int = typer.Option(..., "--year", min=1, max=9999, metavar="YYYY", help="Calendar year of the report."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, csv or json."),
    stored: bool = typer.Option(False, "--stored", help="The list stored by the yearly LabelYearlyList run."),
) -> None:
    """Annual report to the Commission Permanente: labels granted in the year, and labels valid during it."""
    if stored:
        listing = _read_model("yearly-list", lambda registry: registry.stored_yearly_list(year), 1)
        if listing is None:
            fail(f"parcours label yearly-list: no stored list for {year} (the LabelYearlyList workflow has not run)")
    else:
        listing = _read_model("yearly-list", lambda registry: registry.yearly_list(year), 1)
    rows = {name: [{key: _iso(value) for key, value in row.items()} for row in listing[name]]
            for name in ("granted", "labelled")}
    if output is OutputFormat.json:
        typer.echo(json.dumps({"year": year, **rows}, ensure_ascii=False))
    elif output is OutputFormat.csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=YEARLY_COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        for name, entries in rows.items():
            for row in entries:
                writer.writerow({"list": name, **{k: "" if v is None else v for k, v in row.items()}})
        typer.echo(out.getvalue(), nl=False)
    else:
        _print_yearly(year, rows)


def _print_yearly(year: int, rows: dict[str, list[dict[str, Any]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    titles = {"granted": f"Labels accordés en {year} ({len(rows['granted'])})",
              "labelled": f"Structures labellisées en {year} ({len(rows['labelled'])})"}
    for name, entries in rows.items():
        table = Table(title=titles[name])
        columns = [c for c in YEARLY_COLUMNS[1:] if name == "labelled" or c not in ("status", "ended_on")]
        for column in columns:
            table.add_column(column)
        for row in entries:
            table.add_row(*("—" if row.get(c) is None else str(row[c]) for c in columns))
        console.print(table)
