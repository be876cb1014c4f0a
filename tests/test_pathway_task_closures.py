"""Tasks close themselves: the pathway rules close a task when the event it waits for arrives (pure, no Temporal)."""

from __future__ import annotations

from datetime import date, timedelta

from domain.deadlines import add_months
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    FlowRecord,
    LeftRsa,
    OrientationDecision,
    OrientationTarget,
    PostExitChoice,
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
