"""A replayed POST sends nothing to the case again: for each family of routes that talks to a workflow (a
pathway's start and its signals and updates, a label application's filing and its updates), the retry with the
same Idempotency-Key is answered the stored answer and the case's history holds one message."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from temporalio.api.enums.v1 import EventType

from tests.api_harness import CAF, REFERENT_TOOL, _api, _auth, _new_nir, _orientation, env  # noqa: F401 (fixture)
from test_api_label import DEPOSANT, DPID
from test_api_label import _api as _label_api

SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED


async def messages(env, workflow_id: str, name: str) -> int:
    """Signals and accepted updates named ``name`` in the case's histories (every run: a pathway continues as
    new), the start's signal included."""
    count, runs = 0, {(await env.client.get_workflow_handle(workflow_id).describe()).run_id}
    runs |= {run.run_id async for run in env.client.list_workflows(f"WorkflowId = '{workflow_id}'")}
    for run_id in runs:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        for e in history.events:
            if e.event_type == SIGNALED and e.workflow_execution_signaled_event_attributes.signal_name == name:
                count += 1
            elif e.event_type == ACCEPTED and (
                    e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == name):
                count += 1
    return count


async def _replayed(post, path: str, body: dict, headers: dict, status: int):
    first = await post(path, json=body, headers=headers)
    assert first.status_code == status, first.text
    again = await post(path, json=body, headers=headers)
    assert (again.status_code, again.headers.get("Idempotent-Replayed"), again.json()) == (status, "true",
                                                                                          first.json())
    return first.json()


async def test_pathway_start_signal_and_update_are_sent_once_per_key(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        nir, _ = _new_nir()
        key = str(uuid.uuid4())
        started = await api.start(nir, key)
        assert (await api.start(nir, key)).headers["Idempotent-Replayed"] == "true"
        pathway_id = started.json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        base = f"/v1/pathways/{pathway_id}"
        await _replayed(api.http.post, f"{base}/payment-suspended",
                        {"flow_date": today.isoformat(), "reasons": ["01"]}, _auth(CAF), 202)
        await _replayed(api.http.post, f"{base}/orientation", _orientation(today), _auth(REFERENT_TOOL), 200)
        assert await messages(env, pathway_id, "flow_record") == 1
        assert await messages(env, pathway_id, "payment_suspended") == 1
        assert await messages(env, pathway_id, "orient") == 1


async def test_label_filing_and_its_commands_are_sent_once_per_key(env, task_queue, db_pool):
    structure = f"S{uuid.uuid4().hex[:10]}"
    filed = date.today() - timedelta(days=20)
    async with _label_api(env, task_queue, db_pool) as api:
        submitted = await _replayed(api.post, "/v1/label-applications", {
            "structure_id": structure, "application_no": 1, "territory": "ARTOIS", "filed_on": filed.isoformat()},
            _auth(DEPOSANT), 200)
        application = submitted["case_id"]
        await _replayed(api.post, f"/v1/label-applications/{application}/admin-evaluation",
                        {"training_ok": False, "cer_average": 6.0, "seed": "s"}, _auth(DPID), 200)
        assert await messages(env, application, "submit") == 1
        assert await messages(env, application, "record_admin_evaluation") == 1
