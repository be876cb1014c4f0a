"""Refused signals never vanish and no data fails a workflow task (issues 12 and 13), on the time-skipping server
through the real worker: messages are sent with a Temporal client directly, bypassing the API's checks."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

from activities.pathway_start import signal_with_start
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CerAction,
    CerType,
    FlowRecord,
    LeftRsa,
    OrientationDecision,
    OrientationTarget,
    SignCer,
    Stage,
)
from pathway_harness import TERRITORY, Harness, contract, metric_updates, running_pathway
from workflows.pathway import BeneficiaryPathway
from workflows.pathway_settings import REFUSED_EVENTS

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def no_failed_task(h: Harness, workflow_id: str) -> None:
    """No run of the pathway has a failed workflow task (every run of a continue-as-new chain)."""
    run_id = None
    while True:
        history = await h.env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        first = history.events[0].workflow_execution_started_event_attributes
        if not first.continued_execution_run_id:
            return
        run_id = first.continued_execution_run_id


async def anomaly_rows(h: Harness, workflow_id: str):
    await h.idle()
    return await h.pool.fetch("SELECT message, code, stage FROM pathway_anomalies WHERE pathway_id = $1 ORDER BY "
                              "recorded_at, anomaly_id", workflow_id)


async def test_a_missed_appointment_the_rules_refuse_becomes_an_anomaly_a_task_and_a_metric(db_pool, task_queue):
    buffer = MetricBuffer(10_000)
    async with running_pathway(db_pool, task_queue, runtime=Runtime(telemetry=TelemetryConfig(metrics=buffer))) as h:
        await h.morning()
        await h.start()
        await h.update(BeneficiaryPathway.orient, OrientationDecision(
            event_id="o-1", target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="REF-9",
            notified_on=await h.today(), bypass_reason="known to the service"))
        await h.view(lambda v: v.stage is Stage.REFERENT_DESIGNATED)
        handle = h.env.client.get_workflow_handle(h.handle.id)
        await handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
            event_id="missed-1", kind=AppointmentKind.MISSED, appointment_date=await h.today()))
        view = await h.view(lambda v: v.anomalies)
        assert [(a.message, a.event_id, a.code, a.stage) for a in view.anomalies] == [
            ("appointment", "missed-1", "STAGE_NOT_ALLOWED", Stage.REFERENT_DESIGNATED)]
        assert view.stage is Stage.REFERENT_DESIGNATED
        rows = await anomaly_rows(h, h.handle.id)
        assert [tuple(r) for r in rows] == [("appointment", "STAGE_NOT_ALLOWED", "REFERENT_DESIGNATED")]
        task = await h.pool.fetchrow("SELECT assignee, status, details FROM human_tasks WHERE workflow_id = $1 "
                                     "AND kind = 'REFUSED_EVENT'", h.handle.id)
        assert (task["assignee"], task["status"]) == ("REFERENT:REF-9", "OPEN")
        await no_failed_task(h, h.handle.id)
        updates = await metric_updates(buffer, REFUSED_EVENTS)
    counted = [(dict(u.attributes), u.value) for u in updates if u.metric.name == REFUSED_EVENTS]
    assert [(a["message"], a["code"], v) for a, v in counted] == [("appointment", "STAGE_NOT_ALLOWED", 1)]


async def test_dates_datetime_cannot_carry_leave_the_case_unchanged_and_the_workflow_task_healthy(db_pool, task_queue):
    async with running_pathway(db_pool, task_queue) as h:
        await h.morning()
        await h.start()
        handle = h.env.client.get_workflow_handle(h.handle.id)
        # 9999-12-31 + 6 months (the re-entry window) overflows datetime.date
        await handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(
            event_id="left-1", end_of_payment_date=date(9999, 12, 31), reason="RESSOURCES"))
        view = await h.view(lambda v: v.anomalies)
        assert [(a.message, a.code) for a in view.anomalies] == [("left_rsa", "DATA_NOT_APPLICABLE")]
        assert view.stage is Stage.AWAITING_ORIENTATION and view.exit_reason is None
        assert [d.status for d in view.deadlines if d.kind.value == "ORIENTATION"] == ["PENDING"]  # nothing paused
        await handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(
            event_id="left-2", end_of_payment_date=await h.today(), reason="RESSOURCES"))
        await h.view(lambda v: v.stage is Stage.CLOSED)  # the case still works
        assert [tuple(r)[:2] for r in await anomaly_rows(h, h.handle.id)] == [("left_rsa", "DATA_NOT_APPLICABLE")]
        await no_failed_task(h, h.handle.id)


async def test_a_1900_transmission_date_sent_with_start_is_an_anomaly_not_a_poisoned_case(db_pool, task_queue):
    async with running_pathway(db_pool, task_queue) as h:
        h.person_id = uuid.uuid4().hex
        h.handle = await signal_with_start(
            h.env.client, h.person_id, TERRITORY,
            FlowRecord(event_id="flow-1900", transmission_date=date(1900, 1, 1), subject_to_duties=True),
            task_queue=task_queue)
        view = await h.view(lambda v: v.anomalies)
        assert [(a.message, a.code) for a in view.anomalies] == [("flow_record", "IMPLAUSIBLE_DATE")]
        assert view.stage is Stage.DETECTED and view.deadlines == []
        assert not await h.pool.fetchval("SELECT count(*) FROM deadlines WHERE pathway_id = $1", h.handle.id)
        await h.flow("flow-2")  # a plausible record afterwards opens the case normally
        await h.view(lambda v: v.stage is Stage.AWAITING_ORIENTATION)
        await no_failed_task(h, h.handle.id)


async def test_an_update_whose_dates_overflow_is_refused_with_a_code_and_the_task_stays_healthy(db_pool, task_queue):
    async with running_pathway(db_pool, task_queue) as h:
        await h.morning()
        await h.start()
        today = await h.today()
        await h.update(BeneficiaryPathway.orient, OrientationDecision(
            event_id="o-1", target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="REF-9", notified_on=today,
            bypass_reason="known to the service"))
        far = date(9999, 9, 1)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
                event_id="cer-1", cer_id="C1", type=CerType.SOLIDARITE, start=far, end=far + timedelta(days=30),
                signed_on=today, actions=[CerAction(start=far, end=far + timedelta(days=1))])))
        assert refused.value.cause.type == "DATA_NOT_APPLICABLE"
        assert (await h.view()).stage is Stage.REFERENT_DESIGNATED
        await no_failed_task(h, h.handle.id)
