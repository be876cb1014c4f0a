"""Label application workflow L1–L14 on the time-skipping server, real durations (4, 5, 6 months, 2 months)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.label import LabelStore
from activities.label_pathways import PathwayNotifier
from domain.label_contract import ApplicationMessages as A
from domain import label as L
from domain.deadlines import add_days, add_months, deadline_instant, is_working_day, paris_date
from domain.label import LabelStage
from domain.label_messages import (
    AdminEvaluation,
    AppealFiled,
    ApplicationSubmitted,
    Decision,
    GracieuxAnswer,
    JointReview,
    Judgment,
    MoratoriumRow,
    MoratoriumSheet,
    ReceiptAcknowledged,
    Reapplication,
    SlaiOpinion,
)
from domain.rules import RULESET_2023 as R
from workers.runtime.sandbox import workflow_runner
from workflows.label import LabelWorkflow
from workflows.label_application import LabelApplicationState, LabelApplicationWorkflow


@pytest_asyncio.fixture
async def worker(ts_env, task_queue, db_pool):
    await db_pool.execute("CREATE SCHEMA IF NOT EXISTS label_test")
    await db_pool.execute(
        "CREATE TABLE IF NOT EXISTS label_test.pathways (pathway_id text PRIMARY KEY, referent_structure_id text)"
    )
    store = LabelStore(db_pool)
    notifier = PathwayNotifier(db_pool, table="label_test.pathways")
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[LabelApplicationWorkflow, LabelWorkflow],
        activities=[store.create_task, store.close_tasks, store.send_registered_letter, store.record_letter_event,
                    store.record_application,
                    store.record_label, notifier.notify_pathways_label_lost],
        workflow_runner=workflow_runner(),
    ):
        yield


async def eventually(check, attempts: int = 400):
    """Poll until ``check()`` is truthy (the worker processes a fired timer asynchronously)."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.025)
    raise AssertionError("condition not reached")


def ev() -> str:
    return uuid.uuid4().hex


class App:
    def __init__(self, env, handle: WorkflowHandle, pool, structure_id: str):
        self.env, self.handle, self.pool, self.structure_id = env, handle, pool, structure_id

    async def update(self, name: str, msg):
        try:
            return await self.handle.execute_update(name, msg, result_type=LabelStage)
        except WorkflowUpdateFailedError as error:
            raise AssertionError(f"{name} refused: {error.cause}") from error

    async def refused(self, name: str, msg) -> tuple[str, str]:
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await self.handle.execute_update(name, msg)
        cause = raised.value.cause
        return cause.type, str(cause.message)

    async def state(self) -> LabelApplicationState:
        return await self.handle.query(A.STATE, result_type=LabelApplicationState)

    async def stage(self) -> LabelStage:
        return (await self.state()).stage

    async def tasks(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT kind FROM human_tasks WHERE workflow_id = $1 ORDER BY created_at, task_key", self.handle.id)
        return [r["kind"] for r in rows]

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def today(self) -> date:
        return paris_date(await self.now())

    async def sleep_until(self, instant: datetime) -> None:
        delta = instant - await self.now()
        if delta > timedelta(0):
            await self.env.sleep(delta)

    async def evaluate(self, average: float = 9.0, training_ok: bool = True) -> None:
        await self.update(A.RECORD_ADMIN_EVALUATION, AdminEvaluation(
            event_id=ev(), training_ok=training_ok, cer_average=average, seed="s", sampled_cer_ids=["c1"]))
        await self.update(A.RECORD_SLAI_OPINION, SlaiOpinion(
            event_id=ev(), confirmed=True, training_ok=training_ok, cer_average=average))


@pytest_asyncio.fixture
async def start(ts_env, task_queue, db_pool, worker):
    """Start applications; at teardown terminate whatever is still running (a workflow left without a
    worker would block time skipping for the rest of the session when its next timer fires)."""
    started: list[str] = []

    async def _start(structure_id: str | None = None, application_no: int = 1) -> App:
        sid = structure_id or f"S-{uuid.uuid4().hex[:8]}"
        handle = await ts_env.client.start_workflow(
            LabelApplicationWorkflow.run,
            LabelApplicationState(structure_id=sid, application_no=application_no, territory="ARTOIS"),
            id=L.application_workflow_id(sid, application_no),
            task_queue=task_queue,
        )
        started.extend([handle.id, L.label_workflow_id(sid)])
        return App(ts_env, handle, db_pool, sid)

    yield _start
    for workflow_id in started:
        await terminate_settled(ts_env.client, workflow_id)


async def terminate_settled(client, workflow_id: str) -> None:
    """Terminate once no activity is in flight: the test server keeps time skipping locked for an activity
    whose worker has gone until it times out, which would stall every later ``env.sleep`` of the session."""
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                               execution=WorkflowExecution(workflow_id=workflow_id))
    quiet = 0
    for _ in range(400):
        try:
            response = await client.workflow_service.describe_workflow_execution(request)
        except RPCError:
            return  # never started
        if response.workflow_execution_info.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return
        busy = response.pending_activities or response.pending_children or response.HasField("pending_workflow_task")
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            break
        await asyncio.sleep(0.02)
    try:
        await client.get_workflow_handle(workflow_id).terminate("test finished")
    except RPCError:
        pass  # already closed


async def raw_search_attributes(client, workflow_id: str) -> dict[str, bytes]:
    """Search attributes as raw payload data (the test server's datetime encoding trips ``describe()``)."""
    response = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                         execution=WorkflowExecution(workflow_id=workflow_id)))
    fields = response.workflow_execution_info.search_attributes.indexed_fields
    return {name: payload.data for name, payload in fields.items()}


# --- L1, L2 ----------------------------------------------------------------------------------------------


async def test_submission_starts_the_dpid_evaluation_and_publishes_search_attributes(start):
    app = await start()
    assert await app.stage() is LabelStage.DRAFT
    kind, message = await app.refused(A.SUBMIT, ApplicationSubmitted(event_id=ev(), filed_on=date(2024, 12, 31)))
    assert kind == "CampaignNotOpen" and "2025-01-01" in message
    kind, message = await app.refused(A.SUBMIT, ApplicationSubmitted(event_id=ev(), filed_on=date(1900, 1, 1)))
    assert kind == "ImplausibleDate" and "2009-06-01" in message  # a date sent past the API never reaches a clock
    event = ev()
    assert await app.update(A.SUBMIT, ApplicationSubmitted(event_id=event)) is LabelStage.DPID_ADMIN_EVALUATION
    assert await app.update(A.SUBMIT, ApplicationSubmitted(event_id=event)) is LabelStage.DPID_ADMIN_EVALUATION
    state = await app.state()
    assert state.filed_on == await app.today() and state.round == 1
    assert state.instruction_due == add_months(state.filed_on, 6)
    await eventually(lambda: _has(app, "label_admin_evaluation"))

    async def published():
        sa = await raw_search_attributes(app.env.client, app.handle.id)
        return (json.loads(sa.get("LabelStage", b"null")) == "DPID_ADMIN_EVALUATION"
                and json.loads(sa["StructureId"]) == app.structure_id and "NextDeadline" in sa)
    await eventually(published)
    kind, _ = await app.refused(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    assert kind == "InvalidCommand"


async def _has(app: App, kind: str) -> bool:
    return kind in await app.tasks()


# --- instruction clock: alerts at 4 and 5 months, breach at 6, no tacit grant -----------------------------


async def test_instruction_alerts_at_four_and_five_months_and_breach_at_six(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    filed = (await app.state()).filed_on
    four, five = add_months(filed, 4), add_months(filed, 5)

    await app.sleep_until(deadline_instant(four - timedelta(days=1)) - timedelta(hours=2))
    assert (await app.state()).alerts_sent == []
    await app.env.sleep(timedelta(hours=3))
    await eventually(lambda: _state_is(app, lambda s: s.alerts_sent == [4]))
    await eventually(lambda: _has(app, "label_instruction_alert"))

    await app.sleep_until(deadline_instant(five - timedelta(days=1)) + timedelta(hours=1))
    await eventually(lambda: _state_is(app, lambda s: s.alerts_sent == [4, 5]))

    due = add_months(filed, 6)
    await app.sleep_until(deadline_instant(due) - timedelta(hours=1))
    assert (await app.state()).instruction_breaches == []
    await app.env.sleep(timedelta(hours=2))
    await eventually(lambda: _state_is(app, lambda s: s.instruction_breaches == [1]))
    await eventually(lambda: _has(app, "label_instruction_breach"))
    assert await app.stage() is LabelStage.DPID_ADMIN_EVALUATION  # no tacit grant
    row = await app.pool.fetchrow("SELECT stage, instruction_breached FROM label_applications WHERE workflow_id=$1",
                                  app.handle.id)
    assert row["instruction_breached"] and row["stage"] == "DPID_ADMIN_EVALUATION"
    # the instruction can still end with a decision after the breach
    await app.evaluate(9.0)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    result = await app.handle.result()
    assert result.stage is LabelStage.LABELLED
    # every task closed itself when the step it waited for arrived, its reason kept
    closed = {(r["kind"], r["status"], r["closure_reason"]) for r in await app.pool.fetch(
        "SELECT kind, status, closure_reason FROM human_tasks WHERE workflow_id = $1", app.handle.id)}
    assert closed == {("label_admin_evaluation", "DONE", "ADMIN_EVALUATION_RECORDED"),
                      ("label_slai_consolidation", "DONE", "SLAI_OPINION_RECORDED"),
                      ("label_instruction_alert", "DONE", "APPLICATION_DECIDED"),
                      ("label_instruction_breach", "DONE", "APPLICATION_DECIDED"),
                      ("LETTER_TO_SEND", "OPEN", None)}  # the grant letter waits for the DPID to post it


async def _state_is(app: App, predicate) -> bool:
    return predicate(await app.state())


# --- L3, L5 grant; L4 joint review ----------------------------------------------------------------------


async def test_grant_after_slai_consolidation_starts_the_label(start, ts_env):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    kind, _ = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    assert kind == "InvalidCommand"  # nothing consolidated yet
    await app.update(A.RECORD_ADMIN_EVALUATION, AdminEvaluation(
        event_id=ev(), training_ok=True, cer_average=8.0, seed="campagne", sampled_cer_ids=["a", "b"]))
    assert await app.stage() is LabelStage.SLAI_CONSOLIDATION
    assert (await app.state()).admin_evaluation.sampled_cer_ids == ["a", "b"]
    await app.update(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True, training_ok=True,
                                                        cer_average=8.0))
    assert await app.stage() is LabelStage.SLAI_CONSOLIDATION  # exactly 8.0: no joint review
    kind, _ = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="refuse"))
    assert kind == "InvalidCommand"  # a refusal needs reasons
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    result = await app.handle.result()
    assert result.stage is LabelStage.LABELLED and result.label_workflow_id == f"labelled-{app.structure_id}"
    label = ts_env.client.get_workflow_handle(result.label_workflow_id)
    sa = await eventually(lambda: raw_search_attributes(ts_env.client, label.id))
    assert json.loads(sa["StructureId"]) == app.structure_id
    row = await eventually(lambda: app.pool.fetchrow(
        "SELECT status, granted_on, expires_on FROM labels WHERE structure_id=$1", app.structure_id))
    decided = (await app.state()).decisions[-1].decided_on  # time skips while the test waits: not "today"
    assert row["status"] == "LABELLED" and row["granted_on"] == decided
    assert row["expires_on"] == add_months(decided, 60)


async def test_below_80_goes_to_joint_review_and_grant_needs_both_gates(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(7.95)
    assert await app.stage() is LabelStage.JOINT_REVIEW_BELOW_80
    await eventually(lambda: _has(app, "label_joint_review"))
    kind, _ = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    assert kind == "InvalidCommand"  # joint review first
    await app.update(A.RECORD_JOINT_REVIEW, JointReview(event_id=ev(), training_ok=True, cer_average=7.95))
    kind, message = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    assert kind == "CriteriaNotMet" and "7.95" in message
    # a revised evaluation cannot be recorded twice; refuse instead (first refusal → moratorium)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["CER average below 80 %"]))
    assert await app.stage() is LabelStage.MORATORIUM


async def test_training_gate_blocks_a_grant_even_above_80(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(9.5, training_ok=False)
    kind, message = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    assert kind == "CriteriaNotMet" and "training not met" in message


# --- L6, L7, L8/L9, L14: moratorium, reapplication, final refusal -------------------------------------


async def test_moratorium_then_reapplication_then_final_refusal(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(9.0, training_ok=False)
    today = await app.today()
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["2 referents not trained"]))
    assert await app.stage() is LabelStage.MORATORIUM
    letter = await eventually(lambda: app.pool.fetchrow(
        "SELECT kind, letter_key FROM label_letters WHERE workflow_id=$1", app.handle.id))
    assert letter["kind"] == "refusal"
    await eventually(lambda: _has(app, "label_moratorium_meeting"))
    # reapplying before the acknowledgement of receipt is impossible
    kind, _ = await app.refused(A.REAPPLY, Reapplication(event_id=ev()))
    assert kind == "InvalidCommand"
    kind, _ = await app.refused(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key="other", received_on=today))
    assert kind == "InvalidCommand"
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key=letter["letter_key"], received_on=today))
    state = await app.state()
    earliest = add_months(today, 6)  # campaign of this test's year: no 2026 floor
    assert state.refusals[0].notified_on == today and state.moratorium.earliest_reapplication == earliest
    assert state.refusals[0].appeal.gracieux_deadline == L.appeal_deadline(today, R)

    await app.update(A.RECORD_MORATORIUM_SHEET, MoratoriumSheet(
        event_id=ev(), meeting_on=today,
        rows=[MoratoriumRow(unmet_criterion="formation", objectives="former 2 référents",
                            means="sessions départementales", timing="3 mois")],
        structure_signed_on=today, slai_animator_signed_on=today, siege_signed_on=today))
    assert (await app.state()).moratorium.sheet.rows[0].unmet_criterion == "formation"

    kind, message = await app.refused(A.REAPPLY, Reapplication(event_id=ev()))
    assert kind == "MoratoriumNotOver" and earliest.isoformat() in message

    await app.sleep_until(deadline_instant(earliest - timedelta(days=1)) + timedelta(hours=1))
    await eventually(lambda: _has(app, "label_moratorium_end"))
    await app.update(A.REAPPLY, Reapplication(event_id=ev()))
    state = await app.state()
    assert state.stage is LabelStage.REAPPLICATION_EVALUATION and state.round == 2
    assert state.instruction_due == add_months(state.filed_on, 6)
    await app.evaluate(9.0, training_ok=False)
    assert await app.stage() is LabelStage.REAPPLICATION_EVALUATION
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["training still missing"]))
    assert await app.stage() is LabelStage.REFUSED_FINAL
    final_letter = await eventually(lambda: app.pool.fetchrow(
        "SELECT letter_key FROM label_letters WHERE workflow_id=$1 AND kind='final_refusal'", app.handle.id))
    notified = await app.today()
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key=final_letter["letter_key"], received_on=notified))
    row = await eventually(lambda: app.pool.fetchrow(
        "SELECT funding_blocked, stage FROM label_applications WHERE workflow_id=$1 AND stage='REFUSED_FINAL'",
        app.handle.id))
    assert row["funding_blocked"]
    # the case stays open for the appeal windows, then closes
    await app.sleep_until(deadline_instant(L.appeal_deadline(notified, R)) + timedelta(hours=1))
    result = await app.handle.result()
    assert result.stage is LabelStage.REFUSED_FINAL
    # L14: a new application is a new case, possible at any time
    again = await start(app.structure_id, 2)
    assert again.handle.id == f"label-{app.structure_id}-2"
    await again.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    assert await again.stage() is LabelStage.DPID_ADMIN_EVALUATION


async def test_reapplication_granted(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(7.0)
    await app.update(A.RECORD_JOINT_REVIEW, JointReview(event_id=ev(), training_ok=True, cer_average=7.0))
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["CER quality"]))
    state = await app.state()
    today = await app.today()
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key=state.refusals[0].letter_key, received_on=today))
    await app.sleep_until(deadline_instant(add_months(today, 6) - timedelta(days=1)) + timedelta(hours=1))
    await app.update(A.REAPPLY, Reapplication(event_id=ev()))
    await app.evaluate(8.5)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    result = await app.handle.result()
    assert result.stage is LabelStage.LABELLED


async def test_first_campaign_moratorium_floor_and_closure_without_reapplication(start):
    """2025 campaign: earliest reapplication = max(notification + 6 months, 2026-01-01); no reapplication
    within 6 further months closes the case as a final refusal (G-L9)."""
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev(), filed_on=date(2025, 2, 3)))
    await app.evaluate(9.0, training_ok=False)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", decided_on=date(2025, 4, 1),
                                        reasons=["training"]))
    key = (await app.state()).refusals[0].letter_key
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key,
                                                                received_on=date(2025, 4, 4)))
    result = await app.handle.result()  # every date is already past: the case closes
    assert result.stage is LabelStage.REFUSED_FINAL and result.closing_reason == "no_reapplication"
    state = await app.handle.query(A.STATE, result_type=LabelApplicationState)
    assert state.moratorium.earliest_reapplication == date(2026, 1, 1)
    assert state.moratorium.closes_on == date(2026, 7, 1)


# --- appeals L10–L13 ------------------------------------------------------------------------------------


def _notification_with_window_ending(today: date, *, holiday: bool) -> date:
    """A past notification date whose 2-month window ends on a weekend (or a weekday public holiday)
    and whose extended deadline is already past."""
    for back in range(70, 500):
        notified = today - timedelta(days=back)
        end = add_months(notified, 2)
        if notified.year < 2025 or L.appeal_deadline(notified, R) >= today:
            continue
        weekend = end.weekday() >= 5
        if (holiday and not weekend and not is_working_day(end)) or (not holiday and weekend):
            return notified
    raise AssertionError("no suitable date")


async def _refused_and_notified(app: App, notified: date) -> None:
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev(), filed_on=notified - timedelta(days=20)))
    await app.evaluate(9.0, training_ok=False)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", decided_on=notified - timedelta(days=3),
                                        reasons=["training"]))
    key = (await app.state()).refusals[0].letter_key
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key, received_on=notified))


@pytest.mark.parametrize("holiday", [False, True], ids=["weekend", "holiday"])
async def test_appeal_window_ending_on_a_weekend_or_holiday_is_extended(start, holiday):
    app = await start()
    notified = _notification_with_window_ending(await app.today(), holiday=holiday)
    await _refused_and_notified(app, notified)
    deadline = L.appeal_deadline(notified, R)
    assert deadline > add_months(notified, 2) and is_working_day(deadline)
    assert (await app.state()).refusals[0].appeal.gracieux_deadline == deadline
    late = add_days(deadline, 1)
    kind, message = await app.refused(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev(), filed_on=late))
    assert kind == "LateFiling"
    assert message == f"recours gracieux filed on {late} is late: the deadline was {deadline}"
    kind, message = await app.refused(A.FILE_RECOURS_CONTENTIEUX, AppealFiled(event_id=ev(), filed_on=late))
    assert kind == "LateFiling" and deadline.isoformat() in message
    await app.update(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev(), filed_on=deadline))  # extended day
    assert await app.stage() is LabelStage.APPEAL_GRACIEUX


async def test_silence_on_recours_gracieux_is_an_implicit_rejection_then_contentieux(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(9.0, training_ok=False)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["training"]))
    today = await app.today()
    key = (await app.state()).refusals[0].letter_key
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key, received_on=today))
    await app.update(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev()))
    assert await app.stage() is LabelStage.APPEAL_GRACIEUX
    kind, message = await app.refused(A.FILE_RECOURS_CONTENTIEUX, AppealFiled(event_id=ev()))
    assert "pending" in message
    answer_due = L.gracieux_answer_due(today, R)
    await app.sleep_until(deadline_instant(answer_due) - timedelta(hours=1))
    assert await app.stage() is LabelStage.APPEAL_GRACIEUX
    await app.env.sleep(timedelta(hours=2))
    await eventually(lambda: _state_is(app, lambda s: s.stage is LabelStage.MORATORIUM))
    appeal = (await app.state()).refusals[0].appeal
    assert appeal.gracieux_implicit and appeal.rejection_on == answer_due
    assert appeal.contentieux_deadline_after_rejection == L.appeal_deadline(answer_due, R)
    await app.update(A.FILE_RECOURS_CONTENTIEUX, AppealFiled(event_id=ev()))
    assert await app.stage() is LabelStage.APPEAL_CONTENTIEUX
    await app.update(A.RECORD_JUDGMENT, Judgment(event_id=ev(), outcome="annulled"))
    result = await app.handle.result()
    assert result.stage is LabelStage.LABELLED


async def test_recours_gracieux_granted_delivers_the_label(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(9.0, training_ok=False)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["training"]))
    today = await app.today()
    key = (await app.state()).refusals[0].letter_key
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(event_id=ev(), letter_key=key, received_on=today))
    await app.update(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev()))
    await app.update(A.ANSWER_RECOURS_GRACIEUX, GracieuxAnswer(event_id=ev(), outcome="granted",
                                                               reasons=["attestations supplied"]))
    result = await app.handle.result()
    assert result.stage is LabelStage.LABELLED


async def test_explicit_rejection_opens_two_months_for_contentieux_then_the_case_closes(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.evaluate(9.0, training_ok=False)
    await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["training"]))
    await app.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key=(await app.state()).refusals[0].letter_key, received_on=await app.today()))
    await app.env.sleep(timedelta(days=10))
    await app.update(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev()))
    await app.env.sleep(timedelta(days=20))
    rejected_on = await app.today()
    await app.update(A.ANSWER_RECOURS_GRACIEUX, GracieuxAnswer(event_id=ev(), outcome="rejected"))
    appeal = (await app.state()).refusals[0].appeal
    deadline = L.appeal_deadline(rejected_on, R)
    assert appeal.contentieux_deadline_after_rejection == deadline and await app.stage() is LabelStage.MORATORIUM
    await app.sleep_until(deadline_instant(deadline) + timedelta(hours=1))
    kind, message = await app.refused(A.FILE_RECOURS_CONTENTIEUX, AppealFiled(event_id=ev()))
    assert kind == "LateFiling" and deadline.isoformat() in message
    # contentieux dismissed path on a fresh case: direct contentieux within 2 months of notification
    other = await start()
    await other.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await other.evaluate(9.0, training_ok=False)
    await other.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse", reasons=["training"]))
    await other.update(A.ACKNOWLEDGE_RECEIPT, ReceiptAcknowledged(
        event_id=ev(), letter_key=(await other.state()).refusals[0].letter_key, received_on=await other.today()))
    await other.update(A.FILE_RECOURS_CONTENTIEUX, AppealFiled(event_id=ev()))
    assert await other.stage() is LabelStage.APPEAL_CONTENTIEUX
    kind, _ = await other.refused(A.FILE_RECOURS_GRACIEUX, AppealFiled(event_id=ev()))
    assert kind == "InvalidCommand"
    await other.update(A.RECORD_JUDGMENT, Judgment(event_id=ev(), outcome="dismissed"))
    assert await other.stage() is LabelStage.MORATORIUM
