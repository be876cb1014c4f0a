"""Pure rules of the beneficiary pathway (domain.md §2.3–§2.4, §3), without Temporal."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

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
    ConvocationOutcome,
    DeadlineKind,
    DeadlineStatus,
    DecideReorientation,
    DiagnosticCompleted,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    ExitReason,
    FamilyEvent,
    FlowRecord,
    GesicaOutcome,
    LeftRsa,
    LostFromViewConvocation,
    NonComplianceKind,
    NonComplianceReport,
    NotSubjectConfirmed,
    OrientationDecision,
    OrientationTarget,
    PathwayRuleError,
    PaymentResumed,
    PaymentSuspended,
    PersonalReviewDecision,
    PersonalReviewOutcome,
    PersonalReviewRequest,
    PostExitChoice,
    PreconisationSubmitted,
    ReorientationReason,
    RequestReorientation,
    SignCer,
    SlaiPreconisationDecision,
    Stage,
)
from domain.pathway_caf import GESICA, caf_quota_status, validate_gesica_bilan
from domain.pathway_constants import MAX_SEEN_EVENT_IDS, add_working_days, pathway_workflow_id
from domain.pathway_rules import Pathway
from domain.label_events import LabelLossReason, StructureLabelLost
from domain.plein_emploi import SignContratEngagement
from domain.rules import ContractKind, RULESET_2023

D0 = date(2024, 3, 4)  # a Monday; 1 month later is 4 April (31 days)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=PARIS)


def new_pathway(subject: bool = True, day: date = D0) -> Pathway:
    p = Pathway.new("p" * 32, "ARRAGEOIS", day)
    p.on_flow_record(FlowRecord(event_id="f1", transmission_date=day, subject_to_duties=subject), day)
    return p


def deadline(p: Pathway, kind: DeadlineKind):
    found = [d for d in p.s.deadlines if d.kind is kind]
    assert found, f"no {kind} deadline"
    return found[-1]


def actions(n: int, professional: bool = True, start: date = D0) -> list[CerAction]:
    return [CerAction(start=start, end=start + timedelta(days=30), professional_insertion=professional and i == 0) for i in range(n)]


def to_referent(p: Pathway, day: date, target=OrientationTarget.REFERENT_SOCIOPRO) -> None:
    p.check_orientation(o := OrientationDecision(event_id="o", target=target, structure_id="S1", notified_on=day, bypass_reason="known referent"), day)
    p.orient(o, day)


def sign(p: Pathway, start: date, end: date, cer_type=CerType.SOCIOPROFESSIONNEL, n=3, cer_id="c1") -> None:
    """The contract of the case's rule set: a CER, or from 2025 the contrat d'engagement replacing it (§8.3)."""
    fields = dict(event_id=f"sign-{cer_id}", cer_id=cer_id, type=cer_type, start=start, end=end, signed_on=start,
                  actions=actions(n, start=start))
    if p.rules.contract_kind is ContractKind.CONTRAT_ENGAGEMENT:
        p.check_sign_contrat_engagement(c := SignContratEngagement(**fields, weekly_hours=15), start)
        p.sign_contrat_engagement(c, start)
        return
    p.check_sign_cer(msg := SignCer(**fields), start)
    p.sign_cer(msg, start)


def with_active_cer(day: date = D0) -> Pathway:
    p = new_pathway(day=day)
    to_referent(p, day)
    sign(p, day, add_months(day, 6))
    return p


# ------------------------------------------------------------------ identity, start (T1–T3)


def test_workflow_id_is_pathway_and_person_id():
    assert pathway_workflow_id("abc") == "pathway-abc"


def test_T1_T3_detected_then_awaiting_orientation_with_one_month_clock():
    p = new_pathway()
    assert p.s.stage is Stage.AWAITING_ORIENTATION
    assert [c.to_stage for c in p.s.stage_history] == [Stage.AWAITING_ORIENTATION]
    assert p.s.stage_history[0].from_stage is Stage.DETECTED
    assert deadline(p, DeadlineKind.ORIENTATION).due == date(2024, 4, 4)
    assert p.s.rule_set_version == RULESET_2023.version


def test_T2_not_subject_at_detection_starts_no_clock_until_subject():
    p = new_pathway(subject=False)
    assert p.s.stage is Stage.NOT_SUBJECT and p.s.deadlines == []
    later = D0 + timedelta(days=20)
    p.on_flow_record(FlowRecord(event_id="f2", transmission_date=later, subject_to_duties=True), later)
    assert p.s.stage is Stage.AWAITING_ORIENTATION
    assert deadline(p, DeadlineKind.ORIENTATION).due == add_months(later, 1)


# ------------------------------------------------------------------ orientation (T4, T5)


def test_T4_orientation_on_day_29_meets_the_deadline():
    p = new_pathway()
    day = D0 + timedelta(days=29)
    assert p.expire(at(day)) == []
    to_platform(p, day)
    assert deadline(p, DeadlineKind.ORIENTATION).status is DeadlineStatus.MET
    assert p.s.breaches == []


def test_T4_orientation_on_day_32_is_a_breach_escalated_to_the_slai():
    p = new_pathway()
    day = D0 + timedelta(days=32)
    fired = p.expire(at(day))
    assert [d.kind for d in fired] == [DeadlineKind.ORIENTATION]
    assert p.s.breaches[0].due == date(2024, 4, 4) and p.s.breaches[0].breached_on == date(2024, 4, 5)
    assert any(t.kind == "ESCALATION_ORIENTATION" and t.assignee == "SLAI:ARRAGEOIS" for t in p.s.outbox.tasks)
    assert p.s.stage is Stage.AWAITING_ORIENTATION  # nothing else changes (G-B7)
    to_platform(p, day)
    assert len(p.s.breaches) == 1


def to_platform(p: Pathway, day: date) -> None:
    msg = OrientationDecision(event_id="o1", target=OrientationTarget.PLATFORM, structure_id="PF1", notified_on=day)
    p.check_orientation(msg, day)
    p.orient(msg, day)


def test_T4_platform_orientation_opens_first_appointment_and_first_cer_clocks():
    p = new_pathway()
    to_platform(p, D0)
    assert p.s.stage is Stage.ORIENTED_TO_PLATFORM
    assert deadline(p, DeadlineKind.FIRST_APPOINTMENT).due == D0 + timedelta(days=14)
    assert deadline(p, DeadlineKind.FIRST_CER).due == add_months(D0, 2)


def test_T5_bypassing_the_platform_needs_a_reason():
    p = new_pathway()
    msg = OrientationDecision(event_id="o", target=OrientationTarget.PLIE, structure_id="S", notified_on=D0)
    with pytest.raises(PathwayRuleError) as e:
        p.check_orientation(msg, D0)
    assert e.value.rule == "ORIENTATION_BYPASS_REASON_REQUIRED"
    to_referent(p, D0, OrientationTarget.PLIE)
    assert p.s.stage is Stage.REFERENT_DESIGNATED and p.s.referent.type is OrientationTarget.PLIE


def test_orientation_refused_outside_awaiting_orientation_and_in_the_future():
    p = new_pathway()
    with pytest.raises(PathwayRuleError) as e:
        p.check_orientation(OrientationDecision(event_id="o", target=OrientationTarget.PLATFORM, structure_id="S", notified_on=D0 + timedelta(days=1)), D0)
    assert e.value.rule == "DATE_IN_FUTURE"
    to_platform(p, D0)
    with pytest.raises(PathwayRuleError) as e:
        p.check_orientation(OrientationDecision(event_id="o2", target=OrientationTarget.PLATFORM, structure_id="S", notified_on=D0), D0)
    assert e.value.rule == "STAGE_NOT_ALLOWED"


# ------------------------------------------------------------------ reminders before the breaches (T4, T7)


def with_reminders(day: date = D0) -> Pathway:
    """A pathway opened since the reminders exist: the workflow turns them on after the start flow record."""
    p = new_pathway(day=day)
    p.enable_reminders(day)
    return p


def tasks(p: Pathway, kind: str):
    return [t for t in p.s.outbox.tasks if t.kind == kind]


def test_T4_reminder_on_day_21_is_a_task_for_the_slai_manager_not_a_breach():
    p = with_reminders()
    reminder = deadline(p, DeadlineKind.ORIENTATION_REMINDER)
    assert reminder.due == D0 + timedelta(days=RULESET_2023.orientation_reminder_days) == D0 + timedelta(days=21)
    assert p.next_deadline().kind is DeadlineKind.ORIENTATION  # a reminder is not the next deadline
    assert p.next_fire() == datetime.combine(D0 + timedelta(days=21), time.min, tzinfo=PARIS)  # the workflow wakes up
    assert p.next_deadline_instant() == datetime.combine(date(2024, 4, 5), time.min, tzinfo=PARIS)  # NextDeadline
    assert p.expire(at(D0 + timedelta(days=20), 23)) == []
    assert [d.kind for d in p.expire(at(D0 + timedelta(days=21), 0))] == [DeadlineKind.ORIENTATION_REMINDER]
    [task] = tasks(p, "ORIENTATION_REMINDER")
    assert task.assignee == "SLAI_MANAGER:ARRAGEOIS" and task.due_date == date(2024, 4, 4)
    assert task.details == {"deadline": "ORIENTATION", "due": "2024-04-04"}
    assert p.s.breaches == [] and p.s.stage is Stage.AWAITING_ORIENTATION
    p.expire(at(D0 + timedelta(days=32)))  # the breach at 1 month is still escalated, to the SLAI
    assert [b.kind for b in p.s.breaches] == [DeadlineKind.ORIENTATION]
    assert [t.assignee for t in tasks(p, "ESCALATION_ORIENTATION")] == ["SLAI:ARRAGEOIS"]


def test_T4_no_reminder_when_oriented_on_day_20():
    p = with_reminders()
    to_platform(p, D0 + timedelta(days=20))
    assert deadline(p, DeadlineKind.ORIENTATION_REMINDER).status is DeadlineStatus.CANCELLED
    p.expire(at(D0 + timedelta(days=25)))
    assert tasks(p, "ORIENTATION_REMINDER") == []


def test_T4_reminder_moves_with_the_paused_orientation_clock():
    p = with_reminders()
    p.on_flow_record(FlowRecord(event_id="f2", transmission_date=D0 + timedelta(days=10), subject_to_duties=False),
                     D0 + timedelta(days=10))
    p.on_flow_record(FlowRecord(event_id="f3", transmission_date=D0 + timedelta(days=20), subject_to_duties=True),
                     D0 + timedelta(days=20))
    assert deadline(p, DeadlineKind.ORIENTATION_REMINDER).due == D0 + timedelta(days=31)
    assert p.expire(at(D0 + timedelta(days=30), 23)) == []


def test_T7_platform_reminder_on_day_10_without_a_first_appointment():
    p = with_reminders()
    to_platform(p, D0)
    assert deadline(p, DeadlineKind.FIRST_APPOINTMENT_REMINDER).due == D0 + timedelta(days=10)
    assert p.expire(at(D0 + timedelta(days=9), 23)) == []
    assert [d.kind for d in p.expire(at(D0 + timedelta(days=10), 0))] == [DeadlineKind.FIRST_APPOINTMENT_REMINDER]
    [task] = tasks(p, "FIRST_APPOINTMENT_REMINDER")
    assert task.assignee == "PLATFORM:PF1" and task.due_date == D0 + timedelta(days=14)
    assert p.s.breaches == []


def test_T7_no_reminder_when_the_appointment_was_scheduled_on_day_9():
    p = with_reminders()
    to_platform(p, D0)
    day9 = D0 + timedelta(days=9)
    p.on_appointment(AppointmentEvent(event_id="a", kind=AppointmentKind.SCHEDULED, appointment_date=D0 + timedelta(days=20)), day9)
    assert deadline(p, DeadlineKind.FIRST_APPOINTMENT_REMINDER).status is DeadlineStatus.CANCELLED
    p.expire(at(D0 + timedelta(days=15)))
    assert tasks(p, "FIRST_APPOINTMENT_REMINDER") == []
    assert [b.kind for b in p.s.breaches] == [DeadlineKind.FIRST_APPOINTMENT]  # fixed too late: still a breach


def test_T7_no_platform_reminder_for_a_direct_orientation():
    p = with_reminders()
    to_referent(p, D0)
    assert not [d for d in p.s.deadlines if d.kind is DeadlineKind.FIRST_APPOINTMENT_REMINDER]


def test_T6_an_accepted_caf_saisine_cancels_the_orientation_reminder():
    p = with_reminders()
    day = D0 + timedelta(days=5)
    p.caf_saisine(caf_saisine(requested_on=day), day)
    p.decide_caf_saisine(CafSaisineDecision(event_id="cd", accepted=True, decided_on=day), day)
    assert deadline(p, DeadlineKind.ORIENTATION_REMINDER).status is DeadlineStatus.CANCELLED
    p.expire(at(D0 + timedelta(days=25)))
    assert tasks(p, "ORIENTATION_REMINDER") == []


def test_without_the_reminders_flag_no_reminder_clocks():
    p = new_pathway()
    assert not p.s.reminders
    to_platform(p, D0 + timedelta(days=3))
    p.expire(at(D0 + timedelta(days=40)))
    reminder_kinds = {DeadlineKind.ORIENTATION_REMINDER, DeadlineKind.FIRST_APPOINTMENT_REMINDER}
    assert not [d for d in p.s.deadlines if d.kind in reminder_kinds]
    assert tasks(p, "ORIENTATION_REMINDER") == tasks(p, "FIRST_APPOINTMENT_REMINDER") == []
    assert p.next_deadline_instant() == p.next_fire()  # older pathways: the search attribute as their history has it


# ------------------------------------------------------------------ breach withdrawn by a late fact (T4, T7, T10)


def test_T4_orientation_notified_day_28_recorded_day_32_withdraws_the_breach_of_day_31():
    p = new_pathway()
    p.expire(at(D0 + timedelta(days=32)))
    assert [b.kind for b in p.active_breaches()] == [DeadlineKind.ORIENTATION]
    escalation = next(t.task_key for t in p.s.outbox.tasks if t.kind == "ESCALATION_ORIENTATION")
    p.s.outbox.tasks.clear()
    recorded = D0 + timedelta(days=32)
    msg = OrientationDecision(event_id="o1", target=OrientationTarget.PLATFORM, structure_id="PF1",
                              notified_on=D0 + timedelta(days=28))
    p.check_orientation(msg, recorded)
    p.orient(msg, recorded)
    assert p.active_breaches() == [] and p.row().breach_count == 0
    (kept,) = p.s.breaches  # the history keeps both facts
    assert kept.withdrawn_on == recorded and "2024-04-01" in kept.withdrawal_reason
    clock = deadline(p, DeadlineKind.ORIENTATION)
    assert (clock.status, clock.closed_on) == (DeadlineStatus.MET, D0 + timedelta(days=28))
    assert [c.task_key for c in p.s.outbox.task_closures] == [escalation]
    assert p.s.outbox.breaches[-1].withdrawn_on == recorded
    assert "BREACH_WITHDRAWN:ORIENTATION" in [c.cause for c in p.s.stage_history]
    assert p.view().breaches[0].withdrawn_on == recorded


def test_T4_a_late_orientation_dated_after_the_due_day_keeps_the_breach():
    p = new_pathway()
    p.expire(at(D0 + timedelta(days=32)))
    to_platform(p, D0 + timedelta(days=32))
    assert len(p.active_breaches()) == 1 and p.s.outbox.task_closures == []


def test_T7_first_appointment_fixed_in_time_but_recorded_late_withdraws_the_breach():
    p = new_pathway()
    to_platform(p, D0)
    p.expire(at(D0 + timedelta(days=16)))
    assert [b.kind for b in p.active_breaches()] == [DeadlineKind.FIRST_APPOINTMENT]
    late = D0 + timedelta(days=16)
    p.on_appointment(AppointmentEvent(event_id="a1", kind=AppointmentKind.SCHEDULED,
                                      appointment_date=D0 + timedelta(days=12)), late)
    assert p.active_breaches() == [] and p.s.breaches[0].withdrawn_on == late


def test_T10_first_cer_signed_in_time_but_recorded_late_withdraws_the_breach():
    p = new_pathway()
    to_referent(p, D0)
    p.expire(at(add_months(D0, 2) + timedelta(days=3)))
    assert DeadlineKind.FIRST_CER in [b.kind for b in p.active_breaches()]
    signed = add_months(D0, 2) - timedelta(days=1)
    late = add_months(D0, 2) + timedelta(days=3)
    msg = SignCer(event_id="s", cer_id="c1", type=CerType.SOCIOPROFESSIONNEL, start=signed, end=add_months(signed, 6),
                  signed_on=signed, actions=actions(3, start=signed))
    p.check_sign_cer(msg, late)
    p.sign_cer(msg, late)
    assert DeadlineKind.FIRST_CER not in [b.kind for b in p.active_breaches()]
    assert deadline(p, DeadlineKind.FIRST_CER).status is DeadlineStatus.MET


def test_T4_breach_withdrawal_waits_for_the_patch_in_a_running_pathway():
    p = new_pathway()
    p._patched = lambda change: False
    p.expire(at(D0 + timedelta(days=32)))
    to_platform(p, D0 + timedelta(days=28))
    assert len(p.active_breaches()) == 1


# ------------------------------------------------------------------ pauses (T24)


def test_T24_not_subject_pauses_the_orientation_clock_and_resumes_it_extended():
    p = new_pathway()
    p.on_flow_record(FlowRecord(event_id="f2", transmission_date=D0 + timedelta(days=10), subject_to_duties=False), D0 + timedelta(days=10))
    assert p.s.stage is Stage.NOT_SUBJECT
    assert p.expire(at(D0 + timedelta(days=60))) == []
    back = D0 + timedelta(days=40)
    p.on_flow_record(FlowRecord(event_id="f3", transmission_date=back, subject_to_duties=True), back)
    assert p.s.stage is Stage.AWAITING_ORIENTATION
    assert deadline(p, DeadlineKind.ORIENTATION).due == date(2024, 4, 4) + timedelta(days=30)


def paused_cer(fixed: bool = True) -> tuple[Pathway, date]:
    """A 6-month CER ending 2027-06-07 with a 28-day spell « non soumis » in the middle."""
    start = date(2026, 12, 7)
    p = new_pathway(day=start)
    p._patched = lambda change: fixed
    to_referent(p, start)
    sign(p, start, date(2027, 6, 7))
    off, back = date(2027, 2, 1), date(2027, 3, 1)
    p.on_flow_record(FlowRecord(event_id="off", transmission_date=off, subject_to_duties=False), off)
    p.on_flow_record(FlowRecord(event_id="on", transmission_date=back, subject_to_duties=True), back)
    assert p.s.stage is Stage.CER_ACTIVE
    return p, start


def test_R13_T24_a_pause_never_moves_the_cer_end_and_the_bilan_comes_the_day_after():
    p, _ = paused_cer()
    assert deadline(p, DeadlineKind.CER_END).due == date(2027, 6, 7)
    assert deadline(p, DeadlineKind.BILAN_REMINDER).due == date(2027, 5, 8)
    fired = [d.kind for d in p.expire(at(date(2027, 6, 7)))]
    assert DeadlineKind.BILAN_REMINDER in fired and DeadlineKind.CER_END not in fired
    assert p.s.stage is Stage.CER_ACTIVE
    p.expire(at(date(2027, 6, 8), hour=0))
    assert p.s.stage is Stage.BILAN
    assert p.s.stage_history[-1].on == date(2027, 6, 8)
    assert deadline(p, DeadlineKind.BILAN).due == date(2027, 6, 22) and not deadline(p, DeadlineKind.BILAN).paused_by


def test_R13_T24_the_cer_ends_during_a_pause_and_the_bilan_clock_waits_for_the_person():
    p = new_pathway(day=date(2026, 12, 7))
    to_referent(p, date(2026, 12, 7))
    sign(p, date(2026, 12, 7), date(2027, 6, 7))
    off = date(2027, 5, 20)
    p.on_flow_record(FlowRecord(event_id="off", transmission_date=off, subject_to_duties=False), off)
    p.expire(at(date(2027, 6, 9)))
    assert p.s.stage is Stage.NOT_SUBJECT and p.s.held_stages[-1] is Stage.BILAN
    assert deadline(p, DeadlineKind.BILAN).paused_by == ["NOT_SUBJECT"]
    back = date(2027, 7, 1)
    p.on_flow_record(FlowRecord(event_id="on", transmission_date=back, subject_to_duties=True), back)
    assert p.s.stage is Stage.BILAN
    assert deadline(p, DeadlineKind.BILAN).due == date(2027, 6, 22) + timedelta(days=(back - date(2027, 6, 8)).days)


def test_T24_pauses_still_stop_the_service_clocks_of_a_cer_cycle():
    p = with_active_cer()
    off = D0 + timedelta(days=5)
    p.on_flow_record(FlowRecord(event_id="off", transmission_date=off, subject_to_duties=False), off)
    assert deadline(p, DeadlineKind.FIRST_APPOINTMENT).paused_by == ["NOT_SUBJECT"]  # a service level
    assert not deadline(p, DeadlineKind.CER_END).paused_by and not deadline(p, DeadlineKind.BILAN_REMINDER).paused_by


def test_R13_only_an_amendment_moves_the_cer_end_within_six_months_of_its_start():
    p, start = paused_cer()
    day = date(2027, 3, 10)
    too_long = AmendCer(event_id="a0", cer_id="c1", new_end=date(2027, 6, 8), amended_on=day)
    with pytest.raises(PathwayRuleError) as err:
        p.check_amend_cer(too_long, day)
    assert err.value.rule == "CER_MAX_DURATION"
    with pytest.raises(PathwayRuleError):
        p.check_amend_cer(AmendCer(event_id="a1", cer_id="other", new_end=date(2027, 5, 1), amended_on=day), day)
    shorter = AmendCer(event_id="a2", cer_id="c1", new_end=date(2027, 5, 1), amended_on=day)
    p.check_amend_cer(shorter, day)
    p.amend_cer(shorter, day)
    assert p.s.cer.end == date(2027, 5, 1) and deadline(p, DeadlineKind.CER_END).due == date(2027, 5, 1)
    assert deadline(p, DeadlineKind.BILAN_REMINDER).due == date(2027, 4, 1)
    assert p.s.stage_history[-1].cause == "CER_AMENDED" and p.s.outbox.cers[-1].end == date(2027, 5, 1)
    p.expire(at(date(2027, 5, 2)))
    assert p.s.stage is Stage.BILAN


def test_R13_running_pathway_that_moved_cer_ends_keeps_its_behaviour():
    p, _ = paused_cer(fixed=False)
    assert deadline(p, DeadlineKind.CER_END).due == date(2027, 6, 7) + timedelta(days=28)


# ------------------------------------------------------------------ platform phase (T7–T12)


def platform_to_preconisation(p: Pathway, day: date) -> None:
    to_platform(p, day)
    p.on_appointment(AppointmentEvent(event_id="a1", kind=AppointmentKind.SCHEDULED, appointment_date=day + timedelta(days=7)), day)
    p.on_appointment(AppointmentEvent(event_id="a2", kind=AppointmentKind.HELD, appointment_date=day + timedelta(days=7)), day + timedelta(days=7))
    p.on_diagnostic(DiagnosticCompleted(event_id="d", completed_on=day + timedelta(days=10)), day + timedelta(days=10))
    d = day + timedelta(days=10)
    sign(p, d, add_months(d, 6), cer_id="first")
    msg = PreconisationSubmitted(event_id="p", target=OrientationTarget.CAF, structure_id="CAF62", submitted_on=d)
    p.check_preconisation(msg, d)
    p.submit_preconisation(msg, d)


def test_T7_T8_T10_platform_phase_meets_its_clocks():
    p = new_pathway()
    platform_to_preconisation(p, D0)
    assert p.s.stage is Stage.AWAITING_SLAI_VALIDATION
    assert deadline(p, DeadlineKind.FIRST_APPOINTMENT).status is DeadlineStatus.MET
    assert deadline(p, DeadlineKind.FIRST_CER).status is DeadlineStatus.MET
    assert p.s.first_cer_signed and p.s.cer is None  # the platform's first CER opens no bilan cycle
    assert deadline(p, DeadlineKind.SLAI_VALIDATION).due == add_working_days(D0 + timedelta(days=10), 10)


def test_T7_first_appointment_after_14_days_is_a_breach():
    p = new_pathway()
    to_platform(p, D0)
    p.on_appointment(AppointmentEvent(event_id="a", kind=AppointmentKind.SCHEDULED, appointment_date=D0 + timedelta(days=20)), D0 + timedelta(days=2))
    assert deadline(p, DeadlineKind.FIRST_APPOINTMENT).status is DeadlineStatus.PENDING
    p.expire(at(D0 + timedelta(days=15)))
    assert [b.kind for b in p.s.breaches] == [DeadlineKind.FIRST_APPOINTMENT]
    assert p.s.breaches[0].responsible == "PLATFORM:PF1"


def test_T9_missed_first_appointment_reconvocation_then_ep_proposal():
    p = new_pathway()
    to_platform(p, D0)
    p.on_appointment(AppointmentEvent(event_id="a", kind=AppointmentKind.SCHEDULED, appointment_date=D0 + timedelta(days=5)), D0)
    p.on_appointment(AppointmentEvent(event_id="m1", kind=AppointmentKind.MISSED, appointment_date=D0 + timedelta(days=5)), D0 + timedelta(days=5))
    assert any(t.kind == "RECONVOCATION" for t in p.s.outbox.tasks) and p.s.ep is None
    p.on_appointment(AppointmentEvent(event_id="a2", kind=AppointmentKind.SCHEDULED, appointment_date=D0 + timedelta(days=12)), D0 + timedelta(days=6))
    assert p.s.reconvocations == 1
    p.on_appointment(AppointmentEvent(event_id="m2", kind=AppointmentKind.MISSED, appointment_date=D0 + timedelta(days=12)), D0 + timedelta(days=12))
    assert p.s.ep is not None and not p.s.ep.confirmed
    assert p.s.stage is Stage.PLATFORM_FIRST_APPOINTMENT  # a proposal only: a person confirms


def test_T10_preconisation_needs_diagnostic_and_first_cer():
    p = new_pathway()
    to_platform(p, D0)
    p.on_appointment(AppointmentEvent(event_id="a", kind=AppointmentKind.HELD, appointment_date=D0), D0)
    msg = PreconisationSubmitted(event_id="p", target=OrientationTarget.PLIE, structure_id="S", submitted_on=D0)
    with pytest.raises(PathwayRuleError) as e:
        p.check_preconisation(msg, D0)
    assert e.value.rule == "PRECONISATION_WITHOUT_DIAGNOSTIC"
    p.on_diagnostic(DiagnosticCompleted(event_id="d", completed_on=D0), D0)
    with pytest.raises(PathwayRuleError) as e:
        p.check_preconisation(msg, D0)
    assert e.value.rule == "PRECONISATION_WITHOUT_FIRST_CER"


def test_T10_first_cer_clock_breached_at_two_months():
    p = new_pathway()
    to_platform(p, D0)
    p.expire(at(add_months(D0, 2) + timedelta(days=1)))
    assert DeadlineKind.FIRST_CER in [b.kind for b in p.s.breaches]


def test_T11_slai_validation_designates_the_referent_and_T13_caf_first_interview():
    p = new_pathway()
    platform_to_preconisation(p, D0)
    d = D0 + timedelta(days=12)
    msg = SlaiPreconisationDecision(event_id="s", decided_on=d)
    p.check_slai_decision(msg, d)
    p.slai_decide(msg, d)
    assert p.s.referent.type is OrientationTarget.CAF and p.s.referent.structure_id == "CAF62"
    assert p.s.stage is Stage.CAF_FIRST_INTERVIEW
    assert deadline(p, DeadlineKind.REFERENT_CER).due == add_months(d, 2)


def test_T12_slai_may_change_the_target():
    p = new_pathway()
    platform_to_preconisation(p, D0)
    d = D0 + timedelta(days=12)
    with pytest.raises(PathwayRuleError):
        p.check_slai_decision(SlaiPreconisationDecision(event_id="s", decided_on=d, target=OrientationTarget.PLIE), d)
    msg = SlaiPreconisationDecision(event_id="s", decided_on=d, target=OrientationTarget.PLIE, structure_id="PLIE-LENS")
    p.check_slai_decision(msg, d)
    p.slai_decide(msg, d)
    assert p.s.stage is Stage.REFERENT_DESIGNATED and p.s.referent.structure_id == "PLIE-LENS"
    assert p.s.stage_history[-1].cause == "PRECONISATION_TARGET_CHANGED"


def test_T11_slai_validation_breach_after_ten_working_days():
    p = new_pathway()
    platform_to_preconisation(p, D0)
    due = deadline(p, DeadlineKind.SLAI_VALIDATION).due
    p.expire(at(due + timedelta(days=1)))
    assert DeadlineKind.SLAI_VALIDATION in [b.kind for b in p.s.breaches]


# ------------------------------------------------------------------ CER rules (T15)


@pytest.mark.parametrize(
    "cer_type,n,professional,start_offset,months,rule",
    [
        (CerType.SOLIDARITE, 1, False, 0, 7, "CER_MAX_DURATION"),
        (CerType.SOLIDARITE, 1, False, -1, 6, "CER_BEFORE_REFERENT"),
        (CerType.SOCIOPROFESSIONNEL, 2, True, 0, 6, "CER_SOCIOPRO_MIN_ACTIONS"),
        (CerType.SOCIOPROFESSIONNEL, 3, False, 0, 6, "CER_SOCIOPRO_PROFESSIONAL_ACTION"),
        (CerType.SOLIDARITE, 0, False, 0, 6, "CER_MIN_ACTIONS"),
    ],
)
def test_T15_sign_cer_refusals_name_the_rule(cer_type, n, professional, start_offset, months, rule):
    p = new_pathway()
    to_referent(p, D0 + timedelta(days=1))
    start = D0 + timedelta(days=1 + start_offset)
    msg = SignCer(event_id="c", cer_id="c", type=cer_type, start=start, end=add_months(start, months),
                  signed_on=D0 + timedelta(days=1), actions=actions(n, professional, start))
    with pytest.raises(PathwayRuleError) as e:
        p.check_sign_cer(msg, D0 + timedelta(days=1))
    assert e.value.rule == rule
    assert str(e.value)  # the message names the rule


def test_T15_a_cer_longer_than_six_months_is_refused_and_six_months_accepted():
    p = new_pathway()
    to_referent(p, D0)
    too_long = SignCer(event_id="c", cer_id="c", type=CerType.SOLIDARITE, start=D0, end=add_months(D0, 6) + timedelta(days=1), signed_on=D0, actions=actions(1))
    with pytest.raises(PathwayRuleError, match="at most 6 months"):
        p.check_sign_cer(too_long, D0)
    sign(p, D0, add_months(D0, 6))
    assert p.s.stage is Stage.CER_ACTIVE
    assert deadline(p, DeadlineKind.FIRST_CER).status is DeadlineStatus.MET
    assert deadline(p, DeadlineKind.BILAN_REMINDER).due == add_months(D0, 6) - timedelta(days=30)
    assert deadline(p, DeadlineKind.CER_END).due == add_months(D0, 6)
    assert [x.kind for x in p.s.outbox.pushes] == ["CER"]


# ------------------------------------------------------------------ bilan (T16–T18)


def test_T17_bilan_reminder_30_days_before_then_bilan_stage_at_cer_end():
    p = with_active_cer()
    end = add_months(D0, 6)
    p.expire(at(end - timedelta(days=30), 1))
    assert any(t.kind == "BILAN_REMINDER" for t in p.s.outbox.tasks)
    assert p.s.stage is Stage.CER_ACTIVE
    p.expire(at(end + timedelta(days=1), 1))
    assert p.s.stage is Stage.BILAN
    assert deadline(p, DeadlineKind.BILAN).due == end + timedelta(days=15)


def test_T17_bilan_overdue_is_a_breach():
    p = with_active_cer()
    p.on_appointment(AppointmentEvent(event_id="a", kind=AppointmentKind.SCHEDULED, appointment_date=D0), D0)
    p.expire(at(add_months(D0, 6) + timedelta(days=15)))
    assert p.s.breaches == []
    p.expire(at(add_months(D0, 6) + timedelta(days=16)))
    assert [b.kind for b in p.s.breaches] == [DeadlineKind.BILAN]


def test_T18_bilan_continue_opens_a_renewal_cycle():
    p = with_active_cer()
    end = add_months(D0, 6)
    p.expire(at(end + timedelta(days=1)))
    day = end + timedelta(days=2)
    msg = CompleteBilan(event_id="b", completed_on=day, decision=BilanDecision.CONTINUE)
    p.check_bilan(msg, day)
    p.complete_bilan(msg, day)
    assert p.s.stage is Stage.CER_DRAFTING and p.s.cycle_completed
    assert deadline(p, DeadlineKind.BILAN).status is DeadlineStatus.MET
    sign(p, day, add_months(day, 6), cer_id="c2")
    assert p.s.cer.renewal


def test_T18_bilan_end_closes_with_exit_pushed():
    p = with_active_cer()
    end = add_months(D0, 6)
    p.expire(at(end + timedelta(days=1)))
    msg = CompleteBilan(event_id="b", completed_on=end + timedelta(days=1), decision=BilanDecision.END, exit_reason=ExitReason.SORTIE_EMPLOI)
    p.complete_bilan(msg, end + timedelta(days=1))
    assert p.s.stage is Stage.CLOSED and p.s.finished and p.s.exit_reason is ExitReason.SORTIE_EMPLOI
    assert [x.kind for x in p.s.outbox.pushes][-2:] == ["BILAN", "EXIT"]


def test_T16_caf_physical_appointments_reported_in_the_bilan():
    p = caf_with_cer()
    for i in range(2):
        p.on_appointment(AppointmentEvent(event_id=f"h{i}", kind=AppointmentKind.HELD, appointment_date=D0, physical=True), D0)
    p.on_appointment(AppointmentEvent(event_id="h3", kind=AppointmentKind.HELD, appointment_date=D0, physical=False), D0)
    end = p.s.cer.end
    p.expire(at(end + timedelta(days=1)))
    msg = CompleteBilan(event_id="b", completed_on=end + timedelta(days=1), decision=BilanDecision.CONTINUE, global_outcome="Objectifs atteints")
    p.check_bilan(msg, end + timedelta(days=1))
    p.complete_bilan(msg, end + timedelta(days=1))
    bilan = [x for x in p.s.outbox.pushes if x.kind == "BILAN"][0]
    assert bilan.data.physical_appointments == 2 and bilan.data.caf_min_physical_appointments_met is False


def test_caf_bilan_needs_a_gesica_global_outcome():
    p = caf_with_cer()
    end = p.s.cer.end
    p.expire(at(end + timedelta(days=1)))
    with pytest.raises(PathwayRuleError) as e:
        p.check_bilan(CompleteBilan(event_id="b", completed_on=end, decision=BilanDecision.CONTINUE), end + timedelta(days=1))
    assert e.value.rule == "GESICA_GLOBAL_OUTCOME_REQUIRED"


# ------------------------------------------------------------------ reorientation (T19, §3.5)


def test_T19_same_sphere_reorientation_refused_mid_cer_and_accepted_at_cer_end():
    p = with_active_cer()
    mid = D0 + timedelta(days=60)
    msg = RequestReorientation(event_id="r", reason=ReorientationReason.PROBLEMATIQUE_RELATIONNELLE, requested_on=mid)
    with pytest.raises(PathwayRuleError) as e:
        p.check_reorientation(msg, mid)
    assert e.value.rule == "REORIENTATION_SAME_SPHERE_ONLY_AT_CER_END"
    end = add_months(D0, 6)
    p.expire(at(end + timedelta(days=1)))
    later = RequestReorientation(event_id="r2", reason=ReorientationReason.PROBLEMATIQUE_RELATIONNELLE, requested_on=end + timedelta(days=1))
    p.check_reorientation(later, end + timedelta(days=1))
    p.request_reorientation(later, end + timedelta(days=1))
    assert p.s.stage is Stage.REORIENTATION_REQUESTED


def test_T19_reprise_de_vie_maritale_accepted_at_any_time_and_reoriented():
    p = with_active_cer()
    mid = D0 + timedelta(days=30)
    msg = RequestReorientation(event_id="r", reason=ReorientationReason.REPRISE_VIE_MARITALE, requested_on=mid)
    p.check_reorientation(msg, mid)
    p.request_reorientation(msg, mid)
    decision = DecideReorientation(event_id="d", decided_on=mid, approved=True, target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="CCAS-1")
    p.check_reorientation_decision(decision, mid)
    p.decide_reorientation(decision, mid)
    assert p.s.stage is Stage.REFERENT_DESIGNATED and p.s.referent.structure_id == "CCAS-1"
    assert p.s.cer is None
    assert deadline(p, DeadlineKind.CER_END).status is DeadlineStatus.CANCELLED


def test_T19_autre_motif_needs_justification_and_refusal_returns_to_the_cer():
    p = with_active_cer()
    mid = D0 + timedelta(days=30)
    with pytest.raises(PathwayRuleError) as e:
        p.check_reorientation(RequestReorientation(event_id="r", reason=ReorientationReason.AUTRE, requested_on=mid), mid)
    assert e.value.rule == "REORIENTATION_AUTRE_JUSTIFICATION"
    msg = RequestReorientation(event_id="r", reason=ReorientationReason.AUTRE, requested_on=mid, justification="déménagement hors territoire")
    p.check_reorientation(msg, mid)
    p.request_reorientation(msg, mid)
    p.decide_reorientation(DecideReorientation(event_id="d", decided_on=mid, approved=False), mid)
    assert p.s.stage is Stage.CER_ACTIVE


def test_T23_exit_for_reprise_de_vie_maritale_at_any_time():
    p = with_active_cer()
    mid = D0 + timedelta(days=30)
    msg = RequestReorientation(event_id="r", reason=ReorientationReason.REPRISE_VIE_MARITALE, requested_on=mid, exit=True)
    p.check_reorientation(msg, mid)
    p.request_reorientation(msg, mid)
    p.decide_reorientation(DecideReorientation(event_id="d", decided_on=mid, approved=True), mid)
    assert p.s.stage is Stage.CLOSED and p.s.exit_reason is ExitReason.REPRISE_VIE_MARITALE and p.s.finished


def test_exit_on_request_refused_for_a_same_sphere_reason():
    p = with_active_cer()
    end = add_months(D0, 6)
    p.expire(at(end + timedelta(days=1)))
    with pytest.raises(PathwayRuleError) as e:
        p.check_reorientation(RequestReorientation(event_id="r", reason=ReorientationReason.EPUISEMENT, requested_on=end, exit=True), end + timedelta(days=1))
    assert e.value.rule == "EXIT_REASON_NOT_ALLOWED"


# ------------------------------------------------------------------ personal review (T21)


def test_T21_personal_review_pauses_service_clocks_but_never_the_cer_end():
    p = with_active_cer()
    asked = D0 + timedelta(days=30)
    p.check_personal_review(req := PersonalReviewRequest(event_id="pr", requested_on=asked), asked)
    p.request_personal_review(req, asked)
    assert p.s.stage is Stage.PERSONAL_SITUATION_REVIEW
    end = deadline(p, DeadlineKind.CER_END).due
    assert end == add_months(D0, 6) and not deadline(p, DeadlineKind.CER_END).paused_by
    fired = p.expire(at(end + timedelta(days=10)))
    assert {d.kind for d in fired} == {DeadlineKind.BILAN_REMINDER, DeadlineKind.PERSONAL_REVIEW, DeadlineKind.CER_END}
    bilan = deadline(p, DeadlineKind.BILAN)
    assert bilan.paused_by == ["PERSONAL_REVIEW"]  # the bilan is due; its overdue clock waits for the review
    decided = asked + timedelta(days=160)
    p.decide_personal_review(PersonalReviewDecision(event_id="pd", decided_on=decided, outcome=PersonalReviewOutcome.RESUME), decided)
    assert p.s.stage is Stage.BILAN
    assert deadline(p, DeadlineKind.CER_END).due == end


def test_T21_personal_review_may_lead_to_reorientation():
    p = with_active_cer()
    d = D0 + timedelta(days=30)
    p.request_personal_review(PersonalReviewRequest(event_id="pr", requested_on=d), d)
    p.decide_personal_review(PersonalReviewDecision(event_id="pd", decided_on=d, outcome=PersonalReviewOutcome.REORIENT), d)
    assert p.s.stage is Stage.REORIENTATION_REQUESTED
    assert p.s.reorientation_reason is ReorientationReason.SITUATION_PERSONNELLE


# ------------------------------------------------------------------ non-compliance (T20)


def test_T20_two_unexcused_absences_propose_ep_confirmed_by_a_person_then_decision():
    p = with_active_cer()
    for i in range(2):
        p.on_appointment(AppointmentEvent(event_id=f"m{i}", kind=AppointmentKind.MISSED, appointment_date=D0), D0)
    assert p.s.ep is not None and p.s.stage is Stage.CER_ACTIVE
    assert any(t.kind == "CONFIRM_EP_REFERRAL" for t in p.s.outbox.tasks)
    p.check_ep_confirmation(c := EpReferralConfirmation(event_id="c", confirmed=True, decided_on=D0), D0)
    p.confirm_ep(c, D0)
    assert p.s.stage is Stage.NON_COMPLIANCE_EP
    p.on_ep_decision(EpDecision(event_id="e", outcome=EpOutcome.MAINTAIN, decided_on=D0), D0)
    assert p.s.stage is Stage.CER_ACTIVE and p.s.ep is None


def test_T20_ep_exit_records_non_respect_des_obligations():
    p = with_active_cer()
    p.on_non_compliance(NonComplianceReport(event_id="n", kind=NonComplianceKind.NON_ADHESION, reported_on=D0), D0)
    p.confirm_ep(EpReferralConfirmation(event_id="c", confirmed=True, decided_on=D0), D0)
    p.on_ep_decision(EpDecision(event_id="e", outcome=EpOutcome.SANCTION_PROCEDURE, decided_on=D0), D0)
    assert p.s.stage is Stage.SANCTION_PROCEDURE
    p.on_ep_decision(EpDecision(event_id="e2", outcome=EpOutcome.EXIT, decided_on=D0), D0)
    assert p.s.stage is Stage.CLOSED and p.s.exit_reason is ExitReason.NON_RESPECT_OBLIGATIONS
    assert p.s.outbox.pushes[-1].kind == "EXIT" and p.s.outbox.pushes[-1].data.reason == "NON_RESPECT_OBLIGATIONS"


def test_T20_dropped_ep_proposal_changes_nothing():
    p = with_active_cer()
    p.on_non_compliance(NonComplianceReport(event_id="n", kind=NonComplianceKind.NON_ADHESION, reported_on=D0), D0)
    p.confirm_ep(EpReferralConfirmation(event_id="c", confirmed=False, decided_on=D0), D0)
    assert p.s.ep is None and p.s.stage is Stage.CER_ACTIVE
    with pytest.raises(PathwayRuleError):
        p.check_ep_confirmation(EpReferralConfirmation(event_id="c2", confirmed=True, decided_on=D0), D0)


def ep_in_procedure() -> Pathway:
    p = with_active_cer()
    p.on_non_compliance(NonComplianceReport(event_id="n", kind=NonComplianceKind.NON_ADHESION, reported_on=D0), D0)
    p.confirm_ep(EpReferralConfirmation(event_id="c", confirmed=True, decided_on=D0), D0)
    p.on_ep_decision(EpDecision(event_id="e", outcome=EpOutcome.SANCTION_PROCEDURE, decided_on=D0), D0)
    p.s.outbox = type(p.s.outbox)()
    return p


def test_G_B14_reduction_is_recorded_and_asked_of_the_rsa_service_and_accompaniment_goes_on():
    p = ep_in_procedure()
    day = D0 + timedelta(days=20)
    p.on_ep_decision(EpDecision(event_id="s", outcome=EpOutcome.REDUCTION, decided_on=day, share_percent=30, months=2), day)
    assert p.s.stage is Stage.CER_ACTIVE and p.s.ep is None
    (sanction,) = p.view().sanctions
    assert (sanction.outcome, sanction.share_percent, sanction.months, sanction.decided_on) == (EpOutcome.REDUCTION, 30, 2, day)
    (task,) = [t for t in p.s.outbox.tasks if t.kind == "APPLY_RSA_SANCTION"]
    assert task.assignee == "SERVICE_RSA" and task.details == {"outcome": "REDUCTION", "decided_on": day.isoformat(),
                                                                 "share_percent": "30", "months": "2"}
    assert p.s.outbox.pushes == []  # MonJob62 gets exits, not reductions (R15)
    assert p.s.stage_history[-1].cause == "EP_REDUCTION"


def test_G_B14_suspension_keeps_the_accompaniment_and_never_touches_rights():
    p = ep_in_procedure()
    p.on_ep_decision(EpDecision(event_id="s", outcome=EpOutcome.SUSPENSION, decided_on=D0, share_percent=100, months=1), D0)
    assert p.s.stage is Stage.CER_ACTIVE and p.s.sanctions[0].outcome is EpOutcome.SUSPENSION
    assert p.s.subject_to_duties is True and p.s.payment_suspension is None  # rights are the CAF's


def test_G_B14_radiation_closes_for_non_respect_pushed_to_monjob62_with_a_task():
    p = ep_in_procedure()
    p.on_ep_decision(EpDecision(event_id="s", outcome=EpOutcome.RADIATION, decided_on=D0), D0)
    assert p.s.stage is Stage.CLOSED and p.s.exit_reason is ExitReason.NON_RESPECT_OBLIGATIONS
    assert [x.kind for x in p.s.outbox.pushes] == ["EXIT"] and p.s.outbox.pushes[0].data.reason == "NON_RESPECT_OBLIGATIONS"
    assert [t.kind for t in p.s.outbox.tasks] == ["APPLY_RSA_SANCTION"]


@pytest.mark.parametrize("outcome, share, months", [
    (EpOutcome.REDUCTION, None, 2), (EpOutcome.REDUCTION, 100, 2), (EpOutcome.REDUCTION, 30, None),
    (EpOutcome.SUSPENSION, 100, None), (EpOutcome.RADIATION, None, 2), (EpOutcome.MAINTAIN, 30, None),
])
def test_G_B14_sanction_terms_are_checked(outcome, share, months):
    p = ep_in_procedure()
    with pytest.raises(PathwayRuleError) as err:
        p.on_ep_decision(EpDecision(event_id="s", outcome=outcome, decided_on=D0, share_percent=share, months=months), D0)
    assert err.value.rule == "EP_SANCTION_TERMS" and p.s.sanctions == []


def test_G_B14_maintien_after_the_procedure_returns_to_the_accompaniment():
    p = ep_in_procedure()
    p.on_ep_decision(EpDecision(event_id="s", outcome=EpOutcome.MAINTAIN, decided_on=D0), D0)
    assert p.s.stage is Stage.CER_ACTIVE and p.s.sanctions == [] and p.s.outbox.tasks == []


# ------------------------------------------------------------------ left RSA (T22, T23, T25)


def left(p: Pathway, day: date, end_of_payment: date | None = None) -> None:
    p.on_left_rsa(LeftRsa(event_id="l", end_of_payment_date=end_of_payment or day, reason="ressources"), day)


def test_T22_left_rsa_without_choice_closes_after_15_days_with_reentry_window():
    p = with_active_cer()
    day = D0 + timedelta(days=40)
    left(p, day)
    assert p.s.stage is Stage.EXIT_CHOICE_PENDING
    assert not deadline(p, DeadlineKind.CER_END).paused_by  # the CER's own end (R13)
    p.expire(at(day + timedelta(days=16)))
    assert p.s.stage is Stage.CLOSED and p.s.exit_reason is ExitReason.SORTIE_RSA and not p.s.finished
    assert deadline(p, DeadlineKind.REENTRY_WINDOW).due == add_months(day, 6)
    p.expire(at(add_months(day, 6) + timedelta(days=1)))
    assert p.s.finished


def test_T25_reentry_at_month_1_keeps_the_referent_and_resumes_the_cer_with_its_signed_end():
    p = with_active_cer()
    day = D0 + timedelta(days=40)
    left(p, day)
    p.choose_after_exit(PostExitChoice(event_id="c", continue_accompaniment=True, decided_on=day), day)
    assert p.s.stage is Stage.POST_EXIT_ACCOMPANIMENT
    back = add_months(day, 1)
    assert p.expire(at(back)) == []
    p.on_flow_record(FlowRecord(event_id="f9", transmission_date=back, subject_to_duties=True), back)
    assert p.s.stage is Stage.CER_ACTIVE and p.s.referent.structure_id == "S1"
    assert deadline(p, DeadlineKind.POST_EXIT_END).status is DeadlineStatus.CANCELLED
    assert deadline(p, DeadlineKind.CER_END).due == add_months(D0, 6)


def test_T25_reentry_after_the_cer_end_comes_back_to_the_bilan():
    p = with_active_cer()
    day = D0 + timedelta(days=40)
    left(p, day)
    p.choose_after_exit(PostExitChoice(event_id="c", continue_accompaniment=True, decided_on=day), day)
    back = add_months(day, 5)
    p.expire(at(back))
    assert deadline(p, DeadlineKind.CER_END).status is DeadlineStatus.FIRED
    p.on_flow_record(FlowRecord(event_id="f9", transmission_date=back, subject_to_duties=True), back)
    assert p.s.stage is Stage.BILAN and p.s.referent.structure_id == "S1"


def test_T22_post_exit_accompaniment_closes_six_months_after_end_of_payment():
    p = with_active_cer()
    day = D0 + timedelta(days=40)
    left(p, day, end_of_payment=day - timedelta(days=10))
    p.choose_after_exit(PostExitChoice(event_id="c", continue_accompaniment=True, decided_on=day), day)
    p.expire(at(add_months(day - timedelta(days=10), 6) + timedelta(days=1)))
    assert p.s.stage is Stage.CLOSED and p.s.exit_reason is ExitReason.FIN_POST_SORTIE and p.s.finished


def test_T23_referent_closes_now_and_reentry_still_resumes():
    p = with_active_cer()
    day = D0 + timedelta(days=40)
    left(p, day)
    p.choose_after_exit(PostExitChoice(event_id="c", continue_accompaniment=False, decided_on=day), day)
    assert p.s.stage is Stage.CLOSED and not p.s.finished
    p.on_flow_record(FlowRecord(event_id="f9", transmission_date=day + timedelta(days=30), subject_to_duties=True), day + timedelta(days=30))
    assert p.s.stage is Stage.CER_ACTIVE


# ------------------------------------------------------------------ CAF route (§3)


def caf_saisine(**overrides) -> CafSaisine:
    values = dict(event_id="caf", mode=CafSaisineMode.M1, requested_on=D0, caf_structure_id="CAF62-ARRAS", rsa_majore=True,
                  followed_by_caf_social_worker=True)
    values.update(overrides)
    return CafSaisine(**values)


def caf_with_cer() -> Pathway:
    p = new_pathway()
    msg = caf_saisine()
    p.check_caf_saisine(msg, D0)
    p.caf_saisine(msg, D0)
    assert p.s.stage is Stage.CAF_SAISINE
    p.decide_caf_saisine(CafSaisineDecision(event_id="cd", accepted=True, decided_on=D0), D0)
    assert p.s.stage is Stage.CAF_FIRST_INTERVIEW and p.s.referent.type is OrientationTarget.CAF
    assert deadline(p, DeadlineKind.ORIENTATION).status is DeadlineStatus.MET
    p.caf_first_interview(CafFirstInterview(event_id="i", held_on=D0, within_caf_competence=True), D0)
    assert p.s.stage is Stage.CER_DRAFTING
    sign(p, D0, add_months(D0, 6), cer_type=CerType.SOLIDARITE, n=1)
    return p


def caf_ready_to_sign() -> Pathway:
    p = new_pathway()
    p.s.gesica_at_cer = True
    p.caf_saisine(caf_saisine(), D0)
    p.decide_caf_saisine(CafSaisineDecision(event_id="cd", accepted=True, decided_on=D0), D0)
    p.caf_first_interview(CafFirstInterview(event_id="i", held_on=D0, within_caf_competence=True), D0)
    return p


def caf_cer(domain: str | None, objectives: list[str]) -> SignCer:
    return SignCer(event_id="s", cer_id="caf-1", type=CerType.SOLIDARITE, start=D0, end=add_months(D0, 6), signed_on=D0,
                   actions=actions(1, start=D0), gesica_domain=domain, gesica_objectives=objectives)


@pytest.mark.parametrize("domain, objectives, rule", [
    (None, [], "GESICA_CER_DOMAIN_REQUIRED"),
    ("ASTROLOGIE", ["x"], "GESICA_UNKNOWN_DOMAIN"),
    ("BUDGET", [], "GESICA_CER_OBJECTIVE_REQUIRED"),
    ("BUDGET", ["Favoriser l'accès aux soins"], "GESICA_UNKNOWN_OBJECTIVE"),  # a SANTÉ objective
])
def test_G_C7_section_3_8_caf_cer_signature_checks_the_gesica_domain_and_objectives(domain, objectives, rule):
    p = caf_ready_to_sign()
    with pytest.raises(PathwayRuleError) as err:
        p.check_sign_cer(caf_cer(domain, objectives), D0)
    assert err.value.rule == rule


def test_section_3_8_a_caf_cer_with_its_gesica_entry_is_signed_and_kept():
    p = caf_ready_to_sign()
    budget = sorted(GESICA.domains["BUDGET"].objectives)[:2]
    msg = caf_cer("BUDGET", budget)
    p.check_sign_cer(msg, D0)
    p.sign_cer(msg, D0)
    assert p.s.stage is Stage.CER_ACTIVE and (p.s.cer.gesica_domain, p.s.cer.gesica_objectives) == ("BUDGET", budget)
    assert "gesica_domain" not in p.s.outbox.pushes[-1].data.model_dump()  # MonJob62's CER fields are unchanged


def test_section_3_8_a_non_caf_cer_needs_no_gesica_entry():
    p = new_pathway()
    p.s.gesica_at_cer = True
    to_referent(p, D0)
    sign(p, D0, add_months(D0, 6))
    assert p.s.stage is Stage.CER_ACTIVE


def test_G_B2_the_rsa_entry_date_is_kept_beside_the_transmission_date_and_moves_no_clock():
    p = Pathway.new("q" * 32, "ARRAGEOIS", D0)
    entry = D0 - timedelta(days=200)  # a prime d'activité case resumed with its earlier RSA entry date
    p.on_flow_record(FlowRecord(event_id="f1", transmission_date=D0, subject_to_duties=True, rsa_entry_date=entry), D0)
    assert (p.s.entry_date, p.s.rsa_entry_date) == (D0, entry)
    assert deadline(p, DeadlineKind.ORIENTATION).due == add_months(D0, 1)
    assert (p.view().entry_date, p.view().rsa_entry_date, p.row().rsa_entry_date) == (D0, entry, entry)
    with pytest.raises(ValueError):
        FlowRecord(event_id="f2", transmission_date=D0, subject_to_duties=True, rsa_entry_date=D0 + timedelta(days=1))


def test_T6_caf_saisine_m1_designates_the_caf_after_slai_acceptance():
    p = caf_with_cer()
    assert p.s.stage is Stage.CER_ACTIVE and p.s.caf_saisine_mode == "M1"


def test_T6_refused_caf_saisine_returns_to_the_previous_stage():
    p = new_pathway()
    p.caf_saisine(caf_saisine(), D0)
    p.decide_caf_saisine(CafSaisineDecision(event_id="cd", accepted=False, decided_on=D0), D0)
    assert p.s.stage is Stage.AWAITING_ORIENTATION


@pytest.mark.parametrize(
    "overrides,rule",
    [
        ({"age": 15}, "CAF_EXCLUSION_MINOR"),
        ({"gens_du_voyage": True}, "CAF_EXCLUSION_GENS_DU_VOYAGE"),
        ({"accompanied_by_departement_service": True}, "CAF_EXCLUSION_ALREADY_ACCOMPANIED"),
        ({"hosted_in_structure": True}, "CAF_EXCLUSION_HOSTED_IN_STRUCTURE"),
        ({"rsa_majore": False}, "CAF_SAISINE_NOT_RSA_MAJORE"),
        ({"followed_by_caf_social_worker": False}, "CAF_SAISINE_M1_NOT_FOLLOWED"),
        ({"has_referent_solidarite": True}, "CAF_SAISINE_M1_HAS_REFERENT"),
        ({"mode": CafSaisineMode.M2}, "CAF_SAISINE_M2_NO_FAMILY_EVENT"),
        ({"mode": CafSaisineMode.M3}, "CAF_SAISINE_M3_NOT_AUTHORISED"),
    ],
)
def test_caf_saisine_exclusions_and_eligibility_refused_with_the_reason(overrides, rule):
    p = new_pathway()
    with pytest.raises(PathwayRuleError) as e:
        p.check_caf_saisine(caf_saisine(**overrides), D0)
    assert e.value.rule == rule


def test_caf_saisine_m2_and_m3_accepted_when_eligible():
    p = new_pathway()
    p.check_caf_saisine(caf_saisine(mode=CafSaisineMode.M2, followed_by_caf_social_worker=False, family_event=FamilyEvent.SEPARATION), D0)
    p.check_caf_saisine(caf_saisine(mode=CafSaisineMode.M3, widening_authorised_by_slai=True), D0)


def test_T14_caf_first_interview_outside_competence_requests_reorientation_before_cer():
    p = new_pathway()
    p.caf_saisine(caf_saisine(), D0)
    p.decide_caf_saisine(CafSaisineDecision(event_id="cd", accepted=True, decided_on=D0), D0)
    p.caf_first_interview(CafFirstInterview(event_id="i", held_on=D0, within_caf_competence=False), D0)
    assert p.s.stage is Stage.REORIENTATION_REQUESTED
    assert p.s.reorientation_reason is ReorientationReason.HORS_COMPETENCE_CAF


def test_gesica_lexicon_shipped_and_validated():
    assert len(GESICA.global_outcomes) == 9 and len(GESICA.domains) == 7
    assert "Moratoire accordé" in GESICA.domains["BUDGET"].outcomes
    validate_gesica_bilan("Objectifs atteints", [GesicaOutcome(domain="INSERTION", outcome="CDI")], required=True)
    with pytest.raises(PathwayRuleError) as e:
        validate_gesica_bilan("Objectifs atteints", [GesicaOutcome(domain="INSERTION", outcome="Dettes résorbées")], required=True)
    assert e.value.rule == "GESICA_UNKNOWN_OUTCOME"
    with pytest.raises(PathwayRuleError):
        validate_gesica_bilan("Très bien", [], required=False)


def test_caf_quota_counters():
    status = caf_quota_status(2023, 1022, RULESET_2023)
    assert status.etp == 65 and not status.year_reached and status.widening_possible
    assert caf_quota_status(2023, 1300, RULESET_2023).per_etp_reached


# ------------------------------------------------------------------ bookkeeping


def test_seen_event_ids_are_bounded():
    p = new_pathway()
    for i in range(MAX_SEEN_EVENT_IDS + 10):
        p.remember(f"e{i}")
    assert len(p.s.seen_event_ids) == MAX_SEEN_EVENT_IDS
    assert p.seen(f"e{MAX_SEEN_EVENT_IDS + 9}") and not p.seen("e0")


def test_versions_grow_with_each_change():
    p = with_active_cer()
    versions = [c.seq for c in p.s.outbox.stage_changes]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert p.row().version == p.s.seq


def test_add_working_days_skips_weekends_and_holidays():
    assert add_working_days(date(2024, 4, 26), 2) == date(2024, 4, 30)  # Fri → Tue
    assert add_working_days(date(2024, 4, 30), 1) == date(2024, 5, 2)  # 1 May is a holiday


# ------------------------------------------------------------------ indicator facts (issue 5 item 7)


def test_each_accepted_appointment_is_a_fact_with_the_day_it_arrived():
    p = new_pathway()
    with pytest.raises(PathwayRuleError):  # refused (not oriented yet): no fact
        p.on_appointment(AppointmentEvent(event_id="a0", kind=AppointmentKind.HELD, appointment_date=D0), D0)
    to_platform(p, D0)
    fixed_on = D0 + timedelta(days=2)
    p.on_appointment(AppointmentEvent(event_id="a1", kind=AppointmentKind.SCHEDULED, appointment_date=D0 + timedelta(days=9)), fixed_on)
    p.on_appointment(AppointmentEvent(event_id="a2", kind=AppointmentKind.MISSED, appointment_date=D0 + timedelta(days=9),
                                      excused=True), D0 + timedelta(days=9))
    facts = [(a.event_id, a.kind, a.appointment_date, a.recorded_on, a.excused) for a in p.s.outbox.appointments]
    assert facts == [("a1", AppointmentKind.SCHEDULED, D0 + timedelta(days=9), fixed_on, False),
                     ("a2", AppointmentKind.MISSED, D0 + timedelta(days=9), D0 + timedelta(days=9), True)]


def test_the_caf_first_interview_is_a_held_appointment_fact():
    p = caf_with_cer()
    [fact] = p.s.outbox.appointments
    assert (fact.event_id, fact.kind, fact.appointment_date, fact.physical) == ("i", AppointmentKind.HELD, D0, True)


def convocation(outcome=None, event_id="cv-1", day=D0) -> LostFromViewConvocation:
    return LostFromViewConvocation(event_id=event_id, convocation_id="conv-2024-03", convoked_on=day,
                                   appointment_date=day + timedelta(days=10), outcome=outcome)


def test_T26_convocation_recorded_then_its_outcome_with_a_growing_version():
    p = new_pathway()
    p.on_lost_from_view_convocation(convocation(), D0)
    first = p.s.outbox.convocations[-1]
    assert (first.convocation_id, first.outcome) == ("conv-2024-03", None)
    p.on_lost_from_view_convocation(convocation(ConvocationOutcome.ATTENDED, "cv-2"), D0 + timedelta(days=10))
    [pending] = p.s.outbox.convocations  # one row per convocation in a batch, the latest version
    assert pending.outcome is ConvocationOutcome.ATTENDED and pending.version > first.version
    assert p.s.ep is None and p.s.stage is Stage.AWAITING_ORIENTATION  # orienting stays a decision of the services
    version = pending.version
    p.on_lost_from_view_convocation(convocation(None, "cv-3"), D0 + timedelta(days=11))  # nothing new
    assert p.s.convocations[0].version == version and p.s.convocations[0].outcome is ConvocationOutcome.ATTENDED


def test_T26_missed_convocation_proposes_the_ep_referral_confirmed_by_a_person():
    p = new_pathway()
    p.on_lost_from_view_convocation(convocation(), D0)
    p.on_lost_from_view_convocation(convocation(ConvocationOutcome.MISSED, "cv-2"), D0 + timedelta(days=10))
    assert p.s.ep is not None and p.s.ep.kind == NonComplianceKind.UNEXCUSED_ABSENCE.value
    assert [t.kind for t in p.s.outbox.tasks] == ["CONFIRM_EP_REFERRAL"]
    assert p.s.stage is Stage.AWAITING_ORIENTATION


def test_T26_convocation_refused_once_the_person_is_accompanied():
    p = with_active_cer()
    with pytest.raises(PathwayRuleError) as err:
        p.on_lost_from_view_convocation(convocation(), D0)
    assert err.value.rule == "STAGE_NOT_ALLOWED"


# ------------------------------------------------------------------ flow facts (issue 5)


def test_payment_suspension_and_resumption_recorded_in_state_and_stage_history():
    p = with_active_cer()
    day = D0 + timedelta(days=20)
    p.on_payment_suspended(PaymentSuspended(event_id="s", flow_date=day, reasons=["44", "06"], since=day), day)
    assert p.s.payment_suspension.reasons == ["06", "44"] and p.s.payment_suspension.since == day
    note = p.s.stage_history[-1]
    assert (note.from_stage, note.to_stage, note.cause) == (Stage.CER_ACTIVE, Stage.CER_ACTIVE, "PAYMENT_SUSPENDED:06+44")
    assert p.s.stage is Stage.CER_ACTIVE and all(not d.paused_by for d in p.s.deadlines)  # duties go on
    p.on_payment_resumed(PaymentResumed(event_id="r", flow_date=day + timedelta(days=30)), day + timedelta(days=30))
    assert p.s.payment_suspension is None and p.s.stage_history[-1].cause == "PAYMENT_RESUMED"
    with pytest.raises(PathwayRuleError) as err:
        p.on_payment_resumed(PaymentResumed(event_id="r2", flow_date=day), day + timedelta(days=31))
    assert err.value.rule == "PAYMENT_NOT_SUSPENDED"


def test_payment_suspension_with_an_unknown_code_is_refused():
    p = new_pathway()
    with pytest.raises(PathwayRuleError) as err:
        p.on_payment_suspended(PaymentSuspended(event_id="s", flow_date=D0, reasons=["ZZ"]), D0)
    assert err.value.rule == "PAYMENT_SUSPENSION_UNKNOWN_REASON" and p.s.payment_suspension is None


def test_G_B8_not_subject_confirmed_asks_the_referent_and_changes_nothing_else():
    p = with_active_cer()
    day = D0 + timedelta(days=10)
    p.on_flow_record(FlowRecord(event_id="f2", transmission_date=day, subject_to_duties=False), day)
    p.s.outbox.tasks.clear()
    p.on_not_subject_confirmed(NotSubjectConfirmed(event_id="c", flow_date=day + timedelta(days=1), since=day, flows=2),
                               day + timedelta(days=1))
    assert p.s.not_subject_confirmed_since == day and p.s.stage is Stage.NOT_SUBJECT
    [task] = p.s.outbox.tasks
    assert (task.kind, task.assignee, task.details) == ("REVIEW_NOT_SUBJECT", "REFERENT:S1", {"since": day.isoformat(), "flows": "2"})
    assert p.s.referent.structure_id == "S1" and p.s.stage_history[-1].cause == "NOT_SUBJECT_CONFIRMED"
    p.on_flow_record(FlowRecord(event_id="f3", transmission_date=day + timedelta(days=5), subject_to_duties=True), day + timedelta(days=5))
    assert p.s.not_subject_confirmed_since is None and p.s.stage is Stage.CER_ACTIVE


def test_G_B8_a_stale_confirmation_is_refused():
    p = new_pathway()
    with pytest.raises(PathwayRuleError) as err:
        p.on_not_subject_confirmed(NotSubjectConfirmed(event_id="c", flow_date=D0, since=D0, flows=2), D0)
    assert err.value.rule == "NOT_SUBJECT_CONFIRMATION_STALE"


# ------------------------------------------------------------------ label of the referent's structure (issue 4)


def label_lost(structure_id="S1", reason=LabelLossReason.WITHDRAWN.value) -> StructureLabelLost:
    return StructureLabelLost(event_id=f"label-{structure_id}-1:{reason}:2024-05-01", structure_id=structure_id,
                              reason=reason, effective_date=date(2024, 5, 1))


def test_referent_label_lost_records_it_and_asks_the_slai_to_reorient():
    p = with_active_cer()
    p.s.outbox.tasks.clear()
    p.on_structure_label_lost(label_lost(), D0 + timedelta(days=60))
    [loss] = p.s.label_losses
    assert (loss.structure_id, loss.reason, loss.effective_date) == ("S1", "withdrawn", date(2024, 5, 1))
    [task] = p.s.outbox.tasks
    assert (task.kind, task.assignee) == ("REORIENTATION_LABEL_LOST", "SLAI:ARRAGEOIS")
    assert task.details["structure_id"] == "S1" and task.details["reason"] == "withdrawn"
    assert p.s.stage is Stage.CER_ACTIVE and p.s.referent.structure_id == "S1" and p.s.cer is not None
    assert p.s.stage_history[-1].cause == "REFERENT_LABEL_WITHDRAWN"


def test_another_structure_losing_its_label_is_ignored():
    p = with_active_cer()
    before = p.s.model_copy(deep=True)
    p.on_structure_label_lost(label_lost("OTHER"), D0)
    assert p.s == before
    q = new_pathway()  # no referent yet
    q.on_structure_label_lost(label_lost(), D0)
    assert q.s.label_losses == []


# ------------------------------------------------------------------ decisions (metrics) and summary


def test_decisions_are_collected_by_kind_and_outcome():
    p = with_active_cer()
    p.expire(at(add_months(D0, 6) + timedelta(days=1)))
    day = add_months(D0, 6) + timedelta(days=1)
    p.complete_bilan(CompleteBilan(event_id="b", completed_on=day, decision=BilanDecision.CONTINUE), day)
    assert [(d.kind.value, d.outcome) for d in p.s.outbox.decisions] == [
        ("ORIENTATION", "REFERENT_SOCIOPRO"), ("BILAN", "CONTINUE")]


def test_summary_names_the_stage_and_next_deadline_only():
    p = with_active_cer()
    # no appointment was fixed after the direct orientation: its 14-day clock comes first
    assert p.summary() == f"CER_ACTIVE · next deadline FIRST_APPOINTMENT {(D0 + timedelta(days=14)).isoformat()}"
    p.on_appointment(AppointmentEvent(event_id="a", kind=AppointmentKind.HELD, appointment_date=D0), D0)
    assert p.summary() == f"CER_ACTIVE · next deadline CER_END {add_months(D0, 6).isoformat()}"
    assert p.cer_end_instant() == datetime.combine(add_months(D0, 6), time.min, tzinfo=PARIS)
    q = new_pathway(subject=False)
    assert q.summary() == "NOT_SUBJECT · no deadline" and q.cer_end_instant() is None
    r = new_pathway()
    r.on_flow_record(FlowRecord(event_id="f2", transmission_date=D0, subject_to_duties=False), D0 + timedelta(days=3))
    assert r.summary() == "NOT_SUBJECT · clocks paused"
