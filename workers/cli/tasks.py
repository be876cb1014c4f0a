"""``parcours tasks``: the task inbox from the read model (``DATABASE_URL``), as ``GET /v1/tasks`` shows it.

    parcours tasks list [--assignee SLAI:<territory>] [--status OPEN] [--kind K] [--due-before YYYY-MM-DD]
                        [--pathway ID | --application ID] [--limit N] [--cursor C] [--format table|json]
    parcours tasks show TASK_ID [--format table|json]
    parcours tasks complete TASK_ID --actor agent:<id> (--outcome CATEGORY | --registered-letter-number N
                            --sent-on YYYY-MM-DD) [--format table|json]

A ``LETTER_TO_SEND`` task is completed once its label case took the sending (``record_letter_sent``, through
``TEMPORAL_ADDRESS`` with ``PARCOURS_ENCRYPTION_KEYS``), the task claimed for its completion meanwhile (no lock
held): the receipt clock starts from it and the person stays the task's closer.

Exit codes: 0 done, 1 no such task, the task is closed already, or its case refused, could not be told or did not
answer within the API's update bound (30 s), 2 bad input, 3 database unreachable.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime
from enum import Enum
from typing import Any, Awaitable, Callable, Optional, TypeVar

import typer

from workers.cli.common import OneLineErrors, fail, on_read_model

T = TypeVar("T")
NOT_DONE = 1
DATABASE_FAILURE = 3
COLUMNS = ("task_id", "kind", "assignee", "status", "due_date", "workflow_id", "closure_reason", "closed_by")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)

app = typer.Typer(help="The task inbox: list, show and complete human tasks.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    json = "json"


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    if not _ISO_DATE.match(value):
        fail(f"{option} must be YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} is not a calendar date")
        raise


def _check(value: str | None, pattern: str, option: str) -> str | None:
    if value is not None and not re.match(pattern, value):
        fail(f"{option} {value!r} is not valid")
    return value


def _store(command: str, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action`` on a TaskStore over DATABASE_URL: no such task or a closed one exits 1, database trouble 3."""
    from activities.tasks import LetterAlreadySent, TaskBusy, TaskClosed, TaskNotFound, TaskStore

    try:
        return on_read_model(f"parcours tasks {command}", lambda pool: action(TaskStore(pool)), DATABASE_FAILURE,
                             "tasks live in the PostgreSQL read model")
    except TaskNotFound as missing:
        typer.echo(f"parcours tasks {command}: no task {missing}", err=True)
    except (TaskClosed, TaskBusy, LetterAlreadySent) as closed:
        typer.echo(f"parcours tasks {command}: {closed}; nothing changed", err=True)
    raise typer.Exit(NOT_DONE)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _print(tasks: list[dict[str, Any]], output: Format, extra: dict[str, Any] | None = None) -> None:
    if output is Format.json:
        rows = [{k: _plain(v) for k, v in t.items() if k != "task_key"} for t in tasks]
        typer.echo(json.dumps((extra or {}) | {"tasks": rows}, ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in COLUMNS:
        table.add_column(column)
    for task in tasks:
        table.add_row(*("—" if task.get(c) is None else str(_plain(task[c])) for c in COLUMNS))
    Console().print(table)
    if extra and extra.get("next_cursor"):
        typer.echo(f"more: --cursor {extra['next_cursor']}")


@app.command("list", cls=OneLineErrors)
def list_tasks(
    assignee: Optional[str] = typer.Option(None, help="SLAI:<territory>, SLAI_MANAGER:<territory>, STRUCTURE:<id>, CAF, DPID…"),
    status: Optional[str] = typer.Option(None, help="OPEN, CLAIMED, DONE or CANCELLED."),
    kind: Optional[str] = typer.Option(None, help="e.g. ESCALATION_ORIENTATION, LETTER_TO_SEND."),
    due_before: Optional[str] = typer.Option(None, "--due-before", help="Due strictly before YYYY-MM-DD."),
    pathway: Optional[str] = typer.Option(None, help="pathway-<id>"),
    application: Optional[str] = typer.Option(None, help="label-<structure>-<n>"),
    limit: int = typer.Option(50, min=1, max=200),
    cursor: Optional[str] = typer.Option(None, help="The cursor printed after the previous page."),
    output: Format = typer.Option(Format.table, "--format", help="table or json."),
) -> None:
    """Tasks by due date (none last), then id."""
    from activities.page_cursor import InvalidCursor
    from activities.tasks import TaskFilter
    from domain.tasks import ASSIGNEE_PATTERN, KIND_PATTERN, TaskStatus
    from workers.api.commands import APPLICATION_PATTERN, PATHWAY_PATTERN

    if pathway and application:
        fail("give --pathway or --application, not both")
    if status is not None and status not in TaskStatus.__members__:
        fail(f"--status must be one of {', '.join(TaskStatus.__members__)}")
    where = TaskFilter(
        assignee=_check(assignee, ASSIGNEE_PATTERN, "--assignee"), status=status, kind=_check(kind, KIND_PATTERN, "--kind"),
        due_before=_day(due_before, "--due-before"),
        workflow_id=_check(pathway, PATHWAY_PATTERN, "--pathway") or _check(application, APPLICATION_PATTERN, "--application"))

    async def page(store: Any) -> tuple[list[dict[str, Any]], str | None]:
        try:
            return await store.list(where, limit=limit, cursor=cursor)
        except InvalidCursor as error:
            fail(str(error))
            raise

    rows, following = _store("list", page)
    _print(rows, output, {"next_cursor": following})


@app.command("show", cls=OneLineErrors)
def show(task_id: int = typer.Argument(..., min=1), output: Format = typer.Option(Format.table, "--format")) -> None:
    """One task, with its details, outcome and closure."""
    task = _store("show", lambda store: store.get(task_id))
    if output is Format.json:
        typer.echo(json.dumps({k: _plain(v) for k, v in task.items() if k != "task_key"}, indent=2, default=str))
        return
    for key, value in task.items():
        if key != "task_key":
            typer.echo(f"{key:15} {json.dumps(value, default=str) if isinstance(value, dict) else _plain(value)}")


async def _tell_case_letter_sent(task_id: int, task: dict[str, Any], number: str, sent_on: date | None,
                                 actor: str) -> None:
    """A letter's sending is first told to the label case that wrote it (``record_letter_sent``, as the API's
    completion does, bounded by the API's ``UPDATE_TIMEOUT``): its refusal or its silence exits 1 with the reason
    and the task stays open; a closed case keeps no clock."""
    from pydantic import ValidationError
    from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
    from temporalio.service import RPCError, RPCStatusCode

    from domain.label_contract import ApplicationMessages, LabelTaskDetails
    from domain.label_messages import letter_sent_by_task
    from workers.api.temporal import UPDATE_TIMEOUT
    from workers.cli.common import connect_client
    from workers.runtime.config import Settings

    assert sent_on is not None  # completion_outcome checked it
    try:
        message = letter_sent_by_task(task_id, LabelTaskDetails.model_validate(task["details"]).letter_key, number,
                                      sent_on, "parcours-cli", actor)
    except ValidationError:
        fail("--registered-letter-number: 6 to 30 capital letters, digits and spaces")
        raise
    try:
        client = await connect_client(Settings.from_env())
    except Exception as error:  # noqa: BLE001 - no server, no keys: one line, nothing changed
        typer.echo(f"parcours tasks complete: the letter's case cannot be told ({type(error).__name__}: {error}); "
                   "nothing changed", err=True)
        raise typer.Exit(NOT_DONE) from None
    try:
        await asyncio.wait_for(client.get_workflow_handle(task["workflow_id"]).execute_update(
            ApplicationMessages.RECORD_LETTER_SENT, message), UPDATE_TIMEOUT.total_seconds())
    except (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):  # the wait cancelled: either one
        typer.echo(f"parcours tasks complete: the letter's case did not answer within "
                   f"{UPDATE_TIMEOUT.total_seconds():g} s; the task is unchanged, retry the same command "
                   "(the case ignores a sending it took already)", err=True)
        raise typer.Exit(NOT_DONE) from None
    except WorkflowUpdateFailedError as refused:
        reason = getattr(refused.cause, "message", None) or str(refused)
        typer.echo(f"parcours tasks complete: the case refused it: {reason}; nothing changed", err=True)
        raise typer.Exit(NOT_DONE) from None
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND or "already completed" not in (error.message or ""):
            typer.echo(f"parcours tasks complete: the letter's case cannot be told ({error.message}); "
                       "nothing changed", err=True)
            raise typer.Exit(NOT_DONE) from None


@app.command("complete", cls=OneLineErrors)
def complete(
    task_id: int = typer.Argument(..., min=1),
    actor: str = typer.Option(..., help="The acting person's opaque id (agent:<id>), never a name."),
    outcome: Optional[str] = typer.Option(None, help="A category, e.g. HANDLED."),
    registered_letter_number: Optional[str] = typer.Option(None, "--registered-letter-number"),
    sent_on: Optional[str] = typer.Option(None, "--sent-on", help="Day the letter was posted (YYYY-MM-DD)."),
    output: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Mark a task done (a LETTER_TO_SEND task with its registered-letter number and posting day)."""
    from domain.deadlines import paris_date
    from domain.tasks import ACTOR_PATTERN, LETTER_TO_SEND, CompletionError, completion_outcome

    _check(actor, ACTOR_PATTERN, "--actor")
    posted = _day(sent_on, "--sent-on")

    async def done(store: Any) -> dict[str, Any]:
        task = await store.get(task_id)
        try:
            result = completion_outcome(task["kind"], paris_date(datetime.now().astimezone()), outcome=outcome,
                                        registered_letter_number=registered_letter_number, sent_on=posted)
        except CompletionError as error:
            fail(f"{error.field}: {error}")
            raise
        if task["kind"] != LETTER_TO_SEND:
            return await store.complete(task_id, actor, result)

        async def tell(claimed: dict[str, Any]) -> None:  # the task claimed for it, no lock held: the person closes it
            await _tell_case_letter_sent(task_id, claimed, registered_letter_number or "", posted, actor)

        return await store.complete_told(task_id, actor, result, tell)

    _print([_store("complete", done)], output)
