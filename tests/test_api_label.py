"""Label application endpoints against the real workflows on a dev server (update round-trips)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta

import httpx
import pytest
from temporalio.worker import Worker

from activities.tasks import TaskFilter, TaskStore
from domain.deadlines import deadline_instant
from domain.label_contract import ACT_RECORD_LETTER_EVENT
from domain.tasks import LETTER_TO_SEND
from tests.api_harness import _auth, env  # noqa: F401  (env: fixture)
from workers.api import create_app
from workers.api.auth import ALL_SCOPES, ApiTokens, Scope, token_entry
from workers.runtime.config import Settings
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
from workers.runtime.sandbox import workflow_runner

DEPOSANT = token_entry("epartenaires", {Scope.LABEL_APPLY, Scope.CASE_READ})
DPID = token_entry("dpid", {Scope.LABEL_DECIDE, Scope.CASE_READ})
ADMIN = token_entry("admin", ALL_SCOPES)


@asynccontextmanager
async def _api(env, task_queue, db_pool):
    settings = Settings(temporal_task_queue=task_queue, temporal_namespace=env.client.namespace)
    app = create_app(env.client, settings, db_pool, tokens=ApiTokens.parse(",".join((DEPOSANT, DPID, ADMIN))))
    worker = Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS,
                    activities=build_activities(Dependencies(pool=db_pool)), workflow_runner=workflow_runner())
    async with worker:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
            yield client


@pytest.fixture
def structure() -> str:
    return f"S{uuid.uuid4().hex[:10]}"


async def test_application_submitted_evaluated_and_granted(env, task_queue, db_pool, structure):
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        key = str(uuid.uuid4())
        body = {"structure_id": structure, "application_no": 1, "territory": "ARTOIS",
                "filed_on": (today - timedelta(days=20)).isoformat()}
        submitted = await api.post("/v1/label-applications", json=body, headers=_auth(DEPOSANT, key))
        assert submitted.status_code == 200, submitted.text
        application = submitted.json()["case_id"]
        assert application == f"label-{structure}-1"
        assert submitted.json()["stage"] == "DPID_ADMIN_EVALUATION"

        replay = await api.post("/v1/label-applications", json=body, headers=_auth(DEPOSANT, key))
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == submitted.json()
        changed = await api.post("/v1/label-applications", json={**body, "territory": "AUDOMAROIS"},
                                 headers=_auth(DEPOSANT, key))
        assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"

        twice = await api.post("/v1/label-applications", json=body, headers=_auth(DEPOSANT, str(uuid.uuid4())))
        assert twice.status_code == 409
        assert twice.json()["error"]["code"] == "refused" and "already" in twice.json()["error"]["message"]

        early = await api.post(f"/v1/label-applications/{application}/decision", json={"outcome": "grant"},
                               headers=_auth(DPID))
        assert early.status_code == 409
        assert "no consolidated evaluation" in early.json()["error"]["message"]

        evaluated = await api.post(
            f"/v1/label-applications/{application}/admin-evaluation",
            json={"training_ok": True, "cer_average": 8.4, "seed": "seed-1", "sampled_cer_ids": ["c1", "c2"]},
            headers=_auth(DPID, str(uuid.uuid4())),
        )
        assert evaluated.status_code == 200 and evaluated.json()["stage"] == "SLAI_CONSOLIDATION"
        opinion = await api.post(f"/v1/label-applications/{application}/slai-opinion",
                                 json={"confirmed": True, "training_ok": True, "cer_average": 8.4},
                                 headers=_auth(DPID))
        assert opinion.status_code == 200

        deposant_decides = await api.post(f"/v1/label-applications/{application}/decision",
                                          json={"outcome": "grant"}, headers=_auth(DEPOSANT))
        assert deposant_decides.status_code == 403

        granted = await api.post(f"/v1/label-applications/{application}/decision",
                                 json={"outcome": "grant", "decided_on": today.isoformat()},
                                 headers=_auth(DPID, str(uuid.uuid4())))
        assert granted.status_code == 200, granted.text
        assert granted.json()["stage"] in ("GRANTED", "LABELLED")

        read = await api.get(f"/v1/label-applications/{application}", headers=_auth(DEPOSANT))
        assert read.status_code == 200
        case = read.json()
        assert case["state"]["structure_id"] == structure
        assert case["state"]["decisions"][0]["outcome"] == "grant"
        assert "seen_event_ids" not in case["state"]

        label = await api.get(f"/v1/labels/{structure}", headers=_auth(DEPOSANT))
        assert label.status_code == 200, label.text
        assert label.json()["state"]["application_workflow_id"] == application
        assert label.json()["state"]["expires_on"] > today.isoformat()

        outside = await api.post(f"/v1/labels/{structure}/renewal-request", json={"requested_on": today.isoformat()},
                                 headers=_auth(DEPOSANT))
        assert outside.status_code == 409
        assert outside.json()["error"]["rule"] == "OutsideRenewalWindow"

        # The grant letter's case has closed (the label runs): completing its task records the sending alone.
        grant_task = await _letter_task(db_pool, application)
        done = await api.post(f"/v1/tasks/{grant_task['task_id']}/complete", headers=_auth(DPID), json={
            "registered_letter_number": "1A 234 567 8901 3", "sent_on": today.isoformat()})
        assert done.status_code == 200 and done.json()["status"] == "DONE", done.text
        # A W2 notice of the running label: its task tells the Label case, whose letter is then posted.
        breach = await api.post(f"/v1/labels/{structure}/commitment-breach", headers=_auth(DPID),
                                json={"grounds": ["charte qualité"], "notified_on": today.isoformat()})
        assert breach.status_code == 200 and breach.json()["stage"] == "WITHDRAWAL_PROCEDURE", breach.text
        notice_task = await _letter_task(db_pool, f"labelled-{structure}")
        posted = await api.post(f"/v1/tasks/{notice_task['task_id']}/complete", headers=_auth(DPID), json={
            "registered_letter_number": "1A 234 567 8901 4", "sent_on": today.isoformat()})
        assert posted.status_code == 200, posted.text
        letters = (await api.get(f"/v1/labels/{structure}", headers=_auth(DPID))).json()["state"]["letters"]
        assert [(x["kind"], x["registered_number"], x["sent_on"]) for x in letters] == [
            ("withdrawal_notice", "1A 234 567 8901 4", today.isoformat())]


async def test_unknown_application_is_404(env, task_queue, db_pool, structure):
    async with _api(env, task_queue, db_pool) as api:
        sent = await api.post(f"/v1/label-applications/label-{structure}-7/decision",
                              json={"outcome": "refuse", "reasons": ["x"]}, headers=_auth(DPID))
        read = await api.get(f"/v1/label-applications/label-{structure}-7", headers=_auth(DPID))
    assert sent.status_code == 404 and sent.json()["error"]["code"] == "not_found"
    assert read.status_code == 404


async def _refused(api, structure: str, filed: date) -> str:
    """File application 1, evaluate it below the criteria and refuse it 30 days after filing."""
    submitted = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
        "structure_id": structure, "application_no": 1, "territory": "ARTOIS", "filed_on": filed.isoformat()})
    assert submitted.status_code == 200, submitted.text
    application = submitted.json()["case_id"]
    for path, body in (("admin-evaluation", {"training_ok": False, "cer_average": 6.0, "seed": "s"}),
                       ("slai-opinion", {"confirmed": True, "training_ok": False, "cer_average": 6.0}),
                       ("joint-review", {"training_ok": False, "cer_average": 6.5}),
                       ("decision", {"outcome": "refuse", "decided_on": (filed + timedelta(days=30)).isoformat(),
                                     "reasons": ["formation incomplète"]})):
        answer = await api.post(f"/v1/label-applications/{application}/{path}", json=body, headers=_auth(DPID))
        assert answer.status_code == 200, (path, answer.text)
    return application


async def _refused_with_receipt(api, db_pool, structure: str, filed: date, received: date) -> str:
    """A refused application whose AR is recorded: a notified moratorium."""
    application = await _refused(api, structure, filed)
    await _registry(db_pool, structure, "moratorium_application")
    early = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
        "structure_id": structure, "application_no": 2, "territory": "ARTOIS"})
    assert early.status_code == 409 and early.json()["error"]["rule"] == "L6", early.text
    receipt = await api.post(f"/v1/label-applications/{application}/receipt", headers=_auth(DPID), json={
        "letter_key": f"{application}:refusal:1", "received_on": received.isoformat()})
    assert receipt.status_code == 200 and receipt.json()["stage"] == "MORATORIUM", receipt.text
    return application


async def _registry(db_pool, structure: str, column: str):
    """The registry column once the application's snapshot has set it (snapshots follow the answer)."""
    for _ in range(200):
        value = await db_pool.fetchval(f"SELECT {column} FROM label_structures WHERE structure_id = $1", structure)
        if value is not None:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"the registry never recorded {column}")


async def test_moratorium_binds_the_structure_across_applications(env, task_queue, db_pool, structure):
    """Seed 001: "Un moratoire de 6 mois sera imposé à la structure": label-S-2 is refused while it runs."""
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        first = await _refused_with_receipt(api, db_pool, structure, today - timedelta(days=120), today - timedelta(days=30))
        until = await _registry(db_pool, structure, "moratorium_until")
        assert until > today
        second = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
            "structure_id": structure, "application_no": 2, "territory": "ARTOIS"})
        assert second.status_code == 409, second.text
        refusal = second.json()["error"]
        assert refusal["rule"] == "L7" and refusal["until"] == until.isoformat()
        assert refusal["open_application"] == first and "next number" not in refusal["message"]
        assert until.isoformat() in refusal["message"]
        third = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
            "structure_id": structure, "application_no": 3, "territory": "ARTOIS"})
        assert third.status_code == 409 and third.json()["error"]["rule"] == "L7"


async def test_new_application_after_the_moratorium_is_the_reapplication(env, task_queue, db_pool, structure):
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        first = await _refused_with_receipt(api, db_pool, structure, today - timedelta(days=330), today - timedelta(days=260))
        until = await _registry(db_pool, structure, "moratorium_until")
        assert until <= today
        during = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
            "structure_id": structure, "application_no": 2, "territory": "ARTOIS",
            "filed_on": (until - timedelta(days=1)).isoformat()})
        assert during.status_code == 409 and during.json()["error"]["rule"] == "L7"
        after = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
            "structure_id": structure, "application_no": 2, "territory": "ARTOIS", "filed_on": until.isoformat()})
        assert after.status_code == 200, after.text
        assert after.json()["stage"] == "DPID_ADMIN_EVALUATION"
        second = after.json()["case_id"]
        assert await db_pool.fetchval(
            "SELECT open_application FROM label_structures WHERE structure_id = $1", structure) == second
        handle = env.client.get_workflow_handle(first)
        result = await asyncio.wait_for(handle.result(), 30)
        assert result["closing_reason"] == f"reapplied as {second}"
        another = await api.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
            "structure_id": structure, "application_no": 3, "territory": "ARTOIS"})
        assert another.status_code == 409 and another.json()["error"]["rule"] == "L1"
        assert another.json()["error"]["open_application"] == second
        registry = await api.get(f"/v1/label-structures/{structure}", headers=_auth(DEPOSANT))
        assert registry.status_code == 200
        assert registry.json()["open_application"] == second and registry.json()["moratorium_until"] is None
        unknown = await api.get("/v1/label-structures/S-never-filed", headers=_auth(DEPOSANT))
        assert unknown.status_code == 404


async def test_refusal_letter_is_posted_received_and_printable(env, task_queue, db_pool, structure):
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        application = await _refused_with_receipt(api, db_pool, structure, today - timedelta(days=60),
                                                  today - timedelta(days=10))
        key = f"{application}:refusal:1"
        pdf = await api.get(f"/v1/label-letters/{key}", headers=_auth(DEPOSANT))
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        html = await api.get(f"/v1/label-letters/{key}", params={"format": "html"}, headers=_auth(DEPOSANT))
        assert "formation incomplète" in html.text and "tribunal administratif de Lille" in html.text
        missing = await api.get(f"/v1/label-letters/{application}:refusal:9", headers=_auth(DEPOSANT))
        assert missing.status_code == 404
        late = await api.post(f"/v1/label-applications/{application}/letter-sent", headers=_auth(DPID), json={
            "letter_key": key, "registered_number": "1A 123 456 7890 1", "sent_on": today.isoformat()})
        assert late.status_code == 409  # already acknowledged


async def _case_waking(api, application: str, instant: datetime) -> dict:
    """The application once its published next deadline is ``instant`` (search attributes follow the answer)."""
    case: dict = {}
    for _ in range(200):
        case = (await api.get(f"/v1/label-applications/{application}", headers=_auth(DPID))).json()
        wake = case["next_deadline"]
        if wake and datetime.fromisoformat(wake.replace("Z", "+00:00")) == instant:
            return case
        await asyncio.sleep(0.05)
    raise AssertionError(f"the case never woke at {instant}: {case.get('next_deadline')}")


async def _letter_task(db_pool, workflow_id: str) -> dict:
    """The case's LETTER_TO_SEND task (created by the letter's activity, after the answer)."""
    for _ in range(200):
        rows, _ = await TaskStore(db_pool).list(TaskFilter(workflow_id=workflow_id, kind=LETTER_TO_SEND), limit=5)
        if rows:
            return rows[-1]
        await asyncio.sleep(0.05)
    raise AssertionError("no LETTER_TO_SEND task")


async def test_completing_the_letter_task_tells_the_case_and_moves_its_receipt_clock(env, task_queue, db_pool,
                                                                                     structure):
    today = date.today()
    filed = today - timedelta(days=40)
    async with _api(env, task_queue, db_pool) as api:
        application = await _refused(api, structure, filed)
        decided = filed + timedelta(days=30)
        task = await _letter_task(db_pool, application)
        url = f"/v1/tasks/{task['task_id']}/complete"
        await _case_waking(api, application, deadline_instant(decided + timedelta(days=14)))  # not posted

        missing = await api.post(url, json={"sent_on": today.isoformat()}, headers=_auth(DPID))
        assert (missing.status_code, missing.json()["error"]["field"]) == (422, "registered_letter_number")
        lowercase = await api.post(url, json={"registered_letter_number": "ab-1", "sent_on": today.isoformat()},
                                   headers=_auth(DPID))
        assert (lowercase.status_code, lowercase.json()["error"]["field"]) == (422, "registered_letter_number")
        too_early = await api.post(url, json={"registered_letter_number": "1A 234 567 8901 2",
                                              "sent_on": (decided - timedelta(days=1)).isoformat()},
                                   headers=_auth(DPID))
        assert too_early.status_code == 409 and "before" in too_early.json()["error"]["message"], too_early.text
        assert (await api.get(f"/v1/tasks/{task['task_id']}", headers=_auth(DPID))).json()["status"] == "OPEN"

        posted_on = today - timedelta(days=2)
        sent = await api.post(url, json={"registered_letter_number": "1A 234 567 8901 2",
                                         "sent_on": posted_on.isoformat()}, headers=_auth(DPID))
        assert sent.status_code == 200 and sent.json()["status"] == "DONE", sent.text
        assert (sent.json()["closure_reason"], sent.json()["closed_by"]) == ("COMPLETED", "agent:test-0001")
        case = await _case_waking(api, application, deadline_instant(posted_on + timedelta(days=14)))  # AR reminder
        refusal = case["state"]["refusals"][-1]
        assert (refusal["registered_number"], refusal["sent_on"]) == ("1A 234 567 8901 2", posted_on.isoformat())
        again = await api.post(url, json={"registered_letter_number": "1A 234 567 8901 2",
                                          "sent_on": posted_on.isoformat()}, headers=_auth(DPID))
        assert (again.status_code, again.json()["error"]["code"]) == (409, "task_closed")


async def _activity_done(handle, activity_type: str) -> bool:
    events = (await handle.fetch_history()).events
    scheduled = {e.event_id for e in events
                 if e.activity_task_scheduled_event_attributes.activity_type.name == activity_type}
    return any(e.activity_task_completed_event_attributes.scheduled_event_id in scheduled for e in events)


async def test_the_person_who_sent_the_letter_stays_its_tasks_closer_when_the_case_closes_it_at_once(
        env, task_queue, db_pool, structure, monkeypatch):
    """The case answers ``record_letter_sent``, then its letter-event activity closes the task (LETTER_SENT). Here
    the completion is held back after the answer until that activity has closed it (no lock holds it back now:
    the task is only claimed for its completion); the completion then writes over the case's closing, so the
    person stays its closer and their outcome is kept."""
    from workers.api import tasks as task_routes

    today = date.today()
    real_send = task_routes.send_command

    async def send_then_let_the_case_close_first(api, workflow_id, what, command, message):
        answer = await real_send(api, workflow_id, what, command, message)
        for _ in range(200):  # the case's activity is blocked behind the completion, or has closed the task
            waiting = await db_pool.fetchval("""SELECT count(*) FROM pg_stat_activity
                                                WHERE datname = current_database() AND wait_event_type = 'Lock'""")
            status = await db_pool.fetchval("SELECT status FROM human_tasks WHERE task_id = $1", task["task_id"])
            if waiting or status != "OPEN":
                break
            await asyncio.sleep(0.05)
        return answer

    monkeypatch.setattr(task_routes, "send_command", send_then_let_the_case_close_first)
    async with _api(env, task_queue, db_pool) as api:
        application = await _refused(api, structure, today - timedelta(days=40))
        task = await _letter_task(db_pool, application)
        sent = await api.post(f"/v1/tasks/{task['task_id']}/complete", headers=_auth(DPID, actor="agent:poste-7"),
                              json={"registered_letter_number": "1A 234 567 8901 5", "sent_on": today.isoformat()})
        assert sent.status_code == 200, sent.text
        for _ in range(200):  # the case's letter-event activity has run (after the completion's commit)
            if await _activity_done(env.client.get_workflow_handle(application), ACT_RECORD_LETTER_EVENT):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the case never recorded the letter's posting")
        closed = (await api.get(f"/v1/tasks/{task['task_id']}", headers=_auth(DPID))).json()
        assert (closed["status"], closed["closure_reason"], closed["closed_by"]) == ("DONE", "COMPLETED", "agent:poste-7")
        assert closed["outcome"] == {"registered_letter_number": "1A 234 567 8901 5", "sent_on": today.isoformat()}
