"""Granted label workflow: L15–L20, W1–W3 and the pathway link, time-skipping server with real durations."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio import workflow
from temporalio.client import WorkflowUpdateFailedError
from temporalio.worker import Worker

from activities.label import LabelRegistry, LabelStore
from activities.label_pathways import PathwayNotifier
from domain import label as L
from domain.deadlines import add_months, deadline_instant, paris_date
from domain.label import LabelStage
from domain.label_events import StructureLabelLost
from domain.label_messages import (
    AnnualReview,
    CommitmentBreach,
    IsLabelledQuery,
    LabelInput,
    MissionEnded,
    ObservationsReceived,
    QualityIssue,
    RemediationOutcome,
    RenewalDecision,
    RenewalRequest,
    WithdrawalDecision,
)
from domain.label_appeal import EvidenceReference
from domain.label_contract import LETTER_QUERY, RegisteredLetter
from domain.label_contract import ApplicationMessages as A
from domain.label_contract import LabelMessages as LM
from domain.label_letters import document_of, render_html
from domain.label_messages import AppealFiled, GracieuxAnswer, LetterSent, ReceiptAcknowledged
from domain.rules import RULESET_2023 as R
from test_label_application import ev, eventually, terminate_settled
from workers.runtime.sandbox import workflow_runner
from workflows.label import LabelState, LabelWorkflow
from workflows.label_application import LabelApplicationWorkflow


@workflow.defn(name="FakePathwayForLabelTests")
class FakePathway:
    """Stands in for the pathway workflow: records ``structure_label_lost`` signals."""

    def __init__(self) -> None:
        self.events: list[StructureLabelLost] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="structure_label_lost")
    def structure_label_lost(self, event: StructureLabelLost) -> None:
        if all(e.event_id != event.event_id for e in self.events):
            self.events.append(event)

    @workflow.query(name="events")
    def get_events(self) -> list[StructureLabelLost]:
        return self.events


@pytest_asyncio.fixture
async def env(ts_env, task_queue, db_pool):
    await db_pool.execute("CREATE SCHEMA IF NOT EXISTS label_test")
    await db_pool.execute(
        "CREATE TABLE IF NOT EXISTS label_test.pathways (pathway_id text PRIMARY KEY, referent_structure_id text)"
    )
    store = LabelStore(db_pool)
    notifier = PathwayNotifier(db_pool, table="label_test.pathways")
    started: list[str] = []
    async with Worker(
        ts_env.client, task_queue=task_queue,
        workflows=[LabelApplicationWorkflow, LabelWorkflow, FakePathway],
        activities=[store.create_task, store.close_tasks, store.send_registered_letter, store.record_letter_event,
                    store.record_application,
                    store.record_label, notifier.notify_pathways_label_lost],
        workflow_runner=workflow_runner(),
    ):
        yield Env(ts_env, task_queue, db_pool, started)
        for workflow_id in started:
            await terminate_settled(ts_env.client, workflow_id)


class Env:
    def __init__(self, ts_env, task_queue, pool, started):
        self.ts, self.client, self.task_queue, self.pool, self.started = ts_env, ts_env.client, task_queue, pool, started

    async def today(self) -> date:
        return paris_date(await self.ts.get_current_time())

    async def sleep_until(self, instant) -> None:
        delta = instant - await self.ts.get_current_time()
        if delta > timedelta(0):
            await self.ts.sleep(delta)

    async def label(self, decided_on: date | None = None, structure_id: str | None = None) -> "Label":
        sid = structure_id or f"S-{uuid.uuid4().hex[:8]}"
        decided = decided_on or await self.today()
        state = LabelState.granted(
            LabelInput(structure_id=sid, territory="LENS-HENIN", decided_on=decided,
                       application_workflow_id=f"label-{sid}-1", rule_set_version=R.version),
            R,
        )
        handle = await self.client.start_workflow(LabelWorkflow.run, state, id=L.label_workflow_id(sid),
                                                  task_queue=self.task_queue)
        self.started.append(handle.id)
        # no run id: queries and updates follow the label across continue-as-new (renewal)
        return Label(self, self.client.get_workflow_handle(handle.id, result_type=LabelState), sid)

    async def pathway(self, structure_id: str, *, running: bool = True) -> str:
        workflow_id = f"pathway-test-{uuid.uuid4().hex[:8]}"
        await self.pool.execute("INSERT INTO label_test.pathways VALUES ($1, $2)", workflow_id, structure_id)
        if running:
            await self.client.start_workflow(FakePathway.run, id=workflow_id, task_queue=self.task_queue)
            self.started.append(workflow_id)
        return workflow_id

    async def lost_events(self, workflow_id: str) -> list[StructureLabelLost]:
        return await self.client.get_workflow_handle(workflow_id).query(
            "events", result_type=list[StructureLabelLost])


class Label:
    def __init__(self, env: Env, handle, structure_id: str):
        self.env, self.handle, self.structure_id = env, handle, structure_id

    async def update(self, name: str, msg) -> LabelStage:
        return await self.handle.execute_update(name, msg, result_type=LabelStage)

    async def refused(self, name: str, msg) -> tuple[str, str]:
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await self.handle.execute_update(name, msg)
        return raised.value.cause.type, str(raised.value.cause.message)

    async def state(self) -> LabelState:
        return await self.handle.query(LM.STATE, result_type=LabelState)

    async def stage_is(self, stage: LabelStage) -> bool:
        return (await self.state()).stage is stage

    async def is_labelled(self, on: date, structure_id: str | None = None) -> bool:
        return await self.handle.query(
            "is_labelled", IsLabelledQuery(structure_id=structure_id or self.structure_id, on=on), result_type=bool)

    async def tasks(self) -> list[str]:
        rows = await self.env.pool.fetch(
            "SELECT kind FROM human_tasks WHERE workflow_id = $1 ORDER BY created_at, task_key", self.handle.id)
        return [r["kind"] for r in rows]

    async def closures(self) -> dict[str, set[tuple[str, str | None]]]:
        """Each task kind's (status, closure reason)s: the workflow closes a task when its awaited event arrives."""
        found: dict[str, set[tuple[str, str | None]]] = {}
        for r in await self.env.pool.fetch("SELECT kind, status, closure_reason FROM human_tasks WHERE workflow_id = $1",
                                           self.handle.id):
            found.setdefault(r["kind"], set()).add((r["status"], r["closure_reason"]))
        return found

    async def closed(self, *kinds: str) -> dict[str, set[tuple[str, str | None]]]:
        """``closures()`` once no task of ``kinds`` is open: an update answers before its closing activity ran."""
        async def settled():
            found = await self.closures()
            return found if all(kind in found and all(s != "OPEN" for s, _ in found[kind]) for kind in kinds) else None
        return await eventually(settled)

    async def has_task(self, kind: str) -> bool:
        return kind in await self.tasks()


# --- W1 lapse + pathway link + L20 ceremony and yearly list ---------------------------------------------


async def test_w1_lapse_is_immediate_and_signals_every_pathway_of_the_structure(env):
    today = await env.today()
    label = await env.label(decided_on=today - timedelta(days=100))
    mine = [await env.pathway(label.structure_id), await env.pathway(label.structure_id)]
    closed = await env.pathway(label.structure_id, running=False)
    other = await env.pathway("S-other-structure")
    assert await label.is_labelled(today) and not await label.is_labelled(today, "S-other-structure")
    await eventually(lambda: label.has_task("label_ceremony"))

    assert await label.update(LM.END_MISSION, MissionEnded(event_id=ev())) is LabelStage.LAPSED
    final = await label.handle.result()
    assert final.stage is LabelStage.LAPSED and final.ended_on == today and final.end_reason == "lapsed"
    for workflow_id in mine:
        events = await eventually(lambda: env.lost_events(workflow_id))
        assert [(e.structure_id, e.reason, e.effective_date) for e in events] == [
            (label.structure_id, "lapsed", today)]
        assert events[0].event_id == f"labelled-{label.structure_id}:lapsed:{today.isoformat()}"
    assert await env.lost_events(other) == []
    assert closed not in env.started
    assert not await label.is_labelled(today) and await label.is_labelled(today - timedelta(days=1))

    registry = LabelRegistry(env.pool)
    row = await env.pool.fetchrow("SELECT status, ended_on FROM labels WHERE structure_id=$1", label.structure_id)
    assert row["status"] == "LAPSED" and row["ended_on"] == today
    assert not await registry.is_labelled(label.structure_id, today)
    assert await registry.is_labelled(label.structure_id, today - timedelta(days=1))
    year = (today - timedelta(days=100)).year
    listing = await registry.yearly_list(year)
    assert label.structure_id in [r["structure_id"] for r in listing["labelled"]]


# --- L15 annual review, reminder, W3 ---------------------------------------------------------------------


async def test_annual_review_reminder_then_quality_remediation_then_withdrawal(env):
    label = await env.label()
    decided = (await label.state()).decided_on
    anniversary = add_months(decided, 12)
    kind, _ = await label.refused(LM.RECORD_ANNUAL_REVIEW, AnnualReview(
        event_id=ev(), anniversary=anniversary, charte_ok=True, training_ok=True, cer_quality_ok=True))
    assert kind == "InvalidCommand"  # not requested yet
    await env.sleep_until(deadline_instant(anniversary - timedelta(days=1)) + timedelta(hours=1))
    await eventually(lambda: label.has_task("label_annual_review"))
    assert not await label.has_task("label_annual_review_reminder")
    await env.sleep_until(deadline_instant(add_months(anniversary, 1) - timedelta(days=1)) + timedelta(hours=1))
    await eventually(lambda: label.has_task("label_annual_review_reminder"))

    stage = await label.update(LM.RECORD_ANNUAL_REVIEW, AnnualReview(
        event_id=ev(), anniversary=anniversary, charte_ok=True, training_ok=True, cer_quality_ok=False,
        reasons=["CER sample at 6.5/10"]))
    assert stage is LabelStage.QUALITY_REMEDIATION
    started = await env.today()
    assert await label.is_labelled(started)  # the label stays valid during the 6 months of support
    await eventually(lambda: label.has_task("label_quality_support"))
    ends = add_months(started, 6)
    kind, message = await label.refused(LM.DECIDE_REMEDIATION, RemediationOutcome(event_id=ev(), quality_assured=False))
    assert kind == "RemediationOngoing" and ends.isoformat() in message
    await env.sleep_until(deadline_instant(ends - timedelta(days=1)) + timedelta(hours=1))
    await eventually(lambda: label.has_task("label_remediation_study"))
    pathway = await env.pathway(label.structure_id)
    assert await label.update(LM.DECIDE_REMEDIATION, RemediationOutcome(
        event_id=ev(), quality_assured=False, reasons=["CER sample still at 6.8/10"])) is LabelStage.WITHDRAWN
    closures = await label.closed("label_annual_review", "label_annual_review_reminder", "label_remediation_study",
                                  "label_quality_support")
    assert closures["label_annual_review"] == closures["label_annual_review_reminder"] == {
        ("DONE", "ANNUAL_REVIEW_RECORDED")}
    assert closures["label_remediation_study"] == closures["label_quality_support"] == {("DONE", "REMEDIATION_DECIDED")}
    events = await eventually(lambda: env.lost_events(pathway))
    assert events[0].reason == "withdrawn"
    await _appeal_windows_then_close(env, label, "withdrawal")


async def _appeal_windows_then_close(env, label, kind: str) -> None:
    """A decision against the structure: letter, posting, receipt, then 2-month windows as for a refusal."""
    state = await label.state()
    key = state.appeal_letter_key
    assert key is not None and f":{kind}:" in key and state.appeal is None
    await eventually(lambda: env.pool.fetchval("SELECT kind FROM label_letters WHERE letter_key=$1", key))
    letter = await label.handle.query(LETTER_QUERY, key, result_type=RegisteredLetter)
    assert "tribunal administratif de Lille" in render_html(document_of(letter))
    today = await env.today()
    await label.update(A.RECORD_LETTER_SENT, LetterSent(event_id=ev(), letter_key=key,
                                                        registered_number="2C 000 111 2222 3", sent_on=today))
    await label.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key, received_on=today))
    deadline = L.appeal_deadline(today, R)
    appeal = (await label.state()).appeal
    assert appeal.gracieux_deadline == deadline and appeal.direct_contentieux_deadline == deadline
    await env.sleep_until(deadline_instant(deadline) - timedelta(hours=2))
    assert (await label.state()).appeal.last_window_day() == deadline  # still open: the case is running
    await env.sleep_until(deadline_instant(deadline) + timedelta(hours=1))
    assert (await label.handle.result()).appeal.settled(deadline + timedelta(days=1))


async def test_quality_remediation_can_keep_the_label(env):
    label = await env.label()
    await label.update(LM.REPORT_QUALITY_ISSUE, QualityIssue(event_id=ev(), reasons=["DPID control"]))
    await env.ts.sleep(timedelta(days=186))
    assert await label.update(LM.DECIDE_REMEDIATION, RemediationOutcome(
        event_id=ev(), quality_assured=True)) is LabelStage.LABELLED


# --- W2 contradictory phase ------------------------------------------------------------------------------


async def test_w2_withdrawal_only_after_the_contradictory_phase(env):
    label = await env.label()
    notified = await env.today()
    await label.update(LM.REPORT_COMMITMENT_BREACH, CommitmentBreach(
        event_id=ev(), grounds=["new referent not trained within 12 months"]))
    state = await label.state()
    deadline = L.observation_deadline(notified, R)
    assert state.stage is LabelStage.WITHDRAWAL_PROCEDURE and state.withdrawal.observation_deadline == deadline
    letter = await eventually(lambda: env.pool.fetchrow(
        "SELECT kind FROM label_letters WHERE workflow_id=$1", label.handle.id))
    assert letter["kind"] == "withdrawal_notice"
    kind, message = await label.refused(LM.DECIDE_WITHDRAWAL, WithdrawalDecision(event_id=ev(), outcome="withdraw"))
    assert kind == "ContradictoryPhaseOpen" and deadline.isoformat() in message
    await env.sleep_until(deadline_instant(deadline) + timedelta(hours=1))
    await eventually(lambda: label.has_task("label_withdrawal_decision"))
    assert await label.update(LM.DECIDE_WITHDRAWAL, WithdrawalDecision(
        event_id=ev(), outcome="maintain")) is LabelStage.LABELLED

    await label.update(LM.REPORT_COMMITMENT_BREACH, CommitmentBreach(event_id=ev(), grounds=["charte not sent"]))
    await label.update(LM.RECORD_OBSERVATIONS, ObservationsReceived(event_id=ev()))
    assert await label.update(LM.DECIDE_WITHDRAWAL, WithdrawalDecision(
        event_id=ev(), outcome="withdraw")) is LabelStage.WITHDRAWN
    assert (await label.closed("label_withdrawal_decision"))["label_withdrawal_decision"] == {
        ("DONE", "WITHDRAWAL_DECIDED")}
    # the withdrawal is appealable as a refusal is (L10–L13): a recours gracieux with evidence references
    state = await label.state()
    key = state.appeal_letter_key
    assert key is not None and state.stage is LabelStage.WITHDRAWN
    kind, _ = await label.refused(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev()))
    assert kind == "InvalidCommand"  # no window before the receipt
    today = await env.today()
    await label.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key, received_on=today))
    evidence = [EvidenceReference(document_id="ged:2026-0042", sha256="ab" * 32, kind="training_attestation")]
    await label.update(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev(), evidence=evidence))
    state = await label.state()
    assert state.appeal.gracieux_evidence == evidence
    assert state.appeal.gracieux_answer_due == L.gracieux_answer_due(today, R)
    assert await label.update(A.ANSWER_RECOURS_GRACIEUX, GracieuxAnswer(
        event_id=ev(), outcome="granted", reasons=["formations justifiées"])) is LabelStage.LABELLED
    assert await label.is_labelled(today)
    await eventually(lambda: env.pool.fetchval(
        "SELECT count(*) = 1 FROM label_letters WHERE letter_key LIKE $1", f"{label.handle.id}:gracieux_granted:%"))


# --- L16 renewal, expiry ---------------------------------------------------------------------------------


async def test_renewal_window_extension_and_new_cycle(env):
    label = await env.label()
    state = await label.state()
    first, last = L.renewal_window(state.expires_on, R)
    kind, message = await label.refused(LM.REQUEST_RENEWAL, RenewalRequest(event_id=ev()))
    assert kind == "OutsideRenewalWindow"
    assert first.isoformat() in message and last.isoformat() in message
    await env.sleep_until(deadline_instant(first - timedelta(days=1)) + timedelta(hours=1))
    tasks = await label.tasks()
    assert tasks.count("label_annual_review") == 4 and "label_renewal_reminder" in tasks
    assert await label.update(LM.REQUEST_RENEWAL, RenewalRequest(event_id=ev())) is LabelStage.RENEWAL_INSTRUCTION
    # still valid after the 5 years while the renewal is being decided
    await env.sleep_until(deadline_instant(state.expires_on) + timedelta(days=10))
    assert await label.stage_is(LabelStage.RENEWAL_INSTRUCTION)
    assert await label.is_labelled(await env.today())
    decided = await env.today()
    first_run = (await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=env.client.namespace,
                                         execution=WorkflowExecution(workflow_id=label.handle.id)))
    ).workflow_execution_info.execution.run_id
    await label.update(LM.DECIDE_RENEWAL, RenewalDecision(event_id=ev(), outcome="grant"))

    # continued as new with the next cycle: wait for the new run to be idle before querying it (a query
    # racing the continue-as-new leaves the test server waiting on the closed run)

    async def new_run_idle():
        response = await env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=env.client.namespace,
                                             execution=WorkflowExecution(workflow_id=label.handle.id)))
        return (response.workflow_execution_info.execution.run_id != first_run
                and not response.HasField("pending_workflow_task") and not response.pending_activities)
    await eventually(new_run_idle)
    state = await label.state()
    assert state.decided_on == decided and state.stage is LabelStage.LABELLED
    closures = await label.closed("label_renewal_reminder", "label_renewal_instruction", "label_annual_review",
                                  "label_annual_review_reminder")
    assert closures["label_renewal_reminder"] == {("DONE", "RENEWAL_REQUESTED")}
    assert closures["label_renewal_instruction"] == {("DONE", "RENEWAL_DECIDED")}
    # the last cycle's reviews never recorded: the renewal, instructed on the charte and attestations, answers them
    assert closures["label_annual_review"] == closures["label_annual_review_reminder"] == {("DONE", "RENEWAL_DECIDED")}
    assert state.expires_on == add_months(decided, 60)
    assert await label.is_labelled(state.first_granted_on) and await label.is_labelled(add_months(decided, 59))
    assert not await label.is_labelled(state.first_granted_on - timedelta(days=1))


async def test_expiry_without_renewal_signals_pathways(env):
    label = await env.label()
    pathway = await env.pathway(label.structure_id)
    expires = (await label.state()).expires_on
    await env.sleep_until(deadline_instant(expires - timedelta(days=1)) - timedelta(hours=1))
    assert await label.stage_is(LabelStage.LABELLED)
    await env.ts.sleep(timedelta(hours=2))
    assert (await label.handle.result()).stage is LabelStage.EXPIRED
    events = await eventually(lambda: env.lost_events(pathway))
    assert [(e.reason, e.effective_date) for e in events] == [("expired", expires)]
    assert await label.is_labelled(expires - timedelta(days=1)) and not await label.is_labelled(expires)
    # the yearly charte qualité is no longer asked of a lost label: its reviews never recorded are cancelled
    closures = await label.closed("label_annual_review", "label_annual_review_reminder")
    assert closures["label_annual_review"] == closures["label_annual_review_reminder"] == {("CANCELLED", "LABEL_ENDED")}


async def test_renewal_refused_after_expiry_ends_the_label_at_the_decision(env):
    label = await env.label()
    expires = (await label.state()).expires_on
    first, _ = L.renewal_window(expires, R)
    await env.sleep_until(deadline_instant(first - timedelta(days=1)) + timedelta(hours=1))
    await label.update(LM.REQUEST_RENEWAL, RenewalRequest(event_id=ev()))
    await env.sleep_until(deadline_instant(expires) + timedelta(days=3))
    decided = await env.today()
    kind, _ = await label.refused(LM.DECIDE_RENEWAL, RenewalDecision(event_id=ev(), outcome="refuse"))
    assert kind == "InvalidCommand"  # reasons required
    assert await label.update(LM.DECIDE_RENEWAL, RenewalDecision(
        event_id=ev(), outcome="refuse", reasons=["CER quality"])) is LabelStage.EXPIRED
    await _appeal_windows_then_close(env, label, "renewal_refusal")
    assert (await label.handle.result()).ended_on == decided  # queries below read the closed workflow
    assert await label.is_labelled(decided - timedelta(days=1)) and not await label.is_labelled(decided)
