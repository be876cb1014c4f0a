"""BeneficiaryPathway through a real worker on the time-skipping server, with the real durations."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest
import pytest_asyncio
from temporalio.client import WorkflowUpdateFailedError
from temporalio.worker import Replayer

from activities.pathway import PathwayReadModel
from domain.pathway_contract import RECORD_EFFECTS
from domain.deadlines import PARIS, add_months
from domain.pathway import (
    AmendCer,
    AppointmentEvent,
    AppointmentKind,
    BilanDecision,
    CafFirstInterview,
    CafSaisine,
    CafSaisineDecision,
    CafSaisineMode,
    CerAction,
    CerType,
    CompleteBilan,
    DecideReorientation,
    DeadlineKind,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    ExitReason,
    LeftRsa,
    NonComplianceKind,
    NonComplianceReport,
    OrientationDecision,
    OrientationTarget,
    PersonalReviewDecision,
    PersonalReviewOutcome,
    PersonalReviewRequest,
    PostExitChoice,
    ReorientationReason,
    RequestReorientation,
    SignCer,
    Stage,
)
from pathway_harness import TERRITORY, Harness, contract, running_pathway
from workers.runtime.sandbox import workflow_runner
from workflows import search_attributes as sa
from workflows.pathway import BeneficiaryPathway
from workflows.pathway_settings import LOCAL_RECORD_OPTIONS, PATCHES_IN_START, REMINDERS, START_PATCHES


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


def platform(day, event_id="orient-1"):
    return OrientationDecision(event_id=event_id, target=OrientationTarget.PLATFORM, structure_id="PF-LENS", notified_on=day)


def direct(day, event_id="orient-1"):
    return OrientationDecision(event_id=event_id, target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                               notified_on=day, bypass_reason="suivi déjà engagé")


def cer(day, months=6, event_id=None, cer_id=None, cer_type=CerType.SOCIOPROFESSIONNEL, n=3):
    cer_id = cer_id or f"cer-{day.isoformat()}"
    acts = [CerAction(start=day, end=day + timedelta(days=60), professional_insertion=i == 0) for i in range(n)]
    return contract(SignCer(event_id=event_id or f"sign-{cer_id}", cer_id=cer_id, type=cer_type, start=day,
                            end=add_months(day, months), signed_on=day, actions=acts))


def breaches(view):
    return [b.kind for b in view.breaches]


async def with_active_cer(h: Harness):
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.orient, direct(d0))
    await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0))
    await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    return d0


# ------------------------------------------------------------------ orientation clock (T3, T4)


async def test_orientation_on_day_29_is_no_breach(h):
    d0 = await h.morning()
    await h.start()
    await h.sleep_until(d0 + timedelta(days=29))
    result = await h.update(BeneficiaryPathway.orient, platform(await h.today()))
    assert result.stage is Stage.ORIENTED_TO_PLATFORM
    view = await h.view()
    assert breaches(view) == []
    assert {d.kind: d.status for d in view.deadlines}[DeadlineKind.ORIENTATION] == "MET"


async def test_orientation_on_day_32_is_a_breach_recorded_and_escalated(h):
    d0 = await h.morning()
    await h.start()
    await h.sleep_until(d0 + timedelta(days=32))
    view = await h.view(lambda v: v.breaches)
    assert breaches(view) == [DeadlineKind.ORIENTATION]
    assert view.breaches[0].due == add_months(d0, 1)
    assert view.stage is Stage.AWAITING_ORIENTATION  # nothing else changes
    await h.update(BeneficiaryPathway.orient, platform(await h.today()))
    wid = h.handle.id
    rows = await h.pool.fetch("SELECT kind, due_on FROM breaches WHERE pathway_id = $1", wid)
    assert [(r["kind"], r["due_on"]) for r in rows] == [("ORIENTATION", add_months(d0, 1))]
    task = await h.pool.fetchrow("SELECT assignee, kind FROM human_tasks WHERE workflow_id = $1 AND kind LIKE 'ESCALATION%'", wid)
    assert (task["assignee"], task["kind"]) == (f"SLAI:{TERRITORY}", "ESCALATION_ORIENTATION")
    attributes = await search_attributes(h, lambda a: a.get(sa.STAGE) == "ORIENTED_TO_PLATFORM")
    assert attributes.get(sa.BREACH_COUNT) == 1
    # entered after 1 January 2025: the 2025 rules (issue 18)
    assert attributes.get(sa.RULE_SET) == "2025.1" and attributes.get(sa.TERRITORY) == TERRITORY
    assert attributes.get(sa.NEXT_DEADLINE).date() == d0 + timedelta(days=32 + 15)  # first appointment


async def test_T4_orientation_notified_day_28_recorded_day_32_withdraws_the_breach_everywhere(h):
    """The breach raised when the month ran out (nothing known then) is withdrawn by the late-recorded notification:
    kept in the history with why; BreachCount, the read model, the escalation task and the KPI row follow."""
    d0 = await h.morning()
    await h.start()
    await h.sleep_until(d0 + timedelta(days=32))
    await h.view(lambda v: v.breaches)
    wid = h.handle.id
    await h.update(BeneficiaryPathway.orient, platform(d0 + timedelta(days=28)))
    view = await h.view(lambda v: v.breaches[0].withdrawn_on is not None)
    assert view.breaches[0].withdrawn_on == d0 + timedelta(days=32) and view.breaches[0].withdrawal_reason
    assert {d.kind: d.status for d in view.deadlines}[DeadlineKind.ORIENTATION] == "MET"
    attributes = await search_attributes(h, lambda a: a.get(sa.STAGE) == "ORIENTED_TO_PLATFORM")
    assert attributes.get(sa.BREACH_COUNT) == 0
    await h.idle()
    row = await h.pool.fetchrow("SELECT withdrawn_on, withdrawal_reason FROM breaches WHERE pathway_id = $1", wid)
    assert row["withdrawn_on"] == d0 + timedelta(days=32) and "ORIENTATION" in row["withdrawal_reason"]
    assert await h.pool.fetchval("SELECT breach_count FROM pathways WHERE pathway_id = $1", wid) == 0
    task = await h.pool.fetchrow("SELECT status, closure_reason FROM human_tasks WHERE workflow_id = $1 AND kind = 'ESCALATION_ORIENTATION'", wid)
    assert (task["status"], task["closure_reason"]) == ("CANCELLED", "BREACH_WITHDRAWN")
    kpi = await h.pool.fetchrow("SELECT orientation_breached_on, o_met_on FROM pathway_kpi WHERE pathway_id = $1", wid)
    assert (kpi["orientation_breached_on"], kpi["o_met_on"]) == (None, d0 + timedelta(days=28))


async def search_attributes(h: Harness, until):
    return await h.search_attributes(until)


async def test_orientation_reminder_on_day_21_reaches_the_read_model_and_is_not_the_next_deadline(h):
    d0 = await h.morning()
    await h.start()
    wid = h.handle.id
    breach_at = datetime.combine(add_months(d0, 1) + timedelta(days=1), time.min, tzinfo=PARIS)
    attributes = await search_attributes(h, lambda a: a.get(sa.NEXT_DEADLINE) is not None)
    assert attributes.get(sa.NEXT_DEADLINE) == breach_at  # not the reminder, which fires first
    assert REMINDERS in PATCHES_IN_START and any(START_PATCHES.encode() in m for m in await patch_markers(h))
    await h.sleep_until(d0 + timedelta(days=20))
    await h.idle()
    assert not await h.pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1", wid)
    await h.sleep_until(d0 + timedelta(days=21))
    query = "SELECT assignee, due_date FROM human_tasks WHERE workflow_id = $1 AND kind = 'ORIENTATION_REMINDER'"
    await h.eventually(lambda: h.pool.fetchrow(query, wid))
    task = await h.pool.fetchrow(query, wid)
    assert (task["assignee"], task["due_date"]) == (f"SLAI_MANAGER:{TERRITORY}", add_months(d0, 1))
    view = await h.view()
    assert breaches(view) == [] and view.stage is Stage.AWAITING_ORIENTATION
    assert {d.kind: d.status for d in view.deadlines}[DeadlineKind.ORIENTATION_REMINDER] == "FIRED"
    attributes = await search_attributes(h, lambda a: a.get(sa.NEXT_DEADLINE) is not None)
    assert attributes.get(sa.NEXT_DEADLINE) == breach_at
    await h.idle()
    replayer = Replayer(workflows=[BeneficiaryPathway], data_converter=h.env.client.data_converter,
                        workflow_runner=workflow_runner())
    await replayer.replay_workflow(await h.handle.fetch_history())  # the reminder's path replays too


async def patch_markers(h: Harness) -> list[bytes]:
    """The patch markers of the run's history (the paths a replay of it takes)."""
    history = await h.handle.fetch_history()
    return [b"".join(x.data for ps in e.marker_recorded_event_attributes.details.values() for x in ps.payloads)
            for e in history.events if e.HasField("marker_recorded_event_attributes")
            and e.marker_recorded_event_attributes.marker_name == "core_patch"]


async def test_flip_to_not_subject_pauses_the_orientation_clock(h):
    d0 = await h.morning()
    await h.start()
    await h.sleep_until(d0 + timedelta(days=10))
    await h.flow("flow-2", subject=False)
    await h.view(lambda v: v.stage is Stage.NOT_SUBJECT)
    await h.sleep_until(d0 + timedelta(days=40))
    await h.flow("flow-3", subject=True)
    view = await h.view(lambda v: v.stage is Stage.AWAITING_ORIENTATION)
    assert breaches(view) == []
    assert [d.due for d in view.deadlines if d.kind is DeadlineKind.ORIENTATION] == [add_months(d0, 1) + timedelta(days=30)]
    await h.sleep_until(d0 + timedelta(days=45))
    await h.update(BeneficiaryPathway.orient, platform(await h.today()))
    assert breaches(await h.view()) == []


# ------------------------------------------------------------------ platform (T7)


async def test_first_appointment_after_14_days_is_a_breach(h):
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.orient, platform(d0))
    await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
        event_id="rdv-1", kind=AppointmentKind.SCHEDULED, appointment_date=d0 + timedelta(days=20)))
    await h.view(lambda v: v.stage is Stage.PLATFORM_FIRST_APPOINTMENT)
    await h.sleep_until(d0 + timedelta(days=14))
    assert breaches(await h.view()) == []
    await h.sleep_until(d0 + timedelta(days=15))
    view = await h.view(lambda v: v.breaches)
    assert breaches(view) == [DeadlineKind.FIRST_APPOINTMENT]
    assert view.breaches[0].responsible == "PLATFORM:PF-LENS"


# ------------------------------------------------------------------ CER (T15)


async def test_a_cer_longer_than_six_months_is_refused_naming_the_rule(h):
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.orient, direct(d0))
    with pytest.raises(WorkflowUpdateFailedError) as err:  # a case entered today: its contract replaces the CER
        await h.update(BeneficiaryPathway.sign_cer, SignCer.model_validate(cer(d0).model_dump(exclude={
            "weekly_hours", "hours_reason"})))
    assert err.value.cause.type == "CER_REPLACED_BY_CONTRAT_ENGAGEMENT"
    assert "sign_contrat_engagement" in err.value.cause.message
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0, months=7))
    assert err.value.cause.type == "CER_MAX_DURATION"
    assert "at most 6 months" in err.value.cause.message
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0, n=2, cer_id="c2"))
    assert err.value.cause.type == "CER_SOCIOPRO_MIN_ACTIONS"
    assert (await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0, cer_id="c3"))).stage is Stage.CER_ACTIVE
    await h.eventually(lambda: h.monjob.received)
    assert list(h.monjob.received) == [f"{h.handle.id}:CER:c3"]


async def test_designation_starts_a_new_run_and_writes_are_local_activity_markers(h):
    """The orientation phase ends its run at the referent's designation; each read-model write is one
    local-activity marker in the workflow task that decided it (no activity task of its own)."""
    d0 = await h.morning()
    handle = await h.start()
    await h.update(BeneficiaryPathway.orient, direct(d0))
    view = await h.view(lambda v: v.run == 2)
    assert view.stage is Stage.REFERENT_DESIGNATED and view.referent_structure_id == "SOCIO-7"
    first = await h.env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id).fetch_history()
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in first.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert RECORD_EFFECTS not in scheduled
    markers = [e.marker_recorded_event_attributes.marker_name for e in first.events
               if e.HasField("marker_recorded_event_attributes")]
    assert markers.count("core_local_activity") >= 2  # the flow record, then the orientation
    await h.eventually(lambda: h.pool.fetchval(
        "SELECT 1 FROM pathways WHERE pathway_id = $1 AND stage = $2", handle.id, Stage.REFERENT_DESIGNATED.value))


class UnreachableReadModel(PathwayReadModel):
    """The read model's database refuses the first ``failures`` writes (down for a few seconds)."""

    def __init__(self, pool, failures: int) -> None:
        super().__init__(pool)
        self.failures = failures

    async def write(self, effects) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("read model down")
        await super().write(effects)


async def test_a_write_the_database_refuses_locally_falls_back_to_a_regular_activity(db_pool, task_queue):
    """The local write gives up after its attempts; the pathway does not fail: a regular activity retries."""
    read_model = UnreachableReadModel(db_pool, failures=LOCAL_RECORD_OPTIONS["retry_policy"].maximum_attempts + 1)
    async with running_pathway(db_pool, task_queue, read_model=read_model) as h:
        handle = await h.start()
        await h.eventually(lambda: h.pool.fetchval("SELECT 1 FROM pathways WHERE pathway_id = $1", handle.id))
        assert read_model.failures == 0
        history = await handle.fetch_history()
        scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                     if e.HasField("activity_task_scheduled_event_attributes")]
        assert scheduled == [RECORD_EFFECTS]
        assert (await h.view()).stage is Stage.AWAITING_ORIENTATION  # running, not failed


async def test_two_years_of_cer_cycles_continue_as_new_and_every_run_stays_under_500_events(h):
    d0 = await h.morning()
    handle = await h.start()
    first_run = handle.result_run_id
    await h.update(BeneficiaryPathway.orient, direct(d0))
    await h.view(lambda v: v.run == 2)  # the referent's designation starts a new run
    for cycle in range(4):
        today = await h.today()
        await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(today, cer_id=f"cer-{cycle}"))
        end = add_months(today, 6)
        await h.sleep_until(end + timedelta(days=1))
        await h.view(lambda v: v.stage is Stage.BILAN)
        await h.update(BeneficiaryPathway.complete_bilan, CompleteBilan(
            event_id=f"bilan-{cycle}", completed_on=end + timedelta(days=1), decision=BilanDecision.CONTINUE))
        await h.view(lambda v, c=cycle: v.run == c + 3 and v.stage is Stage.CER_DRAFTING)
    assert await h.today() >= add_months(d0, 24)
    run_id, sizes = first_run, []
    while run_id:
        history = await h.env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        sizes.append(len(history.events))
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else None)
    view = await h.view()
    # One run before the designation, one per CER cycle, the open one. The Java time-skipping server now and then
    # returns a closed run's history cut after a workflow task, without its continue-as-new event, which ends the
    # walk early; the run count comes from the workflow itself.
    assert view.run == 6
    assert sizes and max(sizes) < 500, sizes
    assert view.referent_structure_id == "SOCIO-7"
    assert breaches(view) == [DeadlineKind.FIRST_APPOINTMENT]  # no appointment was ever fixed; carried across runs
    rows = await h.pool.fetchval("SELECT count(*) FROM pathway_cers WHERE pathway_id = $1", handle.id)
    assert rows == 4
    assert len([k for k in h.monjob.received if ":BILAN:" in k]) == 4


# ------------------------------------------------------------------ reorientation (T19)


async def test_same_sphere_reorientation_refused_mid_cer_and_accepted_at_cer_end(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=90))
    ask = RequestReorientation(event_id="reo-1", reason=ReorientationReason.EPUISEMENT, requested_on=await h.today())
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(BeneficiaryPathway.request_reorientation, ask)
    assert err.value.cause.type == "REORIENTATION_SAME_SPHERE_ONLY_AT_CER_END"
    await h.sleep_until(add_months(d0, 6) + timedelta(days=1))
    await h.view(lambda v: v.stage is Stage.BILAN)
    ask = RequestReorientation(event_id="reo-2", reason=ReorientationReason.EPUISEMENT, requested_on=await h.today())
    assert (await h.update(BeneficiaryPathway.request_reorientation, ask)).stage is Stage.REORIENTATION_REQUESTED
    decision = DecideReorientation(event_id="reo-d", decided_on=await h.today(), approved=True,
                                   target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="CCAS-LENS")
    assert (await h.update(BeneficiaryPathway.decide_reorientation, decision)).stage is Stage.REFERENT_DESIGNATED
    assert (await h.view()).referent_structure_id == "CCAS-LENS"


async def test_reprise_de_vie_maritale_is_accepted_at_any_time(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=20))
    ask = RequestReorientation(event_id="reo-1", reason=ReorientationReason.REPRISE_VIE_MARITALE,
                               requested_on=await h.today(), exit=True)
    assert (await h.update(BeneficiaryPathway.request_reorientation, ask)).stage is Stage.REORIENTATION_REQUESTED
    await h.update(BeneficiaryPathway.decide_reorientation,
                   DecideReorientation(event_id="reo-d", decided_on=await h.today(), approved=True))
    result = await h.handle.result()
    assert result.stage is Stage.CLOSED and result.exit_reason is ExitReason.REPRISE_VIE_MARITALE
    await h.eventually(lambda: any(":EXIT:" in k for k in h.monjob.received))


# ------------------------------------------------------------------ personal review (T21)


async def test_T21_personal_review_pauses_the_service_clocks_not_the_cer_end(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=30))
    await h.update(BeneficiaryPathway.request_personal_review, PersonalReviewRequest(event_id="pr", requested_on=await h.today()))
    await h.sleep_until(add_months(d0, 6) + timedelta(days=2))
    view = await h.view()
    assert view.stage is Stage.PERSONAL_SITUATION_REVIEW
    statuses = {d.kind: d.status for d in view.deadlines}
    assert statuses[DeadlineKind.CER_END] == "FIRED" and statuses[DeadlineKind.BILAN] == "PAUSED"
    await h.update(BeneficiaryPathway.decide_personal_review,
                   PersonalReviewDecision(event_id="pd", decided_on=await h.today(), outcome=PersonalReviewOutcome.RESUME))
    view = await h.view(lambda v: v.stage is Stage.BILAN)
    assert [d.due for d in view.deadlines if d.kind is DeadlineKind.CER_END] == [add_months(d0, 6)]
    assert DeadlineKind.PERSONAL_REVIEW in breaches(view)  # the SLAI took more than 3 months


async def test_R13_T24_a_28_day_pause_does_not_move_the_cer_end_the_bilan_is_due_the_day_after(h):
    """A 6-month CER (2026-12-07 to 2027-06-07 when run on 2026-12-06) with 28 days « non soumis »: on the
    second day after its end it is no longer CER_ACTIVE, the bilan is due."""
    d0 = await with_active_cer(h)
    end = add_months(d0, 6)
    await h.sleep_until(d0 + timedelta(days=56))
    await h.flow("flow-off", subject=False)
    await h.view(lambda v: v.stage is Stage.NOT_SUBJECT)
    await h.sleep_until(d0 + timedelta(days=84))
    await h.flow("flow-on", subject=True)
    view = await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    assert [d.due for d in view.deadlines if d.kind is DeadlineKind.CER_END] == [end]
    await h.sleep_until(end)
    assert (await h.view()).stage is Stage.CER_ACTIVE
    await h.sleep_until(end + timedelta(days=2))
    view = await h.view(lambda v: v.stage is Stage.BILAN)
    assert view.stage_history[-1].on == end + timedelta(days=1)
    assert [d.due for d in view.deadlines if d.kind is DeadlineKind.BILAN] == [end + timedelta(days=15)]
    await h.idle()
    row = await h.pool.fetchrow("SELECT status, due_on FROM deadlines WHERE pathway_id = $1 AND kind = 'CER_END'", h.handle.id)
    assert (row["status"], row["due_on"]) == ("FIRED", end)


async def test_R13_an_amendment_moves_the_cer_end_and_the_bilan_follows(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=10))
    end = add_months(d0, 4)
    view = await h.view()
    amended = AmendCer(event_id="avenant-1", cer_id=view.active_cer.cer_id, new_end=end, amended_on=await h.today())
    assert (await h.update(BeneficiaryPathway.amend_cer, amended)).stage is Stage.CER_ACTIVE
    too_long = amended.model_copy(update={"event_id": "avenant-2", "new_end": add_months(d0, 6) + timedelta(days=1)})
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(BeneficiaryPathway.amend_cer, too_long)
    assert err.value.cause.type == "CER_MAX_DURATION"
    await h.sleep_until(end + timedelta(days=1))
    view = await h.view(lambda v: v.stage is Stage.BILAN)
    assert view.stage_history[-1].on == end + timedelta(days=1)
    await h.idle()
    assert await h.pool.fetchval("SELECT end_on FROM pathway_cers WHERE pathway_id = $1", h.handle.id) == end


# ------------------------------------------------------------------ left RSA (T22, T23, T25)


async def test_T25_left_rsa_then_reentry_at_month_5_keeps_the_referent_and_the_cer_end(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=20))
    today = await h.today()
    await h.handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(event_id="left-1", end_of_payment_date=today, reason="ressources"))
    await h.view(lambda v: v.stage is Stage.EXIT_CHOICE_PENDING)
    await h.update(BeneficiaryPathway.choose_after_exit, PostExitChoice(event_id="ch", continue_accompaniment=True, decided_on=today))
    await h.sleep_until(add_months(today, 5))
    assert (await h.view()).stage is Stage.POST_EXIT_ACCOMPANIMENT
    await h.flow("flow-back", subject=True)
    view = await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    assert (view.referent_type, view.referent_structure_id) == (OrientationTarget.REFERENT_SOCIOPRO, "SOCIO-7")
    assert [d.due for d in view.deadlines if d.kind is DeadlineKind.CER_END] == [add_months(d0, 6)]  # R13


async def test_left_rsa_then_closure_after_6_months(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=20))
    end_of_payment = await h.today()
    await h.handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(event_id="left-1", end_of_payment_date=end_of_payment, reason="emploi"))
    await h.view(lambda v: v.stage is Stage.EXIT_CHOICE_PENDING)
    await h.update(BeneficiaryPathway.choose_after_exit, PostExitChoice(event_id="ch", continue_accompaniment=True, decided_on=end_of_payment))
    result = await h.handle.result()
    assert result.stage is Stage.CLOSED and result.exit_reason is ExitReason.FIN_POST_SORTIE
    row = await h.pool.fetchrow("SELECT stage, exit_reason, closed_on FROM pathways WHERE pathway_id = $1", h.handle.id)
    assert (row["stage"], row["exit_reason"]) == ("CLOSED", "FIN_POST_SORTIE")
    assert row["closed_on"] == add_months(end_of_payment, 6) + timedelta(days=1)


async def test_left_rsa_without_a_choice_closes_after_15_days(h):
    d0 = await with_active_cer(h)
    await h.handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(event_id="left-1", end_of_payment_date=d0, reason="emploi"))
    await h.sleep_until(d0 + timedelta(days=15))
    assert (await h.view()).stage is Stage.EXIT_CHOICE_PENDING
    await h.sleep_until(d0 + timedelta(days=16))
    view = await h.view(lambda v: v.stage is Stage.CLOSED)
    assert view.exit_reason is ExitReason.SORTIE_RSA
    task = await h.pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1 AND kind = 'CHOOSE_AFTER_EXIT'", h.handle.id)
    assert task == 1


# ------------------------------------------------------------------ EP and sanctions (T20, G-B14)


async def test_G_B14_ep_reduction_then_radiation_recorded_tasked_and_exit_pushed(h):
    d0 = await with_active_cer(h)
    await h.handle.signal(BeneficiaryPathway.non_compliance,
                          NonComplianceReport(event_id="nc", kind=NonComplianceKind.NON_ADHESION, reported_on=d0))
    await h.update(BeneficiaryPathway.confirm_ep_referral, EpReferralConfirmation(event_id="cf", confirmed=True, decided_on=d0))
    await h.handle.signal(BeneficiaryPathway.ep_decision,
                          EpDecision(event_id="ep1", outcome=EpOutcome.REDUCTION, decided_on=d0, share_percent=30, months=2))
    view = await h.view(lambda v: v.sanctions)
    assert view.stage is Stage.CER_ACTIVE and view.sanctions[0].outcome is EpOutcome.REDUCTION
    await h.handle.signal(BeneficiaryPathway.non_compliance,
                          NonComplianceReport(event_id="nc2", kind=NonComplianceKind.NON_ADHESION, reported_on=d0))
    await h.update(BeneficiaryPathway.confirm_ep_referral, EpReferralConfirmation(event_id="cf2", confirmed=True, decided_on=d0))
    await h.handle.signal(BeneficiaryPathway.ep_decision,
                          EpDecision(event_id="ep2", outcome=EpOutcome.RADIATION, decided_on=d0))
    result = await h.handle.result()
    assert result.stage is Stage.CLOSED and result.exit_reason is ExitReason.NON_RESPECT_OBLIGATIONS
    assert [s.outcome for s in result.sanctions] == [EpOutcome.REDUCTION, EpOutcome.RADIATION]
    await h.eventually(lambda: any(":EXIT:" in k for k in h.monjob.received))
    tasks = await h.pool.fetch("SELECT assignee, details FROM human_tasks WHERE workflow_id = $1 AND kind = 'APPLY_RSA_SANCTION'",
                               h.handle.id)
    assert len(tasks) == 2 and {t["assignee"] for t in tasks} == {"SERVICE_RSA"}


# ------------------------------------------------------------------ messages


async def test_a_duplicate_event_is_ignored(h):
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.orient, platform(d0))
    rdv = AppointmentEvent(event_id="rdv-1", kind=AppointmentKind.MISSED, appointment_date=d0)
    await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
        event_id="rdv-0", kind=AppointmentKind.SCHEDULED, appointment_date=d0))
    await h.handle.signal(BeneficiaryPathway.appointment, rdv)
    await h.handle.signal(BeneficiaryPathway.appointment, rdv)  # the same absence, sent twice
    again = await h.update(BeneficiaryPathway.orient, platform(d0))  # a re-sent command; also a barrier
    assert again.duplicate and again.stage is Stage.PLATFORM_FIRST_APPOINTMENT
    await h.idle()
    tasks = await h.pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1 AND kind = 'RECONVOCATION'", h.handle.id)
    confirm = await h.pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1 AND kind = 'CONFIRM_EP_REFERRAL'", h.handle.id)
    assert (tasks, confirm) == (1, 0)  # a second unexcused absence would have proposed the EP


async def test_a_second_start_for_the_same_person_is_an_event_on_the_running_pathway(h):
    await h.morning()
    first = await h.start(subject=False)
    await h.view(lambda v: v.stage is Stage.NOT_SUBJECT)
    second = await h.flow("flow-2", subject=True)
    assert second.result_run_id == first.result_run_id
    view = await h.view(lambda v: v.stage is Stage.AWAITING_ORIENTATION)
    assert view.subject_to_duties is True


async def test_a_caf_exclusion_is_refused_with_its_reason(h):
    d0 = await h.morning()
    await h.start()
    saisine = CafSaisine(event_id="caf-1", mode=CafSaisineMode.M1, requested_on=d0, caf_structure_id="CAF62",
                         rsa_majore=True, followed_by_caf_social_worker=True, gens_du_voyage=True)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(BeneficiaryPathway.caf_saisine, saisine)
    assert err.value.cause.type == "CAF_EXCLUSION_GENS_DU_VOYAGE"
    assert "Sauvegarde du Nord" in err.value.cause.message
    assert (await h.view()).stage is Stage.AWAITING_ORIENTATION


async def test_section_3_8_a_caf_cer_is_refused_without_its_gesica_entry_then_signed_with_it(h):
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.caf_saisine, CafSaisine(
        event_id="caf-1", mode=CafSaisineMode.M1, requested_on=d0, caf_structure_id="CAF62", rsa_majore=True,
        followed_by_caf_social_worker=True))
    await h.update(BeneficiaryPathway.decide_caf_saisine, CafSaisineDecision(event_id="cd", accepted=True, decided_on=d0))
    await h.view(lambda v: v.run == 2)
    await h.update(BeneficiaryPathway.caf_first_interview,
                   CafFirstInterview(event_id="fi", held_on=d0, within_caf_competence=True))
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(BeneficiaryPathway.sign_contrat_engagement, cer(d0, cer_type=CerType.SOLIDARITE, n=1))
    assert err.value.cause.type == "GESICA_CER_DOMAIN_REQUIRED"
    signed = cer(d0, cer_type=CerType.SOLIDARITE, n=1).model_copy(update={
        "event_id": "sign-gesica", "gesica_domain": "BUDGET", "gesica_objectives": ["Maintenir un équilibre budgétaire"]})
    assert (await h.update(BeneficiaryPathway.sign_contrat_engagement, signed)).stage is Stage.CER_ACTIVE
    await h.idle()
    row = await h.pool.fetchval("SELECT gesica_domain FROM pathway_cers WHERE pathway_id = $1", h.handle.id)
    assert row == "BUDGET"
