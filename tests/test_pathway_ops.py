"""What ops staff see of a pathway (issue 6 items 6 and 8): the UI summary, the ``CerEnd`` search attribute and
its ready-made query, business metrics; and the MonJob62 refusal type shared with the HTTP adapter."""

from __future__ import annotations

import asyncio
import calendar
import re
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities import monjob
from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from activities.pathway_start import signal_with_start
from domain.pathway_contract import MONJOB62_REFUSED
from domain.deadlines import PARIS, add_months, paris_date
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CerAction,
    CerType,
    FlowRecord,
    OrientationDecision,
    OrientationTarget,
    SignCer,
    Stage,
)
from pathway_harness import Harness, contract, metric_updates, running_pathway
from workers.runtime.sandbox import workflow_runner
from workflows import search_attributes as sa
from workflows.pathway import BeneficiaryPathway
from workflows.pathway_settings import DECISIONS, DEADLINES_BREACHED, PUSH_OPTIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops-queries.md"


def direct(day: date, event_id: str = "o") -> OrientationDecision:
    return OrientationDecision(event_id=event_id, target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                               notified_on=day, bypass_reason="suivi déjà engagé")


def cer(start: date, end: date, cer_id: str = "cer-1") -> SignCer:
    acts = [CerAction(start=start, end=start + timedelta(days=60), professional_insertion=i == 0) for i in range(3)]
    return contract(SignCer(event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL, start=start,
                            end=end, signed_on=start, actions=acts))


async def current_details(h: Harness) -> str:
    metadata = await h.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


# ------------------------------------------------------------------ UI summary and CerEnd (item 6)


async def test_summary_shows_stage_and_next_deadline_and_cer_end_is_a_search_attribute(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as h:
        d0 = await h.morning()
        await h.start()
        await h.eventually(lambda: _matches(h, f"AWAITING_ORIENTATION · next deadline ORIENTATION {add_months(d0, 1)}"))
        await h.update(BeneficiaryPathway.orient, direct(d0))
        await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
            event_id="rdv", kind=AppointmentKind.SCHEDULED, appointment_date=d0 + timedelta(days=7)))
        end = add_months(d0, 6)
        await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0, end))
        await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
        await h.eventually(lambda: _matches(h, f"CER_ACTIVE · next deadline CER_END {end}"))
        attributes = await h.search_attributes(lambda a: a.get(sa.CER_END) is not None)
        assert attributes.get(sa.CER_END) == datetime.combine(end, time.min, tzinfo=PARIS)
        assert attributes.get(sa.STAGE) == "CER_ACTIVE"
        assert h.person_id not in await current_details(h)


async def _matches(h: Harness, expected: str) -> bool:
    return await current_details(h) == expected


def doc_query(name: str) -> str:
    match = re.search(rf"<!-- query: {re.escape(name)} -->\s*```text\n(.+?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"query {name!r} not found in {DOC}"
    return match.group(1).strip()


async def test_cer_ending_this_month_query_of_the_ops_document(dev_env, task_queue, db_pool):
    """On a real dev server (visibility queries): the pathway whose CER ends in the month is listed, the one
    ending the month before is not."""
    client: Client = dev_env.client
    activities = PathwayActivities(PathwayReadModel(db_pool), InMemoryMonJob62())
    today = paris_date(datetime.now(timezone.utc))
    ends = {"in": add_months(today, 6), "before": add_months(today, 5)}
    if ends["before"].month == ends["in"].month:  # 31 → 30/28 clamping cannot make them share a month, but be sure
        ends["before"] = ends["in"].replace(day=1) - timedelta(days=1)
    handles = {}
    async with Worker(client, task_queue=task_queue, workflows=[BeneficiaryPathway], activities=activities.all(),
                      workflow_runner=workflow_runner()):
        try:
            for name, end in ends.items():
                person = uuid.uuid4().hex
                handle = await signal_with_start(client, person, "OPS-CER", FlowRecord(
                    event_id="f", transmission_date=today, subject_to_duties=True), task_queue=task_queue)
                handles[name] = handle
                await _until_stage(handle, Stage.AWAITING_ORIENTATION)
                await handle.execute_update(BeneficiaryPathway.orient, direct(today))
                await handle.execute_update(BeneficiaryPathway.sign_contrat_engagement, cer(today, end))
            month = ends["in"]
            last = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
            query = doc_query("cer-ending-this-month").format(month_start=month.replace(day=1).isoformat(),
                                                              month_end=last.isoformat())
            wanted = handles["in"].id
            found: set[str] = set()
            for _ in range(200):
                found = {w.id async for w in client.list_workflows(query)}
                if wanted in found:
                    break
                await asyncio.sleep(0.05)
            assert wanted in found and handles["before"].id not in found
        finally:
            for handle in handles.values():
                await handle.terminate("test over")


async def _until_stage(handle, stage: Stage) -> None:
    for _ in range(300):
        if await handle.query(BeneficiaryPathway.stage) is stage:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never reached {stage}")


# ------------------------------------------------------------------ business metrics (item 8)


async def test_breaches_and_decisions_are_counted_without_personal_data(db_pool, task_queue):
    buffer = MetricBuffer(10_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    async with running_pathway(db_pool, task_queue, runtime=runtime) as h:
        d0 = await h.morning()
        await h.start()
        await h.sleep_until(d0 + timedelta(days=32))
        await h.view(lambda v: v.breaches)
        await h.update(BeneficiaryPathway.orient, OrientationDecision(
            event_id="o", target=OrientationTarget.PLATFORM, structure_id="PF-LENS", notified_on=await h.today()))
        await h.idle()
        updates = await metric_updates(buffer, DECISIONS)
    breached = [(dict(u.attributes), u.value) for u in updates if u.metric.name == DEADLINES_BREACHED]
    decisions = [(dict(u.attributes), u.value) for u in updates if u.metric.name == DECISIONS]
    assert [(a["deadline_kind"], v) for a, v in breached] == [("ORIENTATION", 1)]
    assert [(a["decision_kind"], a["outcome"], v) for a, v in decisions] == [("ORIENTATION", "PLATFORM", 1)]
    for attributes, _ in breached + decisions:
        assert set(attributes) <= {"service_name", "namespace", "task_queue", "workflow_type", "deadline_kind",
                                   "decision_kind", "outcome"}
        assert h.person_id not in " ".join(map(str, attributes.values()))


# ------------------------------------------------------------------ MonJob62 refusal (item 6 of the brief)


async def test_a_monjob62_refusal_is_not_retried_and_becomes_a_task(db_pool, task_queue, test_keyring):
    assert MONJOB62_REFUSED == monjob.REFUSED
    assert PUSH_OPTIONS["retry_policy"].non_retryable_error_types == [monjob.REFUSED]
    fake = InMemoryMonJob62()
    fake.refused_kinds = {"CER"}
    async with running_pathway(db_pool, task_queue, keyring=test_keyring, monjob=fake) as h:
        d0 = await h.morning()
        await h.start()
        await h.update(BeneficiaryPathway.orient, direct(d0))
        await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0, add_months(d0, 6)))

        async def task_created() -> bool:
            return await h.pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1 AND kind = "
                                         "'MONJOB62_PUSH_FAILED'", h.handle.id) == 1
        await h.eventually(task_created)
        assert fake.attempts == [f"{h.handle.id}:CER:cer-1"] and fake.received == {}
