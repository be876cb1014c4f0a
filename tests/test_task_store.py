"""The one human-task writer (activities/tasks.py) and the inbox operations on ``human_tasks`` (migration 022)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from activities.label import LabelStore, RegisteredLetter
from activities.page_cursor import InvalidCursor
from activities.tasks import LETTER_TO_SEND, NewTask, TaskClosed, TaskFilter, TaskNotFound, TaskStore
from domain.tasks import TaskClosure, TaskStatus, slai

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _task(wid: str, kind: str, due: date | None = None, assignee: str = "SLAI:ARRAS") -> NewTask:
    return NewTask(task_key=f"{wid}:{kind}:1", workflow_id=wid, kind=kind, assignee=assignee, due_date=due)


async def test_a_task_created_twice_is_one_open_task_and_a_workflow_closure_keeps_its_reason(db_pool):
    wid = f"pathway-{uuid.uuid4().hex}"
    store = TaskStore(db_pool)
    await store.create(db_pool, [_task(wid, "ESCALATION_ORIENTATION", date(2026, 1, 2))])
    await store.create(db_pool, [_task(wid, "ESCALATION_ORIENTATION", date(2026, 1, 9))])
    rows, _ = await store.list(TaskFilter(workflow_id=wid), limit=10)
    assert [(r["status"], r["due_date"]) for r in rows] == [("OPEN", date(2026, 1, 2))]
    await store.close(db_pool, [TaskClosure(task_key=f"{wid}:ESCALATION_ORIENTATION:1", reason="ORIENTATION_RECORDED")])
    task = await store.get(rows[0]["task_id"])
    assert (task["status"], task["closure_reason"], task["closed_by"]) == ("DONE", "ORIENTATION_RECORDED", "workflow")
    assert task["completed_at"] is not None


async def test_a_task_completed_by_a_person_is_not_overwritten_by_the_workflow_and_cannot_be_completed_twice(db_pool):
    wid = f"pathway-{uuid.uuid4().hex}"
    store = TaskStore(db_pool)
    await store.create(db_pool, [_task(wid, "CHOOSE_AFTER_EXIT")])
    (row,), _ = await store.list(TaskFilter(workflow_id=wid), limit=10)
    claimed = await store.claim(row["task_id"], "agent:a17")
    assert (claimed["status"], claimed["claimed_by"]) == ("CLAIMED", "agent:a17")
    done = await store.complete(row["task_id"], "agent:a17", {"outcome": "HANDLED"})
    assert (done["status"], done["closed_by"], done["outcome"]) == ("DONE", "agent:a17", {"outcome": "HANDLED"})
    await store.close(db_pool, [TaskClosure(task_key=row["task_key"], reason="EXIT_CHOICE_RECEIVED")])
    assert (await store.get(row["task_id"]))["closure_reason"] == "COMPLETED"
    with pytest.raises(TaskClosed):
        await store.complete(row["task_id"], "agent:a17", {})
    with pytest.raises(TaskNotFound):
        await store.claim(2**62, "agent:a17")


async def test_reassigning_opens_the_task_for_the_new_assignee(db_pool):
    wid = f"pathway-{uuid.uuid4().hex}"
    store = TaskStore(db_pool)
    await store.create(db_pool, [_task(wid, "DECIDE_REORIENTATION")])
    (row,), _ = await store.list(TaskFilter(workflow_id=wid), limit=10)
    await store.claim(row["task_id"], "agent:a1")
    moved = await store.reassign(row["task_id"], slai("LENS"), "agent:a1")
    assert (moved["assignee"], moved["status"], moved["claimed_by"]) == ("SLAI:LENS", "OPEN", None)


async def test_the_inbox_pages_by_due_date_with_its_cursor_and_filters(db_pool):
    wid = f"pathway-{uuid.uuid4().hex}"
    store = TaskStore(db_pool)
    await store.create(db_pool, [
        NewTask(task_key=f"{wid}:K:{i}", workflow_id=wid, kind="K", assignee="PLATFORM:P1" if i % 2 else "REFERENT:P1",
                due_date=None if i == 0 else date(2026, 3, 10 - i))
        for i in range(5)
    ])
    seen, cursor = [], None
    while True:
        rows, cursor = await store.list(TaskFilter(workflow_id=wid), limit=2, cursor=cursor)
        seen += [r["due_date"] for r in rows]
        if cursor is None:
            break
    assert seen == [date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), None]
    mine, _ = await store.list(TaskFilter(workflow_id=wid, assignee="STRUCTURE:P1", due_before=date(2026, 3, 8)),
                               limit=10)
    assert [r["due_date"] for r in mine] == [date(2026, 3, 6), date(2026, 3, 7)]
    platform, _ = await store.list(TaskFilter(workflow_id=wid, assignee="PLATFORM:P1", status=TaskStatus.OPEN), limit=10)
    assert len(platform) == 2
    with pytest.raises(InvalidCursor):
        await store.list(TaskFilter(), limit=2, cursor="not-a-cursor")


async def test_a_registered_letter_is_a_dpid_task_until_marked_sent_with_its_number_and_date(db_pool):
    wid = f"label-S{uuid.uuid4().hex[:8]}-1"
    letter = RegisteredLetter(letter_key=f"{wid}:refusal", workflow_id=wid, structure_id="S1", kind="refusal",
                              decided_on=date(2026, 2, 1), reasons=["R1"])
    labels = LabelStore(db_pool)
    await labels.send_registered_letter(letter)
    await labels.send_registered_letter(letter)  # a retried activity
    store = TaskStore(db_pool)
    (task,), _ = await store.list(TaskFilter(workflow_id=wid, kind=LETTER_TO_SEND), limit=10)
    assert task["assignee"] == "DPID" and task["details"]["letter_key"] == letter.letter_key
    await store.complete(task["task_id"], "agent:dpid-3", {"registered_letter_number": "1A 234 567 8901 2",
                                                           "sent_on": "2026-02-03"})
    sent = await db_pool.fetchrow("SELECT registered_letter_number, sent_on FROM label_letters WHERE letter_key = $1",
                                  letter.letter_key)
    assert (sent["registered_letter_number"], sent["sent_on"]) == ("1A 234 567 8901 2", date(2026, 2, 3))
