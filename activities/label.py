"""Label référent RSA I/O: human tasks, registered letters, the label read model (PostgreSQL).

Every write is idempotent: tasks and letters by a key built from the workflow id and the step; snapshots
are upserts guarded by the workflow's ``version`` (it only grows), so a retried or late write does nothing.
The registered-letter adapter writes to an outbox (``label_letters``) that the postal integration sends;
the acknowledgement of receipt comes back to the workflow as an update carrying its date.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg
from temporalio import activity

from activities import label_registry as registry
from domain.label_contract import (
    ACT_CLOSE_TASKS,
    ACT_CREATE_TASK,
    ACT_RECORD_APPLICATION,
    ACT_RECORD_LABEL,
    ACT_RECORD_LETTER_EVENT,
    ACT_SEND_REGISTERED_LETTER,
    ApplicationSnapshot,
    LabelSnapshot,
    LabelTask,
    LabelTaskDetails,
    LetterEvent,
    RegisteredLetter,
)
from domain.label_yearly_list import STORE_YEARLY_LIST, YearlyListRequest, YearlyListSummary
from activities.tasks import LETTER_TO_SEND, NewTask, TaskStore
from domain.tasks import DPID, LETTER_SENT_CLOSURE, TaskClosure


class LabelStore:
    """Adapter over the read model and the outboxes; one pool injected by the worker."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name=ACT_CREATE_TASK)
    async def create_task(self, task: LabelTask) -> None:
        await TaskStore.create(self._pool, [NewTask(**task.model_dump(mode="json"))])

    @activity.defn(name=ACT_CLOSE_TASKS)
    async def close_tasks(self, closures: list[TaskClosure]) -> None:
        await TaskStore.close(self._pool, closures)

    @activity.defn(name=ACT_SEND_REGISTERED_LETTER)
    async def send_registered_letter(self, letter: RegisteredLetter) -> str:
        """Record the letter and create the DPID's task to print and post it (``LETTER_TO_SEND``), in one
        transaction. The reasons (free text) are not stored here: the letter is rendered from the encrypted case
        (``letter`` query)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO label_letters (letter_key, workflow_id, structure_id, kind, decided_on, territory, dates)
                   VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (letter_key) DO NOTHING""",
                letter.letter_key, letter.workflow_id, letter.structure_id, letter.kind, letter.decided_on,
                letter.territory, letter.dates.model_dump_json(),
            )
            await TaskStore.create(conn, [NewTask(
                task_key=f"{letter.letter_key}:{LETTER_TO_SEND}", workflow_id=letter.workflow_id, kind=LETTER_TO_SEND,
                assignee=DPID, details=LabelTaskDetails(
                    letter_key=letter.letter_key, letter_kind=letter.kind, structure_id=letter.structure_id,
                    decided_on=letter.decided_on).model_dump(mode="json"))])
        return letter.letter_key

    @activity.defn(name=ACT_RECORD_LETTER_EVENT)
    async def record_letter_event(self, event: LetterEvent) -> None:
        """The posting (number and day, the same columns a completed ``LETTER_TO_SEND`` task fills, and that task
        closed: one sending task per letter) or the receipt."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE label_letters SET
                       registered_letter_number = COALESCE($2, registered_letter_number),
                       sent_on = COALESCE($3, sent_on), acknowledged_on = COALESCE($4, acknowledged_on)
                   WHERE letter_key = $1""",
                event.letter_key, event.registered_number, event.sent_on, event.received_on,
            )
            if event.sent_on is not None:
                await TaskStore.close(conn, [TaskClosure(task_key=f"{event.letter_key}:{LETTER_TO_SEND}",
                                                         reason=LETTER_SENT_CLOSURE)])

    @activity.defn(name=ACT_RECORD_APPLICATION)
    async def record_application(self, s: ApplicationSnapshot) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                """INSERT INTO label_applications (workflow_id, structure_id, application_no, territory, stage,
                       filed_on, decided_on, outcome, next_deadline, instruction_breached, funding_blocked, version)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
                   ON CONFLICT (workflow_id) DO UPDATE SET stage = EXCLUDED.stage, filed_on = EXCLUDED.filed_on,
                       decided_on = EXCLUDED.decided_on, outcome = EXCLUDED.outcome,
                       next_deadline = EXCLUDED.next_deadline, instruction_breached = EXCLUDED.instruction_breached,
                       funding_blocked = EXCLUDED.funding_blocked, version = EXCLUDED.version, updated_at = now()
                   WHERE label_applications.version < EXCLUDED.version""",
                s.workflow_id, s.structure_id, s.application_no, s.territory, s.stage, s.filed_on, s.decided_on,
                s.outcome, s.next_deadline, s.instruction_breached, s.funding_blocked, s.version,
            )
            if s.is_open is not None and status.endswith(" 1"):
                await registry.record_snapshot(conn, s.structure_id, s.workflow_id, is_open=s.is_open,
                                               in_moratorium=s.in_moratorium, moratorium_until=s.moratorium_until)

    @activity.defn(name=ACT_RECORD_LABEL)
    async def record_label(self, s: LabelSnapshot) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                """INSERT INTO labels (label_key, workflow_id, structure_id, territory, status, granted_on,
                       expires_on, ended_on, end_reason, version)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                   ON CONFLICT (label_key) DO UPDATE SET status = EXCLUDED.status,
                       expires_on = EXCLUDED.expires_on, ended_on = EXCLUDED.ended_on,
                       end_reason = EXCLUDED.end_reason, version = EXCLUDED.version, updated_at = now()
                   WHERE labels.version < EXCLUDED.version""",
                s.label_key, s.workflow_id, s.structure_id, s.territory, s.status, s.granted_on, s.expires_on,
                s.ended_on, s.end_reason, s.version,
            )
            if status.endswith(" 1"):
                await registry.record_label(conn, s.structure_id, s.workflow_id, s.status, s.ended_on or s.expires_on)


class LabelRegistry:
    """Reads for funding checks (AAP selection), the yearly ceremony and the Commission Permanente report."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def is_labelled(self, structure_id: str, on: date) -> bool:
        return await self.label_on(structure_id, on) is not None

    async def label_on(self, structure_id: str, on: date) -> dict[str, Any] | None:
        """The structure's label valid on ``on`` (its current status, dates, first day no longer valid), or None."""
        row = await self._pool.fetchrow(
            """SELECT structure_id, territory, status, granted_on, expires_on, ended_on FROM labels
               WHERE structure_id = $1 AND granted_on <= $2 AND $2 < COALESCE(ended_on, expires_on)
               ORDER BY granted_on DESC LIMIT 1""",
            structure_id, on,
        )
        return dict(row) if row is not None else None

    async def letter(self, letter_key: str) -> dict[str, Any] | None:
        """A recorded letter's metadata (its case, kind, dates, posting, receipt), or None."""
        row = await self._pool.fetchrow(
            """SELECT letter_key, workflow_id, structure_id, kind, decided_on,
                   registered_letter_number AS registered_number, sent_on AS posted_on, acknowledged_on
                   FROM label_letters WHERE letter_key = $1""", letter_key)
        return dict(row) if row is not None else None

    async def stored_yearly_list(self, year: int) -> dict[str, Any] | None:
        """The list the ``LabelYearlyList`` workflow stored for ``year`` (None if it has not run)."""
        row = await self._pool.fetchrow(
            "SELECT workflow_id, generated_on, granted, labelled FROM label_yearly_lists WHERE year = $1", year)
        if row is None:
            return None
        return {"year": year, "workflow_id": row["workflow_id"], "generated_on": row["generated_on"],
                "granted": json.loads(row["granted"]), "labelled": json.loads(row["labelled"])}

    @activity.defn(name=STORE_YEARLY_LIST)
    async def store_yearly_list(self, request: YearlyListRequest) -> YearlyListSummary:
        listing = await self.yearly_list(request.year)
        await self._pool.execute(
            """INSERT INTO label_yearly_lists (year, workflow_id, generated_on, granted, labelled)
               VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
               ON CONFLICT (year) DO UPDATE SET workflow_id = EXCLUDED.workflow_id,
                   generated_on = EXCLUDED.generated_on, granted = EXCLUDED.granted,
                   labelled = EXCLUDED.labelled, updated_at = now()""",
            request.year, request.workflow_id, date.fromisoformat(request.generated_on),
            json.dumps(listing["granted"], default=str), json.dumps(listing["labelled"], default=str),
        )
        return YearlyListSummary(year=request.year, granted=len(listing["granted"]),
                                 labelled=len(listing["labelled"]))

    async def yearly_list(self, year: int) -> dict[str, list[dict[str, Any]]]:
        """``granted``: labels decided in ``year`` (ceremony); ``labelled``: valid at some point of the year."""
        first, last = date(year, 1, 1), date(year, 12, 31)
        granted = await self._pool.fetch(
            """SELECT structure_id, territory, granted_on, expires_on FROM labels
               WHERE granted_on BETWEEN $1 AND $2 ORDER BY territory, structure_id""",
            first, last,
        )
        labelled = await self._pool.fetch(
            """SELECT structure_id, territory, granted_on, expires_on, status, ended_on FROM labels
               WHERE granted_on <= $2 AND COALESCE(ended_on, expires_on) > $1 ORDER BY territory, structure_id""",
            first, last,
        )
        return {"granted": [dict(r) for r in granted], "labelled": [dict(r) for r in labelled]}


def label_activities(pool: asyncpg.Pool) -> list[Any]:
    """Every activity of the label workflows, wired on one pool (the pathway notifier uses the worker's client)."""
    from activities.label_pathways import PathwayNotifier

    store = LabelStore(pool)
    return [
        store.create_task,
        store.close_tasks,
        store.send_registered_letter,
        store.record_letter_event,
        store.record_application,
        store.record_label,
        PathwayNotifier(pool).notify_pathways_label_lost,
        LabelRegistry(pool).store_yearly_list,
    ]
