"""The ready-made visibility queries of docs/ops-queries.md, read from the file, on a dev server with real workflows."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.pathway_start import signal_with_start
from domain.deadlines import PARIS, add_months, paris_date
from domain.label import application_workflow_id, label_workflow_id
from domain.label_messages import AdminEvaluation, ApplicationSubmitted, Decision, SlaiOpinion
from domain.pathway import FlowRecord
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
from workers.runtime.sandbox import workflow_runner
from workflows.label_application import LabelApplicationState

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops-queries.md"


def doc_query(name: str) -> str:
    """The query under ``<!-- query: name -->`` in the ops document."""
    match = re.search(rf"<!-- query: {re.escape(name)} -->\s*```text\n(.+?)\n```", DOC.read_text(encoding="utf-8"),
                      re.S)
    assert match, f"query {name!r} not found in {DOC}"
    return match.group(1).strip()


async def wait_for_ids(client: Client, query: str, expected: set[str], attempts: int = 200) -> set[str]:
    """Visibility is eventually consistent: list until the expected ids are there, then once more."""
    found: set[str] = set()
    for _ in range(attempts):
        found = {w.id async for w in client.list_workflows(query)}
        if expected <= found:
            return found
        await asyncio.sleep(0.05)
    return found


def _worker(client: Client, task_queue: str, pool) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                  activities=build_activities(Dependencies(pool=pool)), workflow_runner=workflow_runner())


async def test_orientation_queries_select_the_right_pathways(dev_env, task_queue, db_pool):
    assert any(w.__name__ == "BeneficiaryPathway" for w in WORKFLOWS), (
        "BeneficiaryPathway and its activities must be registered in workers/runtime/registry.py")
    client = dev_env.client
    territory = f"T-{uuid.uuid4().hex[:8]}"
    today = paris_date(datetime.now(PARIS))
    entries = {
        "overdue": add_months(today, -2),
        "due_soon": add_months(today + timedelta(days=3), -1),  # last allowed day in 3 days
        "fresh": today,
    }
    async with _worker(client, task_queue, db_pool):
        ids = {}
        for name, entry in entries.items():
            handle = await signal_with_start(
                client, uuid.uuid4().hex, territory,
                FlowRecord(event_id=f"flow-{name}", transmission_date=entry, subject_to_duties=True),
                task_queue=task_queue)
            ids[name] = handle.id
        try:
            scope = f" AND Territory = '{territory}'"
            overdue = await wait_for_ids(client, doc_query("orientations-overdue") + scope, {ids["overdue"]})
            until = datetime.combine(today + timedelta(days=8), datetime.min.time(), PARIS).isoformat()
            soon = await wait_for_ids(client, doc_query("orientations-due-soon").format(until=until) + scope,
                                      {ids["due_soon"]})
            everything = await wait_for_ids(
                client, f"WorkflowType = 'BeneficiaryPathway' AND Territory = '{territory}'", set(ids.values()))
        finally:
            for workflow_id in ids.values():
                await client.get_workflow_handle(workflow_id).terminate("test over")
    assert everything == set(ids.values())  # all three were indexed: the filters below are meaningful
    assert overdue == {ids["overdue"]}
    assert soon == {ids["due_soon"]}


async def test_labels_expiring_query_finds_a_label_granted_five_years_before(dev_env, task_queue, db_pool):
    client = dev_env.client
    structure = f"S{uuid.uuid4().hex[:10]}"
    today = paris_date(datetime.now(PARIS))
    async with _worker(client, task_queue, db_pool):
        application = await client.start_workflow(
            "LabelApplication", LabelApplicationState(structure_id=structure, application_no=1, territory="ARTOIS"),
            id=application_workflow_id(structure, 1), task_queue=task_queue)
        for name, message in (
            ("submit", ApplicationSubmitted(event_id="e1", filed_on=today - timedelta(days=30))),
            ("record_admin_evaluation", AdminEvaluation(event_id="e2", training_ok=True, cer_average=9, seed="s")),
            ("record_slai_opinion", SlaiOpinion(event_id="e3", confirmed=True, training_ok=True, cer_average=9)),
            ("decide", Decision(event_id="e4", outcome="grant", decided_on=today)),
        ):
            await application.execute_update(name, message)
        label_id = label_workflow_id(structure)
        query = doc_query("labels-expiring-this-year") + f" AND StructureId = '{structure}'"
        year = today.year + 5  # the label granted today expires in five years
        window = {"start": f"{year - 5}-01-01T00:00:00+01:00", "end": f"{year - 4}-01-01T00:00:00+01:00"}
        found = await wait_for_ids(client, query.format(**window), {label_id})
        earlier = {"start": f"{year - 6}-01-01T00:00:00+01:00", "end": f"{year - 5}-01-01T00:00:00+01:00"}
        not_this_year = {w.id async for w in client.list_workflows(query.format(**earlier))}
        state = await client.get_workflow_handle(label_id).query("state")
        await client.get_workflow_handle(label_id).terminate("test over")
    assert found == {label_id}
    assert not_this_year == set()
    assert date.fromisoformat(state["expires_on"]).year == year
