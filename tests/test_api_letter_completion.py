"""Completing a ``LETTER_TO_SEND`` task tells its label case (``record_letter_sent``) with no row lock and no pool
connection held while the case answers: the task is claimed for its completion (migration 051). A second
completion meanwhile is a 409 ``task_completing``; a refusal gives the claim back; a crash between the case's
answer and the write is completed by a retry; the case is told once per request, replays included."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from domain.label_contract import LabelTaskDetails
from domain.label_contract import ApplicationMessages as A
from domain.label_messages import letter_sent_by_task
from tests.api_harness import _auth, env  # noqa: F401  (env: fixture)
from test_api_label import DPID, _api, _letter_task, _refused

NUMBER = "1A 234 567 8901 2"


@pytest.fixture
def structure() -> str:
    return f"S{uuid.uuid4().hex[:10]}"


async def updates_accepted(env, workflow_id: str, name: str) -> int:
    """How many ``name`` updates the case accepted (each one the API sent and the case took)."""
    events = (await env.client.get_workflow_handle(workflow_id).fetch_history()).events
    return sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
               and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == name)


async def _task_row(db_pool, task_id: int):
    return await db_pool.fetchrow("""SELECT status, closure_reason, closed_by, outcome, completing_token
                                       FROM human_tasks WHERE task_id = $1""", task_id)


async def _until_closed_by_the_case(db_pool, task_id: int) -> None:
    for _ in range(200):
        row = await _task_row(db_pool, task_id)
        if row["status"] == "DONE":
            assert (row["closure_reason"], row["closed_by"]) == ("LETTER_SENT", "workflow")
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the case never closed the task on the posting")


async def _crashed_after_the_case_took(env, api, db_pool, structure: str, today: date, *, claimed_since: str):
    """A refused application's letter task whose completion crashed after its case took ``NUMBER`` (then closed the
    task itself): its claim left, taken ``claimed_since``. Returns the case, the task and the letter's key."""
    application = await _refused(api, structure, today - timedelta(days=40))
    task = await _letter_task(db_pool, application)
    await db_pool.execute(f"UPDATE human_tasks SET completing_token = $2, completing_since = {claimed_since} "
                          "WHERE task_id = $1", task["task_id"], uuid.uuid4())
    letter_key = LabelTaskDetails.model_validate(task["details"]).letter_key
    await env.client.get_workflow_handle(application).execute_update(A.RECORD_LETTER_SENT, letter_sent_by_task(
        task["task_id"], letter_key, NUMBER, today, "dpid", "agent:test-0001"))
    await _until_closed_by_the_case(db_pool, task["task_id"])
    return application, task, letter_key


async def test_two_concurrent_completions_tell_the_case_once_with_no_lock_held(env, task_queue, db_pool, structure,
                                                                               monkeypatch):
    from workers.api import tasks as task_routes

    today = date.today()
    real_send = task_routes.send_command
    inside, go = asyncio.Event(), asyncio.Event()

    async def held_send(api, workflow_id, what, command, message):
        inside.set()
        await go.wait()
        return await real_send(api, workflow_id, what, command, message)

    monkeypatch.setattr(task_routes, "send_command", held_send)
    async with _api(env, task_queue, db_pool) as api:
        application = await _refused(api, structure, today - timedelta(days=40))
        task = await _letter_task(db_pool, application)
        url, body = f"/v1/tasks/{task['task_id']}/complete", {"registered_letter_number": NUMBER,
                                                             "sent_on": today.isoformat()}
        first = asyncio.create_task(api.post(url, json=body, headers=_auth(DPID, actor="agent:poste-1")))
        await asyncio.wait_for(inside.wait(), 10)

        # While the case is being told: the row is not locked and no transaction is open.
        async with db_pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval("SELECT task_id FROM human_tasks WHERE task_id = $1 FOR UPDATE NOWAIT",
                                         task["task_id"])
            assert locked == task["task_id"]
        assert not await db_pool.fetchval("""SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                                              AND state LIKE 'idle in transaction%'""")
        second_key = str(uuid.uuid4())
        second = await api.post(url, json={**body, "registered_letter_number": "1A 999 999 9999 9"},
                                headers=_auth(DPID, second_key, actor="agent:poste-2"))
        assert (second.status_code, second.json()["error"]["code"]) == (409, "task_completing"), second.text
        assert second.headers["Retry-After"] == "1"

        go.set()
        done = await first
        assert done.status_code == 200, done.text
        assert (done.json()["closure_reason"], done.json()["closed_by"]) == ("COMPLETED", "agent:poste-1")
        retried = await api.post(url, json={**body, "registered_letter_number": "1A 999 999 9999 9"},
                                 headers=_auth(DPID, second_key, actor="agent:poste-2"))
        assert (retried.status_code, retried.json()["error"]["code"]) == (409, "task_closed")  # not a replay
        assert await updates_accepted(env, application, A.RECORD_LETTER_SENT) == 1
        row = await _task_row(db_pool, task["task_id"])
        assert (row["status"], row["closed_by"], row["completing_token"]) == ("DONE", "agent:poste-1", None)
        letter = await db_pool.fetchrow("SELECT registered_letter_number, sent_on FROM label_letters "
                                        "WHERE letter_key = $1", task["details"]["letter_key"])
        assert (letter["registered_letter_number"], letter["sent_on"]) == (NUMBER, today)


async def test_a_refused_posting_leaves_the_task_open_and_unclaimed_and_a_replay_tells_nobody(env, task_queue,
                                                                                                db_pool, structure):
    today = date.today()
    filed = today - timedelta(days=40)
    async with _api(env, task_queue, db_pool) as api:
        application = await _refused(api, structure, filed)
        task = await _letter_task(db_pool, application)
        url, key = f"/v1/tasks/{task['task_id']}/complete", str(uuid.uuid4())
        early = {"registered_letter_number": NUMBER, "sent_on": (filed + timedelta(days=29)).isoformat()}
        refused = await api.post(url, json=early, headers=_auth(DPID, key))
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "refused"), refused.text
        row = await _task_row(db_pool, task["task_id"])
        assert (row["status"], row["completing_token"]) == ("OPEN", None)
        again = await api.post(url, json=early, headers=_auth(DPID, key))
        assert (again.status_code, again.headers["Idempotent-Replayed"]) == (409, "true")

        key = str(uuid.uuid4())
        body = {"registered_letter_number": NUMBER, "sent_on": today.isoformat()}
        sent = await api.post(url, json=body, headers=_auth(DPID, key))
        assert (sent.status_code, sent.json()["status"]) == (200, "DONE"), sent.text
        replay = await api.post(url, json=body, headers=_auth(DPID, key))
        assert (replay.status_code, replay.headers["Idempotent-Replayed"], replay.json()) == (200, "true", sent.json())
        assert await updates_accepted(env, application, A.RECORD_LETTER_SENT) == 1  # the replay told nobody


async def test_a_crash_between_the_cases_answer_and_the_write_is_completed_by_a_retry(env, task_queue, db_pool,
                                                                                      structure):
    """The crashed completion left its claim and the case took the posting (then closed the task itself): a
    retry waits for the claim to age, then tells the case again (a duplicate it ignores) and completes the task
    as the person's."""
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        application, task, _ = await _crashed_after_the_case_took(env, api, db_pool, structure, today,
                                                                  claimed_since="now()")

        url, body = f"/v1/tasks/{task['task_id']}/complete", {"registered_letter_number": NUMBER,
                                                             "sent_on": today.isoformat()}
        busy = await api.post(url, json=body, headers=_auth(DPID))
        assert (busy.status_code, busy.json()["error"]["code"]) == (409, "task_completing"), busy.text
        await db_pool.execute("UPDATE human_tasks SET completing_since = now() - interval '5 minutes' "
                              "WHERE task_id = $1", task["task_id"])
        done = await api.post(url, json=body, headers=_auth(DPID))
        assert done.status_code == 200, done.text
        row = await _task_row(db_pool, task["task_id"])
        assert (row["status"], row["closure_reason"], row["closed_by"], row["completing_token"]) == (
            "DONE", "COMPLETED", "agent:test-0001", None)
        assert await updates_accepted(env, application, A.RECORD_LETTER_SENT) == 2
        state = (await api.get(f"/v1/label-applications/{application}", headers=_auth(DPID))).json()["state"]
        assert [(r["registered_number"], r["sent_on"]) for r in state["refusals"]] == [(NUMBER, today.isoformat())]
        closed = await api.post(url, json=body, headers=_auth(DPID))
        assert (closed.status_code, closed.json()["error"]["code"]) == (409, "task_closed")


async def test_a_retry_with_another_number_after_a_crash_is_refused_naming_the_number_sent(env, task_queue, db_pool,
                                                                                           structure):
    """The case took the crashed completion's number (its event id makes the retry a duplicate): a retry with
    another number is a 409 naming the number sent, the task and the letter unchanged, the case not told; the
    right number then completes it."""
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        application, task, letter_key = await _crashed_after_the_case_took(
            env, api, db_pool, structure, today, claimed_since="now() - interval '5 minutes'")

        url = f"/v1/tasks/{task['task_id']}/complete"
        other = await api.post(url, json={"registered_letter_number": "1A 999 999 9999 9",
                                          "sent_on": today.isoformat()}, headers=_auth(DPID))
        assert (other.status_code, other.json()["error"]["code"]) == (409, "letter_already_sent"), other.text
        assert NUMBER in other.json()["error"]["message"]
        row = await _task_row(db_pool, task["task_id"])
        assert (row["status"], row["closure_reason"], row["closed_by"], row["outcome"]) == (
            "DONE", "LETTER_SENT", "workflow", None)
        letter = await db_pool.fetchval("SELECT registered_letter_number FROM label_letters WHERE letter_key = $1",
                                        letter_key)
        assert letter == NUMBER
        assert await updates_accepted(env, application, A.RECORD_LETTER_SENT) == 1

        done = await api.post(url, json={"registered_letter_number": NUMBER, "sent_on": today.isoformat()},
                              headers=_auth(DPID))
        assert done.status_code == 200, done.text
        assert (done.json()["closed_by"], done.json()["outcome"]["registered_letter_number"]) == (
            "agent:test-0001", NUMBER)
