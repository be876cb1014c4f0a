"""Task inbox routes (workers/api/tasks.py) on the read model: filters, cursor, claim/complete/reassign, errors."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest
import pytest_asyncio

from activities.label import LabelStore, RegisteredLetter
from activities.tasks import NewTask, TaskStore
from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.runtime.config import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

READER = token_entry("dashboard", {Scope.CASE_READ})
WORKER = token_entry("slai-tool", {Scope.CASE_READ, Scope.PATHWAY_EVENTS})
DPID = token_entry("dpid-tool", {Scope.CASE_READ, Scope.LABEL_DECIDE})
AGENT = {"X-Actor": "agent:a-42"}


def auth(entry: str, **extra: str) -> dict[str, str]:
    """Bearer token and, for POSTs, a fresh Idempotency-Key (the API answers 428 without one)."""
    return {"Authorization": f"Bearer {entry.split(':')[1]}", "Idempotency-Key": uuid.uuid4().hex, **extra}


@pytest_asyncio.fixture(loop_scope="session")
async def http(db_pool):
    app = create_app(None, Settings(), db_pool, tokens=ApiTokens.parse(f"{READER},{WORKER},{DPID}"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def seed(db_pool, n: int = 3, kind: str = "DECIDE_REORIENTATION") -> tuple[str, str]:
    wid, territory = f"pathway-{uuid.uuid4().hex}", f"T{uuid.uuid4().hex[:8]}"
    await TaskStore.create(db_pool, [
        NewTask(task_key=f"{wid}:{kind}:{i}", workflow_id=wid, kind=kind, assignee=f"SLAI:{territory}",
                due_date=date(2026, 5, 1) + timedelta(days=i), details={"reason": "AUTRE"})
        for i in range(n)])
    return wid, territory


async def test_the_inbox_lists_a_territorys_tasks_by_due_date_page_by_page(http, db_pool):
    wid, territory = await seed(db_pool, 3)
    due, cursor = [], None
    while True:
        params = {"assignee": f"SLAI:{territory}", "status": "OPEN", "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await http.get("/v1/tasks", params=params, headers=auth(READER))
        assert response.status_code == 200, response.text
        due += [t["due_date"] for t in response.json()["tasks"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert due == ["2026-05-01", "2026-05-02", "2026-05-03"]
    before = await http.get("/v1/tasks", params={"pathway": wid, "due_before": "2026-05-02"}, headers=auth(READER))
    assert [t["due_date"] for t in before.json()["tasks"]] == ["2026-05-01"]


async def test_claim_then_complete_records_the_actor_and_a_second_completion_is_a_409(http, db_pool):
    wid, _ = await seed(db_pool, 1)
    (task,) = (await http.get("/v1/tasks", params={"pathway": wid}, headers=auth(READER))).json()["tasks"]
    url = f"/v1/tasks/{task['task_id']}"
    claimed = await http.post(f"{url}/claim", headers=auth(WORKER, **AGENT))
    assert (claimed.status_code, claimed.json()["status"], claimed.json()["claimed_by"]) == (200, "CLAIMED", "agent:a-42")
    done = await http.post(f"{url}/complete", json={"outcome": "HANDLED"}, headers=auth(WORKER, **AGENT))
    assert done.status_code == 200, done.text
    assert {k: done.json()[k] for k in ("status", "outcome", "closure_reason", "closed_by")} == {
        "status": "DONE", "outcome": {"outcome": "HANDLED"}, "closure_reason": "COMPLETED", "closed_by": "agent:a-42"}
    again = await http.post(f"{url}/complete", json={"outcome": "HANDLED"}, headers=auth(WORKER, **AGENT))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "task_closed")
    assert (await http.post(f"{url}/claim", headers=auth(WORKER, **AGENT))).status_code == 409


async def test_reassign_moves_the_task_to_another_inbox(http, db_pool):
    wid, _ = await seed(db_pool, 1)
    (task,) = (await http.get("/v1/tasks", params={"pathway": wid}, headers=auth(READER))).json()["tasks"]
    moved = await http.post(f"/v1/tasks/{task['task_id']}/reassign", json={"assignee": "REFERENT:S-12"},
                            headers=auth(WORKER, **AGENT))
    assert (moved.status_code, moved.json()["assignee"]) == (200, "REFERENT:S-12")
    mine = await http.get("/v1/tasks", params={"assignee": "STRUCTURE:S-12", "pathway": wid}, headers=auth(READER))
    assert [t["task_id"] for t in mine.json()["tasks"]] == [task["task_id"]]


async def _letter_task(http, db_pool) -> dict:
    wid = f"label-S{uuid.uuid4().hex[:8]}-1"
    await LabelStore(db_pool).send_registered_letter(RegisteredLetter(
        letter_key=f"{wid}:refusal", workflow_id=wid, structure_id="S1", kind="refusal", decided_on=date(2026, 2, 1),
        reasons=[]))
    listed = await http.get("/v1/tasks", params={"application": wid, "assignee": "DPID", "kind": "LETTER_TO_SEND"},
                            headers=auth(READER))
    (task,) = listed.json()["tasks"]
    assert task["details"] == {"letter_key": f"{wid}:refusal", "letter_kind": "refusal", "structure_id": "S1",
                               "decided_on": "2026-02-01"}
    return task


async def test_a_letter_to_send_needs_its_registered_letter_number_and_date_and_its_case(http, db_pool):
    """The facts are checked before anything else; the case must then be told (tests/test_api_label.py does it with
    the real workflow): without the workflow service the completion is a 503 and the task stays open."""
    task = await _letter_task(http, db_pool)
    url = f"/v1/tasks/{task['task_id']}/complete"
    missing = await http.post(url, json={"outcome": "SENT"}, headers=auth(DPID, **AGENT))
    assert (missing.status_code, missing.json()["error"]["field"]) == (422, "registered_letter_number")
    today = date.today().isoformat()
    unreachable = await http.post(url, json={"registered_letter_number": "1A 234 567 8901 2", "sent_on": today},
                                  headers=auth(DPID, **AGENT))
    assert unreachable.status_code == 503, unreachable.text
    assert (await http.get(f"/v1/tasks/{task['task_id']}", headers=auth(READER))).json()["status"] == "OPEN"


@pytest.mark.parametrize("method, path, body, headers, status, field", [
    ("get", "/v1/tasks?assigne=SLAI:X", None, {}, 422, "query assigne"),
    ("get", "/v1/tasks?status=open", None, {}, 422, "query status"),
    ("get", "/v1/tasks?assignee=Jean%20Dupont", None, {}, 422, "query assignee"),
    ("get", "/v1/tasks?due_before=1764547200", None, {}, 422, "query due_before"),
    ("get", "/v1/tasks?cursor=eyJ4Ijog", None, {}, 422, "query cursor"),
    ("get", "/v1/tasks?limit=100000", None, {}, 422, "query limit"),
    ("get", "/v1/tasks/999999999999", None, {}, 404, None),
    ("post", "/v1/tasks/999999999999/complete", {"outcome": "HANDLED"}, AGENT, 404, None),
    ("post", "/v1/tasks/1/complete", {"outcome": "HANDLED", "note": "x"}, AGENT, 422, "note"),
    ("post", "/v1/tasks/1/complete", {"outcome": "x" * 500}, AGENT, 422, "outcome"),
    ("post", "/v1/tasks/1/claim", None, {}, 422, "header X-Actor"),
    ("post", "/v1/tasks/1/claim", None, {"X-Actor": "Jean Dupont"}, 422, "header X-Actor"),
    ("post", "/v1/tasks/1/reassign", {"assignee": "SLAI:X\u0000"}, AGENT, 422, "assignee"),
])
async def test_bad_requests_are_refused_with_the_error_body(http, method, path, body, headers, status, field):
    entry = READER if method == "get" else WORKER
    kwargs = {"json": body} if body is not None else {}
    response = await getattr(http, method)(path, headers=auth(entry, **headers), **kwargs)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    if field:
        assert response.json()["error"]["field"] == field


async def test_a_label_task_takes_the_label_scope_and_a_pathway_task_the_pathway_scope(http, db_pool):
    """A token with the pathway scope alone cannot send a label letter (nor claim or hand it over), and the
    label scope does not work on pathway tasks: 403, and the task is left as it was."""
    letter = await _letter_task(http, db_pool)
    body = {"registered_letter_number": "1A 234 567 8901 2", "sent_on": date.today().isoformat()}
    for path, payload in (("complete", body), ("claim", None), ("reassign", {"assignee": "SLAI:X"})):
        refused = await http.post(f"/v1/tasks/{letter['task_id']}/{path}", json=payload, headers=auth(WORKER, **AGENT))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden"), (path, refused.text)
        assert "label.decide" in refused.json()["error"]["message"]
    claimed = await http.post(f"/v1/tasks/{letter['task_id']}/claim", headers=auth(DPID, **AGENT))
    assert (claimed.status_code, claimed.json()["claimed_by"]) == (200, "agent:a-42")
    wid, _ = await seed(db_pool, 1)
    (task,) = (await http.get("/v1/tasks", params={"pathway": wid}, headers=auth(READER))).json()["tasks"]
    refused = await http.post(f"/v1/tasks/{task['task_id']}/complete", json={"outcome": "HANDLED"},
                              headers=auth(DPID, **AGENT))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert (await http.get(f"/v1/tasks/{task['task_id']}", headers=auth(READER))).json()["status"] == "OPEN"
    assert (await http.post(f"/v1/tasks/{task['task_id']}/complete", json={"outcome": "HANDLED"},
                            headers=auth(WORKER, **AGENT))).status_code == 200


async def test_working_on_tasks_needs_a_command_scope(http):
    response = await http.post("/v1/tasks/1/claim", headers=auth(READER, **AGENT))
    assert response.status_code == 403


async def test_a_task_post_without_idempotency_key_is_a_428_and_changes_nothing(http, db_pool):
    wid, _ = await seed(db_pool, 1)
    (task,) = (await http.get("/v1/tasks", params={"pathway": wid}, headers=auth(READER))).json()["tasks"]
    headers = {k: v for k, v in auth(WORKER, **AGENT).items() if k != "Idempotency-Key"}
    refused = await http.post(f"/v1/tasks/{task['task_id']}/claim", headers=headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (428, "idempotency_key_required")
    again = (await http.get(f"/v1/tasks/{task['task_id']}", headers=auth(READER))).json()
    assert again["status"] == "OPEN"
