"""Property (issue 13): whatever the API accepts leaves the case's workflow task healthy — random bodies for the
start route and a person's command reach the real ``BeneficiaryPathway`` (dev server, production registry), and no
accepted one ever fails a workflow task; nothing is ever answered 5xx."""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType

from tests.api_harness import CAF, REFERENT_TOOL, _api, _auth, _new_nir, env  # noqa: F401  (env: fixture)

EXAMPLES = int(os.environ.get("POISON_EXAMPLES", "12"))
TODAY = date.today()
DATES = st.one_of(st.dates(), st.dates(TODAY - timedelta(days=400), TODAY + timedelta(days=60)))
VALUES = st.one_of(st.booleans(), st.none(), st.integers(-10, 2**40), st.text(max_size=12), DATES.map(str))
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["CCAS-LENS", "S\x00B", "A" * 300, "é"]))


async def _task_failures(client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def _settled(api, client, workflow_id: str) -> None:
    """Wait until the workflow has answered a query (its tasks ran), or has failed a task."""
    for _ in range(100):
        if await _task_failures(client, workflow_id):
            return
        case = (await api.http.get(f"/v1/pathways/{workflow_id}", headers=_auth(REFERENT_TOOL))).json()
        if case.get("source") == "workflow":
            return
        await asyncio.sleep(0.05)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(transmission=st.one_of(DATES.map(str), VALUES), subject=st.one_of(st.just(True), VALUES),
       rights=st.one_of(st.just(True), VALUES), target=st.sampled_from(["PLATFORM", "REFERENT_SOLIDARITE", "X"]),
       structure=TEXT, notified=st.one_of(DATES.map(str), VALUES), reason=st.one_of(st.none(), TEXT))
async def test_an_accepted_body_never_fails_a_workflow_task(env, task_queue, db_pool, transmission, subject,
                                                            rights, target, structure, notified, reason):
    async with _api(env, task_queue, db_pool) as api:
        started = await api.http.post("/v1/pathways", headers=_auth(CAF), json={
            "nir": _new_nir()[0], "territory": "LENS", "transmission_date": transmission,
            "subject_to_duties": subject, "rights_open": rights})
        assert started.status_code in (202, 422), started.text
        if started.status_code != 202:
            return
        pathway_id = started.json()["pathway_id"]
        api.started.append(pathway_id)
        await _settled(api, env.client, pathway_id)
        oriented = await api.http.post(f"/v1/pathways/{pathway_id}/orientation", headers=_auth(REFERENT_TOOL), json={
            "target": target, "structure_id": structure, "notified_on": notified, "bypass_reason": reason})
        assert oriented.status_code in (200, 409, 422), oriented.text
        await _settled(api, env.client, pathway_id)
        assert await _task_failures(env.client, pathway_id) == 0
