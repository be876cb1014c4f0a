"""Human tasks in PostgreSQL (``human_tasks``): the one writer workflows' activities use, and the task inbox.

Creation is idempotent by ``task_key`` (a retried activity creates one task); a workflow's closure only moves a
task that is still OPEN or CLAIMED (a person who completed it first keeps their outcome). The inbox lists tasks by
due date (none last) then id, with an opaque cursor; claim, complete and reassign record the acting person's opaque
id. A ``LETTER_TO_SEND`` task is created with each registered letter of the label workflows; completing it records
the letter's number and the day it was posted on the letter itself.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any, Awaitable, Callable, Sequence

import asyncpg
from pydantic import BaseModel, Field

from activities.page_cursor import NO_DATE_SQL, decode_cursor, encode_cursor
from domain.label_contract import LabelTaskDetails
from domain.pathway import HumanTask
from domain.tasks import (
    ACTIVE_STATUSES, LETTER_SENT_CLOSURE, LETTER_TO_SEND, WORKFLOW_ACTOR, TaskClosure, TaskStatus,
)

_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_COLUMNS = """task_id, task_key, workflow_id, kind, assignee, due_date, details, status, created_at, claimed_by,
              claimed_at, completed_at, outcome, closure_reason, closed_by, updated_at"""
_DONE = "status = 'DONE', outcome = $3::jsonb, closure_reason = 'COMPLETED', closed_by = $2, completed_at = now()"
#: A completion claim older than this was left by a crashed completion: a retry may take it over (the case's
#: update is bounded by ``workers.api.temporal.UPDATE_TIMEOUT``, 30 s, in the API and the CLI alike).
COMPLETING_TAKEOVER = timedelta(minutes=2)


class NewTask(HumanTask):
    """A task to create: a workflow's ``HumanTask`` and its case (label tasks carry dates and lists in details)."""

    workflow_id: str
    details: dict[str, Any] = Field(default_factory=dict)


class TaskFilter(BaseModel):
    """Inbox filters (all optional, and-ed). ``STRUCTURE:<id>`` also matches ``PLATFORM:<id>``/``REFERENT:<id>``."""

    assignee: str | None = None
    status: TaskStatus | None = None
    kind: str | None = None
    due_before: date | None = None
    workflow_id: str | None = None


class TaskNotFound(LookupError):
    pass


class TaskClosed(Exception):
    """The task is DONE or CANCELLED already: nothing changed."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the task is {status}")
        self.status = status


class LetterAlreadySent(Exception):
    """The letter is recorded as posted with another number or day (the case holds the first posting; a retried
    completion with other values would record what the case does not): nothing changed."""

    def __init__(self, number: str, sent_on: date) -> None:
        super().__init__(f"the letter was already sent with number {number} on {sent_on.isoformat()}")
        self.number, self.sent_on = number, sent_on


class TaskBusy(Exception):
    """Another completion of the task is under way (its case is being told): retry in a moment."""

    def __init__(self, status: str) -> None:
        super().__init__("another completion of the task is under way")
        self.status = status


def task_dict(row: asyncpg.Record) -> dict[str, Any]:
    task = dict(row)
    for key in ("details", "outcome"):
        if isinstance(task[key], str):
            task[key] = json.loads(task[key])
    return task


class TaskStore:
    """Adapter over ``human_tasks`` (migration 022); writers take the caller's connection (one transaction)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---------------------------------------------------------------- written by workflows' activities

    @staticmethod
    async def create(conn: asyncpg.Connection | asyncpg.Pool, tasks: Sequence[NewTask]) -> None:
        if not tasks:
            return
        await conn.executemany(
            """INSERT INTO human_tasks (task_key, workflow_id, kind, assignee, due_date, details)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (task_key) DO NOTHING""",
            [(t.task_key, t.workflow_id, t.kind, t.assignee, t.due_date, json.dumps(t.details, default=str))
             for t in tasks],
        )

    @staticmethod
    async def close(conn: asyncpg.Connection | asyncpg.Pool, closures: Sequence[TaskClosure]) -> None:
        """The workflow closes tasks (after creating this batch's tasks, so one created and closed in one batch
        ends closed); a task a person already closed is left as they left it."""
        if not closures:
            return
        await conn.executemany(
            """UPDATE human_tasks SET status = $2, closure_reason = $3, closed_by = $4, completed_at = now(),
                      updated_at = now()
                WHERE task_key = $1 AND status = ANY($5::text[])""",
            [(c.task_key, c.status.value, c.reason, WORKFLOW_ACTOR, _ACTIVE) for c in closures],
        )

    # ---------------------------------------------------------------- the inbox

    async def list(self, where: TaskFilter, *, limit: int, cursor: str | None = None
                   ) -> tuple[list[dict[str, Any]], str | None]:
        clauses, args = [], []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if where.assignee is not None:
            kind, _, ref = where.assignee.partition(":")
            if kind == "STRUCTURE" and ref:
                clauses.append(f"assignee = ANY({arg([f'{k}:{ref}' for k in ('STRUCTURE', 'PLATFORM', 'REFERENT')])})")
            else:
                clauses.append(f"assignee = {arg(where.assignee)}")
        if where.status is not None:
            clauses.append(f"status = {arg(where.status.value)}")
        if where.kind is not None:
            clauses.append(f"kind = {arg(where.kind)}")
        if where.due_before is not None:
            clauses.append(f"due_date < {arg(where.due_before)}")
        if where.workflow_id is not None:
            clauses.append(f"workflow_id = {arg(where.workflow_id)}")
        if cursor is not None:
            due, after = decode_cursor(cursor, int)
            clauses.append(f"(COALESCE(due_date, {NO_DATE_SQL}), task_id) > ({arg(due)}, {arg(after)})")
        sql = (f"SELECT {_COLUMNS} FROM human_tasks {'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
               f"ORDER BY COALESCE(due_date, {NO_DATE_SQL}), task_id LIMIT {arg(limit + 1)}")
        rows = [task_dict(r) for r in await self.pool.fetch(sql, *args)]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1]["due_date"], rows[-1]["task_id"]) if more else None)

    async def get(self, task_id: int) -> dict[str, Any]:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM human_tasks WHERE task_id = $1", task_id)
        if row is None:
            raise TaskNotFound(task_id)
        return task_dict(row)

    async def claim(self, task_id: int, actor: str) -> dict[str, Any]:
        return await self._change(task_id, "status = 'CLAIMED', claimed_by = $2, claimed_at = now()", actor)

    async def reassign(self, task_id: int, assignee: str, actor: str) -> dict[str, Any]:
        """A new assignee: the task is open again for them (a claim is dropped)."""
        return await self._change(task_id, "assignee = $3, status = 'OPEN', claimed_by = NULL, claimed_at = NULL",
                                  actor, assignee)

    async def complete(self, task_id: int, actor: str, outcome: dict[str, Any]) -> dict[str, Any]:
        """The person completes the task (a task whose case needs not be told first: see ``complete_told``)."""
        async with self.pool.acquire() as conn, conn.transaction():
            task = await self._change(task_id, _DONE, actor, json.dumps(outcome, default=str), conn=conn)
            await _record_letter(conn, task, outcome)
            return task

    async def complete_told(self, task_id: int, actor: str, outcome: dict[str, Any],
                            tell: Callable[[dict[str, Any]], Awaitable[None]]) -> dict[str, Any]:
        """The person completes a task once its case took it (``tell``: a letter's case told of its sending),
        holding no row lock nor pool connection while the case answers. The task is claimed for a moment (a token,
        ``completing_token``): a second completion meanwhile is ``TaskBusy``; an error of ``tell`` (the case
        refused) gives the claim back, the task unchanged; then the completion is written only while the claim is
        still this one. The case's own closing of the task on the message it just took (``LETTER_SENT``, by its
        activity, maybe first) is overwritten, so the person stays its closer; after a crash between the case's
        answer and the write, a retry takes the claim over (``COMPLETING_TAKEOVER``) and tells the case again
        (a duplicate event it ignores): a retry with another number or day than the posting the letter records
        (written by the case's activity) is ``LetterAlreadySent``, checked before the case is told and again
        under the letter's row lock, so the task never records a number the case does not hold."""
        token = uuid.uuid4()
        task = await self._claim_completion(task_id, token)
        try:
            await _check_letter_unsent(self.pool, task, outcome)
            await tell(task)
        except BaseException:
            await self._give_back(task_id, token)
            raise
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await _check_letter_unsent(conn, task, outcome, lock=True)
            except LetterAlreadySent:
                await self._give_back(task_id, token)
                raise
            await _record_letter(conn, task, outcome)  # the letter first, as the case's letter-event activity does
            row = await conn.fetchrow(
                f"""UPDATE human_tasks SET {_DONE}, updated_at = now(), completing_token = NULL,
                           completing_since = NULL
                     WHERE task_id = $1 AND completing_token = $4 AND $2::text IS NOT NULL
                       AND (status = ANY($5::text[]) OR closed_by = $6)
                     RETURNING {_COLUMNS}""",
                task_id, actor, json.dumps(outcome, default=str), token, _ACTIVE, WORKFLOW_ACTOR,
            )
            if row is None:  # the claim was taken over (this completion was too slow): the other one decides
                raise await self._refusal(conn, task_id)
            return task_dict(row)

    async def _give_back(self, task_id: int, token: uuid.UUID) -> None:
        """Drop this completion's claim: an open task is free again; one its case closed on a crashed completion's
        posting stays takeable by the next retry at once (an aged claim), so the right number may still close it."""
        await self.pool.execute(
            """UPDATE human_tasks
                  SET completing_token = CASE WHEN status = ANY($3::text[]) THEN NULL ELSE completing_token END,
                      completing_since = CASE WHEN status = ANY($3::text[]) THEN NULL
                                              ELSE now() - $4::interval END
                WHERE task_id = $1 AND completing_token = $2""", task_id, token, _ACTIVE, COMPLETING_TAKEOVER)

    async def _claim_completion(self, task_id: int, token: uuid.UUID) -> dict[str, Any]:
        """Claim the task for a completion: still open (or closed by its case on the message a crashed completion
        had sent) and not claimed by another completion younger than ``COMPLETING_TAKEOVER``."""
        row = await self.pool.fetchrow(
            f"""UPDATE human_tasks SET completing_token = $2, completing_since = now()
                 WHERE task_id = $1
                   AND (status = ANY($3::text[])
                        OR (completing_token IS NOT NULL AND closed_by = $4 AND closure_reason = $5))
                   AND (completing_token IS NULL OR completing_since < now() - $6::interval)
                 RETURNING {_COLUMNS}""",
            task_id, token, _ACTIVE, WORKFLOW_ACTOR, LETTER_SENT_CLOSURE, COMPLETING_TAKEOVER,
        )
        if row is None:
            raise await self._refusal(self.pool, task_id)
        return task_dict(row)

    @staticmethod
    async def _refusal(db: asyncpg.Connection | asyncpg.Pool, task_id: int) -> Exception:
        """Why a task cannot be completed now: unknown, closed, or another completion under way."""
        row = await db.fetchrow("""SELECT status, completing_since >= now() - $2::interval AS busy
                                     FROM human_tasks WHERE task_id = $1""", task_id, COMPLETING_TAKEOVER)
        if row is None:
            return TaskNotFound(task_id)
        return TaskBusy(row["status"]) if row["busy"] else TaskClosed(row["status"])

    async def _change(self, task_id: int, assignments: str, actor: str, *extra: Any,
                      conn: asyncpg.Connection | None = None) -> dict[str, Any]:
        """Apply ``assignments`` to a task still OPEN or CLAIMED; TaskNotFound / TaskClosed otherwise."""
        db = conn or self.pool
        row = await db.fetchrow(
            f"""UPDATE human_tasks SET {assignments}, updated_at = now()
                 WHERE task_id = $1 AND status = ANY(${3 + len(extra)}::text[]) AND $2::text IS NOT NULL
                 RETURNING {_COLUMNS}""",
            task_id, actor, *extra, _ACTIVE,
        )
        if row is not None:
            return task_dict(row)
        status = await db.fetchval("SELECT status FROM human_tasks WHERE task_id = $1", task_id)
        if status is None:
            raise TaskNotFound(task_id)
        raise TaskClosed(status)


async def _check_letter_unsent(db: asyncpg.Connection | asyncpg.Pool, task: dict[str, Any], outcome: dict[str, Any],
                               *, lock: bool = False) -> None:
    """``LetterAlreadySent`` when the letter records a posting other than ``outcome``'s (the same one: a retry)."""
    if task["kind"] != LETTER_TO_SEND:
        return
    row = await db.fetchrow(
        f"""SELECT registered_letter_number, sent_on FROM label_letters WHERE letter_key = $1
            {'FOR UPDATE' if lock else ''}""", LabelTaskDetails.model_validate(task["details"]).letter_key)
    if row is None or row["registered_letter_number"] is None:
        return
    sent = (row["registered_letter_number"], row["sent_on"])
    if sent != (outcome["registered_letter_number"], date.fromisoformat(str(outcome["sent_on"]))):
        raise LetterAlreadySent(*sent)


async def _record_letter(conn: asyncpg.Connection, task: dict[str, Any], outcome: dict[str, Any]) -> None:
    """A completed ``LETTER_TO_SEND`` task writes the letter's number and posting day on the letter."""
    if task["kind"] != LETTER_TO_SEND:
        return
    await conn.execute(
        """UPDATE label_letters SET registered_letter_number = $2, sent_on = $3 WHERE letter_key = $1""",
        LabelTaskDetails.model_validate(task["details"]).letter_key, outcome["registered_letter_number"],
        date.fromisoformat(str(outcome["sent_on"])),
    )
