"""Tasks close themselves: the pathway rules close a task when the event it waits for arrives (pure, no Temporal)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from domain.deadlines import PARIS, add_months
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CerAction,
    CerType,
    DecideReorientation,
    ExitReason,
    FlowRecord,
    LeftRsa,
    OrientationDecision,
    OrientationTarget,
    PostExitChoice,
    ReorientationReason,
    RequestReorientation,
    SignCer,
)
from domain.pathway_rules import Pathway
from domain.tasks import TaskStatus

D0 = date(2024, 3, 4)


def pathway(closes_tasks: bool = True) -> Pathway:
    p = Pathway.new("p" * 32, "ARRAGEOIS", D0)
    p.s.closes_tasks = closes_tasks
    p.s.reminders = True
    p.on_flow_record(FlowRecord(event_id="f1", transmission_date=D0, subject_to_duties=True), D0)
    return p


def closures(p: Pathway) -> dict[str, tuple[TaskStatus, str]]:
    return {c.task_key.split(":")[1]: (c.status, c.reason) for c in p.s.outbox.task_closures}


def orient(p: Pathway, day: date, target: OrientationTarget = OrientationTarget.PLATFORM) -> None:
    p.orient(OrientationDecision(event_id="o1", target=target, structure_id="PF1", notified_on=day,
                                 bypass_reason=None if target is OrientationTarget.PLATFORM else "direct"), day)


def test_a_late_orientation_closes_the_reminder_and_the_escalation_with_its_reason():
    p = pathway()
    p.expire(p.next_fire() + timedelta(days=40))  # reminder at D+21 then the breach at D+1 month
    assert {t.kind for t in p.s.open_tasks} == {"ORIENTATION_REMINDER", "ESCALATION_ORIENTATION"}
    orient(p, add_months(D0, 1) + timedelta(days=5))
    assert closures(p) == {"ORIENTATION_REMINDER": (TaskStatus.DONE, "ORIENTATION_RECORDED"),
                           "ESCALATION_ORIENTATION": (TaskStatus.DONE, "ORIENTATION_RECORDED")}
    assert p.s.open_tasks == []


def test_an_appointment_closes_the_reconvocation_and_the_first_appointment_reminder():
    p = pathway()
    orient(p, D0)
    p.expire(p.next_fire())  # the platform's D+10 reminder
    p.on_appointment(AppointmentEvent(event_id="a1", kind=AppointmentKind.SCHEDULED,
                                      appointment_date=D0 + timedelta(days=12)), D0 + timedelta(days=11))
    p.on_appointment(AppointmentEvent(event_id="a2", kind=AppointmentKind.MISSED,
                                      appointment_date=D0 + timedelta(days=12)), D0 + timedelta(days=12))
    assert {t.kind for t in p.s.open_tasks} == {"RECONVOCATION"}
    p.s.outbox.task_closures.clear()
    p.on_appointment(AppointmentEvent(event_id="a3", kind=AppointmentKind.SCHEDULED,
                                      appointment_date=D0 + timedelta(days=20)), D0 + timedelta(days=13))
    assert closures(p) == {"RECONVOCATION": (TaskStatus.DONE, "APPOINTMENT_RECORDED")}


def test_the_post_exit_choice_closes_its_task_and_the_closed_case_cancels_the_rest():
    p = pathway()
    orient(p, D0, OrientationTarget.REFERENT_SOLIDARITE)
    day = D0 + timedelta(days=3)
    p.on_left_rsa(LeftRsa(event_id="l1", end_of_payment_date=day, reason="RESSOURCES"), day)
    p._task("OTHER", "SLAI:ARRAGEOIS", "x", None)
    assert {t.kind for t in p.s.open_tasks} == {"CHOOSE_AFTER_EXIT", "OTHER"}
    p.choose_after_exit(PostExitChoice(event_id="c1", continue_accompaniment=False, decided_on=day), day)
    assert closures(p)["CHOOSE_AFTER_EXIT"] == (TaskStatus.DONE, "EXIT_CHOICE_RECEIVED")
    p.expire(p.next_fire() + timedelta(days=400))  # the re-entry window ends: the case is finished
    assert closures(p)["OTHER"] == (TaskStatus.CANCELLED, "PATHWAY_CLOSED")


def test_runs_opened_before_tasks_close_themselves_emit_no_closure():
    p = pathway(closes_tasks=False)
    p.expire(p.next_fire() + timedelta(days=40))
    orient(p, add_months(D0, 1) + timedelta(days=5))
    assert p.s.outbox.task_closures == [] and p.s.open_tasks == []


def test_a_new_referent_cancels_the_former_cycles_bilan_reminder_and_a_closed_case_keeps_the_rsa_service_tasks():
    p = pathway()
    orient(p, D0, OrientationTarget.REFERENT_SOCIOPRO)
    end = add_months(D0, 6)
    p.sign_cer(SignCer(event_id="s1", cer_id="c1", type=CerType.SOCIOPROFESSIONNEL, start=D0, end=end, signed_on=D0,
                       actions=[CerAction(start=D0, end=end, professional_insertion=True)] * 3), D0)
    p.expire(datetime.combine(end - timedelta(days=20), time(12), tzinfo=PARIS))  # the bilan reminder fired
    assert "BILAN_REMINDER" in {t.kind for t in p.s.open_tasks}
    day = end - timedelta(days=19)
    p.request_reorientation(RequestReorientation(event_id="r1", reason=ReorientationReason.REPRISE_VIE_MARITALE,
                                                 requested_on=day), day)
    p.decide_reorientation(DecideReorientation(event_id="r2", decided_on=day, approved=True,
                                               target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="S2"), day)
    assert closures(p)["BILAN_REMINDER"] == (TaskStatus.CANCELLED, "REFERENT_CHANGED")
    p._task("APPLY_RSA_SANCTION", "SERVICE_RSA", "x", None)
    p._task("TRANSMIT_REMOBILISATION", "SERVICE_RSA", "x", None)
    p._task("OTHER", "SLAI:ARRAGEOIS", "x", None)
    p._close(ExitReason.FIN_ACCOMPAGNEMENT, day)
    assert closures(p)["OTHER"] == (TaskStatus.CANCELLED, "PATHWAY_CLOSED")
    assert {t.kind for t in p.s.open_tasks} == {"APPLY_RSA_SANCTION", "TRANSMIT_REMOBILISATION"}
