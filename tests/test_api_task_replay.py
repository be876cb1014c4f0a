"""Task POSTs (claim, complete, reassign) honour the Idempotency-Key like every POST: the same key and request
from the same service get the first answer again (``Idempotent-Replayed``) with nothing written twice; the same
key with another request is a 422; a key is per calling service."""

from __future__ import annotations

import uuid

import pytest

from test_api_tasks import DPID, READER, WORKER, _letter_task, auth, http, seed  # noqa: F401 (fixture)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def keyed(entry: str, key: str, actor: str = "agent:a-42") -> dict[str, str]:
    return auth(entry, **{"X-Actor": actor}) | {"Idempotency-Key": key}


async def _row(db_pool, task_id: int):
    return await db_pool.fetchrow("SELECT status, assignee, claimed_by, closed_by, outcome, updated_at "
                                  "FROM human_tasks WHERE task_id = $1", task_id)


async def _one_task(http, db_pool) -> int:
    wid, _ = await seed(db_pool, 1)
    (task,) = (await http.get("/v1/tasks", params={"pathway": wid}, headers=auth(READER))).json()["tasks"]
    return task["task_id"]


async def test_a_retried_claim_reassign_and_completion_get_the_first_answer_and_write_nothing_again(http, db_pool):
    task_id = await _one_task(http, db_pool)
    url = f"/v1/tasks/{task_id}"
    claim_key, move_key, done_key = (uuid.uuid4().hex for _ in range(3))

    claimed = await http.post(f"{url}/claim", headers=keyed(WORKER, claim_key))
    assert claimed.status_code == 200 and "Idempotent-Replayed" not in claimed.headers, claimed.text
    after_claim = await _row(db_pool, task_id)
    again = await http.post(f"{url}/claim", headers=keyed(WORKER, claim_key))
    assert (again.status_code, again.headers["Idempotent-Replayed"], again.json()) == (200, "true", claimed.json())
    assert await _row(db_pool, task_id) == after_claim  # not claimed a second time (updated_at unchanged)

    moved = await http.post(f"{url}/reassign", json={"assignee": "REFERENT:S-12"}, headers=keyed(WORKER, move_key))
    assert (moved.status_code, moved.json()["status"]) == (200, "OPEN"), moved.text
    reclaimed = await http.post(f"{url}/claim", headers=keyed(WORKER, uuid.uuid4().hex, actor="agent:b-77"))
    assert reclaimed.json()["claimed_by"] == "agent:b-77"
    replayed = await http.post(f"{url}/reassign", json={"assignee": "REFERENT:S-12"},
                               headers=keyed(WORKER, move_key))
    assert (replayed.status_code, replayed.json()) == (200, moved.json())
    row = await _row(db_pool, task_id)
    assert (row["status"], row["claimed_by"]) == ("CLAIMED", "agent:b-77")  # the retry did not reopen it

    done = await http.post(f"{url}/complete", json={"outcome": "HANDLED"}, headers=keyed(WORKER, done_key))
    assert (done.status_code, done.json()["status"]) == (200, "DONE"), done.text
    after_done = await _row(db_pool, task_id)
    retried = await http.post(f"{url}/complete", json={"outcome": "HANDLED"}, headers=keyed(WORKER, done_key))
    assert (retried.status_code, retried.headers["Idempotent-Replayed"], retried.json()) == (200, "true", done.json())
    assert await _row(db_pool, task_id) == after_done


@pytest.mark.parametrize("path, first, second, actors", [
    ("complete", {"outcome": "HANDLED"}, {"outcome": "NOT_NEEDED"}, ("agent:a-42", "agent:a-42")),
    ("complete", {"outcome": "HANDLED"}, {"outcome": "HANDLED"}, ("agent:a-42", "agent:b-77")),
    ("reassign", {"assignee": "REFERENT:S-12"}, {"assignee": "REFERENT:S-13"}, ("agent:a-42", "agent:a-42")),
    ("claim", None, None, ("agent:a-42", "agent:b-77")),
])
async def test_the_same_key_with_another_request_is_a_422_and_changes_nothing(http, db_pool, path, first, second,
                                                                              actors):
    task_id = await _one_task(http, db_pool)
    key = uuid.uuid4().hex
    answered = await http.post(f"/v1/tasks/{task_id}/{path}", json=first, headers=keyed(WORKER, key, actors[0]))
    assert answered.status_code == 200, answered.text
    before = await _row(db_pool, task_id)
    reused = await http.post(f"/v1/tasks/{task_id}/{path}", json=second, headers=keyed(WORKER, key, actors[1]))
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused"), reused.text
    assert reused.json()["error"]["field"] == "header Idempotency-Key"
    assert await _row(db_pool, task_id) == before


async def test_a_refusal_is_replayed_too_and_a_key_belongs_to_its_service(http, db_pool):
    """A 409 (the task closed) is an answer: its retry gets it again even once the situation changed; another
    service using the same key string has its own key and is answered for its own request."""
    task_id = await _one_task(http, db_pool)
    key = uuid.uuid4().hex
    await http.post(f"/v1/tasks/{task_id}/complete", json={"outcome": "HANDLED"}, headers=keyed(WORKER, key))
    closed = await http.post(f"/v1/tasks/{task_id}/claim", headers=keyed(WORKER, "closed-" + key))
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "task_closed")
    replayed = await http.post(f"/v1/tasks/{task_id}/claim", headers=keyed(WORKER, "closed-" + key))
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (409, "true")
    letter = await _letter_task(http, db_pool)
    other_service = await http.post(f"/v1/tasks/{letter['task_id']}/claim", headers=keyed(DPID, key))
    assert other_service.status_code == 200 and "Idempotent-Replayed" not in other_service.headers


async def test_a_transient_failure_is_not_kept_so_the_retry_runs(http, db_pool):
    """Without the workflow service a letter's completion is a 503: the key is given back, the task stays open,
    and the retry with the same key runs again (503 again here) instead of replaying."""
    letter = await _letter_task(http, db_pool)
    key, body = uuid.uuid4().hex, {"registered_letter_number": "1A 234 567 8901 2", "sent_on": "2026-12-01"}
    for _ in range(2):
        answer = await http.post(f"/v1/tasks/{letter['task_id']}/complete", json=body, headers=keyed(DPID, key))
        assert answer.status_code == 503 and "Idempotent-Replayed" not in answer.headers, answer.text
    row = await db_pool.fetchrow("SELECT status, completing_token FROM human_tasks WHERE task_id = $1",
                                 letter["task_id"])
    assert (row["status"], row["completing_token"]) == ("OPEN", None)
