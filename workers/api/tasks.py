"""Task inbox routes: ``GET /v1/tasks`` (filters, cursor), ``GET /v1/tasks/{task_id}``, and ``claim``,
``complete`` and ``reassign`` by the acting person (``X-Actor``: an opaque id such as ``agent:<id>``, never a name).

A task is closed by its workflow when the event it waits for arrives; a person completes one with an outcome (a
category), and a ``LETTER_TO_SEND`` task with the registered letter's number and the day it was posted: that one
first sends ``record_letter_sent`` to the label case that wrote the letter (its receipt clock starts from the
posting), whose refusal is the answer (409 with its rule); a case already closed keeps no clock, the task is simply
completed. The task is claimed for its completion while the case answers (no row lock, no pool connection held:
``TaskStore.complete_told``), so the person stays the task's closer even when the case closes it on the posting
at the same moment. Working on a label task (``label_*``, ``LETTER_TO_SEND``) takes the ``label.decide`` scope, on
a pathway task the ``pathway.events`` scope. Completing or claiming a closed task is a 409; unknown task ids a
404; unknown fields and query parameters are refused. Every POST runs once per ``Idempotency-Key``: a retry with
the same request is answered the first answer (``Idempotent-Replayed: true``), nothing done twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Awaitable, Callable

import asyncpg
from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from activities.page_cursor import InvalidCursor
from activities.tasks import LetterAlreadySent, TaskBusy, TaskClosed, TaskFilter, TaskNotFound, TaskStore
from domain.deadlines import paris_date
from domain.label_contract import LabelTaskDetails
from domain.label_messages import letter_sent_by_task
from domain.tasks import (
    ACTOR_PATTERN,
    ASSIGNEE_PATTERN,
    KIND_PATTERN,
    LETTER_NUMBER_PATTERN,
    OUTCOME_PATTERN,
    LETTER_TO_SEND,
    CompletionError,
    TaskStatus,
    completion_outcome,
    is_label_task,
)
from workers.api.auth import Caller, Scope
from workers.api.commands import APPLICATION_PATTERN, PATHWAY_PATTERN
from workers.api.commands import send as send_command
from workers.api.dependencies import post_context
from workers.api.errors import ApiError, ErrorBody
from workers.api.idempotency import Api, PostContext
from workers.api.labels import LETTER_SENT_COMMAND
from workers.api.query import IsoDate, Whole
from workers.api.query import only as _only

ACTOR_HEADER = "X-Actor"
_ACTOR_DOC = "The acting person's opaque id (agent:<id>) or service:<name>; never a name"
MAX_PAGE = 200
TaskId = Annotated[Whole, Path(ge=1, le=2**63 - 1)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422, 503)}


class Task(BaseModel):
    task_id: int
    kind: str
    assignee: str
    status: TaskStatus
    due_date: date | None
    workflow_id: str = Field(description="The case: pathway-<id> or label-<structure>-<n>")
    details: dict[str, Any] = Field(description="Categories, dates and ids only")
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    completed_at: datetime | None
    outcome: dict[str, Any] | None
    closure_reason: str | None = Field(description="Why it closed: the awaited event (e.g. ORIENTATION_RECORDED), "
                                                   "COMPLETED by a person, PATHWAY_CLOSED...")
    closed_by: str | None = Field(description="workflow, or the acting person's opaque id")


class TaskPage(BaseModel):
    tasks: list[Task]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class CompleteTask(BaseModel):
    """``outcome`` (a category) for most tasks; ``registered_letter_number`` and ``sent_on`` for LETTER_TO_SEND."""

    model_config = ConfigDict(extra="forbid")

    outcome: str | None = Field(None, pattern=OUTCOME_PATTERN, description="e.g. HANDLED, NOT_NEEDED")
    registered_letter_number: str | None = Field(None, pattern=LETTER_NUMBER_PATTERN)
    sent_on: IsoDate | None = None


class ReassignTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(pattern=ASSIGNEE_PATTERN, max_length=96, description="e.g. SLAI:<territory>, REFERENT:<id>")


def _public(task: dict[str, Any]) -> dict[str, Any]:
    return Task.model_validate(task).model_dump(mode="json")


# Task routes act on the read model, not on a workflow: no x-temporal-message, but the scopes and sender declared.
_READ = {"x-scopes": [Scope.CASE_READ.value]}
# Either scope enters; the task's own case decides which one it takes (``_may_work_on``).
_WORK = {"x-scopes": [Scope.PATHWAY_EVENTS.value, Scope.LABEL_DECIDE.value], "x-actor": "person"}


def _may_work_on(caller: Caller, task: dict[str, Any]) -> None:
    """The scope of the task's case: 403 for a token holding only the other case's scope."""
    needed = Scope.LABEL_DECIDE if is_label_task(task["kind"]) else Scope.PATHWAY_EVENTS
    if not caller.has(needed):
        raise ApiError(403, "forbidden", f"this token lacks the scope {needed.value} (a {task['kind']} task)",
                       headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed.value}"'})


async def _tell_case_letter_sent(api: Api | None, task_id: int, task: dict[str, Any], body: "CompleteTask",
                                 caller: PostContext, person: str) -> None:
    """``record_letter_sent`` to the case that wrote the letter; its refusal is the answer (409 with its rule)."""
    assert body.registered_letter_number is not None and body.sent_on is not None  # completion_outcome checked
    try:
        message = letter_sent_by_task(task_id, LabelTaskDetails.model_validate(task["details"]).letter_key,
                                      body.registered_letter_number, body.sent_on, caller.caller.service, person)
    except ValueError:
        raise ApiError(422, "validation_error", "registered_letter_number is not a registered-letter number "
                       "(6 to 30 capital letters, digits and spaces) or the task names no letter",
                       field="registered_letter_number") from None
    if api is None or api.client is None:
        raise ApiError(503, "unavailable", "the letter's case cannot be told right now; retry later")
    try:
        await send_command(api, task["workflow_id"], "the letter's case", LETTER_SENT_COMMAND, message)
    except ApiError as error:
        if error.code != "case_closed":  # a closed case keeps no clock: the task alone records the sending
            raise


def router(pool: asyncpg.Pool | None, require: Callable[..., Callable[..., Caller]],
           api: Api | None = None) -> APIRouter:
    """The inbox routes on the read model's pool (``require``: the app's scope dependency; ``api``: the Temporal
    client that tells a label case its letter was sent)."""
    routes = APIRouter(tags=["tasks"])
    read = Depends(require(Scope.CASE_READ))
    work = Depends(post_context(Scope.PATHWAY_EVENTS, Scope.LABEL_DECIDE, actor_pattern=ACTOR_PATTERN,
                                actor_doc=_ACTOR_DOC))  # Idempotency-Key required (428); X-Actor as the inbox takes it

    def store() -> TaskStore:
        if pool is None:
            raise ApiError(503, "unavailable", "the task inbox needs the database; retry later")
        return TaskStore(pool)

    async def found(task_id: int) -> dict[str, Any]:
        try:
            return await store().get(task_id)
        except TaskNotFound:
            raise ApiError(404, "not_found", f"no task {task_id}") from None

    async def changed(task_id: int, change: Callable[[TaskStore], Any]) -> dict[str, Any]:
        try:
            return _public(await change(store()))
        except TaskNotFound:
            raise ApiError(404, "not_found", f"no task {task_id}") from None
        except TaskClosed as closed:
            raise ApiError(409, "task_closed", f"the task is {closed.status}; nothing changed") from None
        except LetterAlreadySent as sent:
            raise ApiError(409, "letter_already_sent", f"{sent}; nothing changed") from None
        except TaskBusy:
            raise ApiError(409, "task_completing", "another completion of the task is under way; retry later",
                           headers={"Retry-After": "1"}) from None

    actor = Header(alias=ACTOR_HEADER, pattern=ACTOR_PATTERN, max_length=72, description=_ACTOR_DOC)

    @routes.get("/v1/tasks", response_model=TaskPage, responses=_ERRORS, openapi_extra=_READ,
                dependencies=[read, Depends(_only("assignee", "status", "kind", "due_before", "pathway",
                                                  "application", "limit", "cursor"))])
    async def list_tasks(
        assignee: str | None = Query(None, pattern=ASSIGNEE_PATTERN, max_length=96,
                                     description="SLAI:<territory>, SLAI_MANAGER:<territory>, STRUCTURE:<id> "
                                                 "(also its PLATFORM:/REFERENT: tasks), CAF, DPID..."),
        status: TaskStatus | None = None,
        kind: str | None = Query(None, pattern=KIND_PATTERN),
        due_before: IsoDate | None = Query(None, description="Tasks due strictly before this day"),
        pathway: str | None = Query(None, pattern=PATHWAY_PATTERN),
        application: str | None = Query(None, pattern=APPLICATION_PATTERN),
        limit: Annotated[Whole, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: str | None = Query(None, max_length=200, pattern=r"^[A-Za-z0-9_\-]+$"),
    ) -> dict[str, Any]:
        """Tasks by due date (none last), then id. Filters are and-ed."""
        if pathway and application:
            raise ApiError(422, "validation_error", "give pathway or application, not both", field="query pathway")
        try:
            rows, following = await store().list(
                TaskFilter(assignee=assignee, status=status, kind=kind, due_before=due_before,
                           workflow_id=pathway or application), limit=limit, cursor=cursor)
        except InvalidCursor as error:
            raise ApiError(422, "validation_error", str(error), field="query cursor") from None
        return {"tasks": [_public(r) for r in rows], "next_cursor": following}

    @routes.get("/v1/tasks/{task_id}", response_model=Task, responses=_ERRORS, dependencies=[read],
                openapi_extra=_READ)
    async def read_task(task_id: TaskId) -> dict[str, Any]:
        return _public(await found(task_id))

    async def once(ctx: PostContext, fingerprint: dict[str, Any],
                   action: Callable[[], Awaitable[dict[str, Any]]]) -> Any:
        """The change runs once per Idempotency-Key: a retry with the same request gets the first answer."""
        async def answer() -> tuple[int, dict[str, Any]]:
            return 200, await action()

        if api is None:
            return (await answer())[1]
        return await api.idempotent(ctx, fingerprint, answer)

    @routes.post("/v1/tasks/{task_id}/claim", response_model=Task, responses=_ERRORS, openapi_extra=_WORK)
    async def claim_task(task_id: TaskId, x_actor: str = actor, ctx: PostContext = work) -> Any:
        """The acting person takes the task (OPEN or CLAIMED → CLAIMED)."""
        async def action() -> dict[str, Any]:
            _may_work_on(ctx.caller, await found(task_id))
            return await changed(task_id, lambda s: s.claim(task_id, x_actor))

        return await once(ctx, {"actor": x_actor}, action)

    @routes.post("/v1/tasks/{task_id}/complete", response_model=Task, responses=_ERRORS, openapi_extra=_WORK)
    async def complete_task(body: CompleteTask, task_id: TaskId, x_actor: str = actor,
                            ctx: PostContext = work) -> Any:
        """Done, with its outcome; 409 when the task is closed already (by its workflow or a person). A letter's
        sending is told to its case (``record_letter_sent``) before the completion is written, with no database
        lock held meanwhile; the case may refuse it (409 with its rule, nothing changed); a second completion
        while the case is being told is a 409 ``task_completing`` (retry after a moment); a retry with another
        number or day than the posting the letter records is a 409 ``letter_already_sent`` naming it."""
        async def action() -> dict[str, Any]:
            task = await found(task_id)
            _may_work_on(ctx.caller, task)
            letter = task["kind"] == LETTER_TO_SEND  # may finish a crashed completion: its claim decides
            if not letter and task["status"] not in (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value):
                raise ApiError(409, "task_closed", f"the task is {task['status']}; nothing changed")
            try:
                outcome = completion_outcome(task["kind"], paris_date(datetime.now().astimezone()),
                                             **body.model_dump())
            except CompletionError as error:
                raise ApiError(422, "validation_error", str(error), field=error.field) from None
            if not letter:
                return await changed(task_id, lambda s: s.complete(task_id, x_actor, outcome))

            async def tell(claimed: dict[str, Any]) -> None:
                await _tell_case_letter_sent(api, task_id, claimed, body, ctx, x_actor)

            return await changed(task_id, lambda s: s.complete_told(task_id, x_actor, outcome, tell))

        return await once(ctx, {"actor": x_actor, "body": body}, action)

    @routes.post("/v1/tasks/{task_id}/reassign", response_model=Task, responses=_ERRORS, openapi_extra=_WORK)
    async def reassign_task(body: ReassignTask, task_id: TaskId, x_actor: str = actor,
                            ctx: PostContext = work) -> Any:
        """Another service or structure takes the task over (it is OPEN again, unclaimed)."""
        async def action() -> dict[str, Any]:
            _may_work_on(ctx.caller, await found(task_id))
            return await changed(task_id, lambda s: s.reassign(task_id, body.assignee, x_actor))

        return await once(ctx, {"actor": x_actor, "body": body}, action)

    return routes
