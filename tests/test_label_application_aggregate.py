"""The label application aggregate (``domain.label_application_rules.LabelApplication``) without Temporal:
instruction clocks, refusal and moratorium across applications, receipt and appeal windows, letters in the
outbox, duplicates ignored."""

from __future__ import annotations

from datetime import date

import pytest

from domain.label import LabelStage
from domain.label_application import LabelApplicationState
from domain.label_application_rules import LabelApplication
from domain.label_messages import (
    AdminEvaluation,
    AppealFiled,
    ApplicationSubmitted,
    Decision,
    GracieuxAnswer,
    JointReview,
    LetterSent,
    Reapplication,
    ReceiptAcknowledged,
    SlaiOpinion,
    TerritoryOpinion,
)
from domain.label_outbox import CloseTasks, SendLetter, StartLabel, SupersedeApplication
from domain.label_registry import ApplicationRefused, StructureRecord, check_new_application
from domain.pathway_stages import PathwayRuleError
from tests.label_aggregate_harness import Clock, kinds, midnight, send

FILED = date(2026, 3, 2)




def application(no: int = 1, clock: Clock | None = None, **fields) -> tuple[LabelApplication, Clock]:
    clock = clock or Clock(FILED)
    state = LabelApplicationState(structure_id="S-42", application_no=no, territory="ARTOIS",
                                  rule_set_version="2025.1", **fields)
    case = LabelApplication(state, f"label-S-42-{no}", today=clock)
    case.start()
    return case, clock



def instructed_below_criteria(case: LabelApplication, n: int = 1) -> None:
    send(case, ApplicationSubmitted(event_id=f"submit-{n}", filed_on=case.s.filed_on or FILED),
         case.check_submit, case.submit)
    send(case, AdminEvaluation(event_id=f"admin-{n}", training_ok=False, cer_average=6.0, seed="s"),
         case.check_admin_evaluation, case.record_admin_evaluation)
    send(case, SlaiOpinion(event_id=f"slai-{n}", confirmed=True), case.check_slai_opinion, case.record_slai_opinion)
    send(case, JointReview(event_id=f"joint-{n}", training_ok=False, cer_average=6.5),
         case.check_joint_review, case.record_joint_review)


def refused(case: LabelApplication, clock: Clock, on: date) -> None:
    clock.day = on
    case.outbox.clear()
    send(case, Decision(event_id=f"decide-{on}", outcome="refuse", decided_on=on, reasons=["formation incomplète"]),
         case.check_decide, case.decide)



def test_submission_starts_the_instruction_and_its_clocks_alert_at_4_and_5_months_then_breach():
    case, clock = application()
    send(case, ApplicationSubmitted(event_id="submit", filed_on=FILED), case.check_submit, case.submit)
    assert case.s.stage is LabelStage.DPID_ADMIN_EVALUATION and case.s.instruction_due == date(2026, 9, 2)
    assert kinds(case) == ["label_admin_evaluation"]
    case.outbox.clear()
    assert case.next_wake(midnight(FILED)) == midnight(date(2026, 7, 2))  # 4 months
    case.fire(midnight(date(2026, 8, 2)))
    assert case.s.alerts_sent == [4, 5] and kinds(case) == ["label_instruction_alert"] * 2
    case.outbox.clear()
    case.fire(midnight(date(2026, 9, 3)))
    assert case.s.instruction_breaches == [1] and kinds(case) == ["label_instruction_breach"]
    case.fire(midnight(date(2026, 9, 4)))
    assert kinds(case) == ["label_instruction_breach"]  # once


def test_a_second_submission_and_a_filing_before_the_campaign_are_refused_with_their_rule():
    case, _ = application()
    with pytest.raises(PathwayRuleError) as early:
        case.check_submit(ApplicationSubmitted(event_id="e", filed_on=date(2024, 12, 31)))
    assert early.value.rule == "CampaignNotOpen"
    send(case, ApplicationSubmitted(event_id="submit", filed_on=FILED), case.check_submit, case.submit)
    with pytest.raises(PathwayRuleError, match="already DPID_ADMIN_EVALUATION"):
        case.check_submit(ApplicationSubmitted(event_id="again", filed_on=FILED))


def test_duplicates_are_ignored_by_their_event_id():
    case, _ = application()
    submit = ApplicationSubmitted(event_id="submit", filed_on=FILED)
    assert case.once(submit.event_id, lambda: case.submit(submit))
    version, tasks = case.s.version, kinds(case)
    assert not case.once(submit.event_id, lambda: case.submit(submit))
    assert (case.s.version, kinds(case)) == (version, tasks)


def test_g_l22_the_lead_slai_waits_for_the_other_territories():
    case, _ = application(other_territories=["AUDOMAROIS", "ARTOIS", "AUDOMAROIS"])
    send(case, ApplicationSubmitted(event_id="submit", filed_on=FILED), case.check_submit, case.submit)
    case.outbox.clear()
    send(case, AdminEvaluation(event_id="admin", training_ok=True, cer_average=8.5, seed="s"),
         case.check_admin_evaluation, case.record_admin_evaluation)
    assert kinds(case) == ["close_tasks", "label_slai_consolidation", "label_slai_consultation"]
    with pytest.raises(PathwayRuleError) as pending:
        case.check_slai_opinion(SlaiOpinion(event_id="slai", confirmed=True))
    assert pending.value.rule == "ConsultationPending"
    send(case, TerritoryOpinion(event_id="op", territory="AUDOMAROIS", agrees=True),
         case.check_territory_opinion, case.record_territory_opinion)
    case.check_slai_opinion(SlaiOpinion(event_id="slai", confirmed=True))


def test_a_grant_starts_the_label_before_its_letter_and_the_case_ends_once_the_label_runs():
    case, clock = application()
    send(case, ApplicationSubmitted(event_id="submit", filed_on=FILED), case.check_submit, case.submit)
    send(case, AdminEvaluation(event_id="admin", training_ok=True, cer_average=8.5, seed="s"),
         case.check_admin_evaluation, case.record_admin_evaluation)
    send(case, SlaiOpinion(event_id="slai", confirmed=True), case.check_slai_opinion, case.record_slai_opinion)
    clock.day = date(2026, 4, 15)
    case.outbox.clear()
    send(case, Decision(event_id="grant", outcome="grant"), case.check_decide, case.decide)
    start, letter = case.outbox[0], case.outbox[1]
    assert isinstance(start, StartLabel) and start.workflow_id == "labelled-S-42"
    assert start.label.expires_on == date(2031, 4, 15)
    assert isinstance(letter, SendLetter) and letter.letter.kind == "grant"
    assert dict(letter.letter.dates.items()) == {
        "valid_until": date(2031, 4, 14), "renewal_window_first": date(2031, 1, 1), "renewal_window_last": date(2031, 4, 14)}
    assert not case.finished()
    case.label_started("labelled-S-42", already_running=True)
    assert case.s.base_stage is LabelStage.LABELLED and case.finished()
    assert kinds(case)[-1] == "label_already_running" and case.s.anomalies


def test_below_the_criteria_a_grant_is_refused_and_a_refusal_needs_its_reasons():
    case, _ = application()
    instructed_below_criteria(case)
    with pytest.raises(PathwayRuleError) as grant:
        case.check_decide(Decision(event_id="d", outcome="grant"))
    assert grant.value.rule == "CriteriaNotMet"
    with pytest.raises(PathwayRuleError, match="reasons"):
        case.check_decide(Decision(event_id="d", outcome="refuse"))


def test_a_refusal_writes_its_letter_then_the_moratorium_meeting_and_its_posting_moves_the_reminder():
    case, clock = application()
    instructed_below_criteria(case)
    refused(case, clock, date(2026, 4, 1))
    assert case.s.stage is LabelStage.MORATORIUM
    assert kinds(case) == ["letter:refusal", "label_moratorium_meeting"]
    key = case.outbox[0].letter.letter_key
    assert key == "label-S-42-1:refusal:1" and case.document(key).reasons == ["formation incomplète"]
    assert case.next_wake(midnight(date(2026, 4, 1))) == midnight(date(2026, 4, 16))  # not posted after 15 days
    case.outbox.clear()
    with pytest.raises(PathwayRuleError, match="before 2026-04-01"):
        case.check_letter_sent(LetterSent(event_id="p", letter_key=key, registered_number="1A2345",
                                          sent_on=date(2026, 3, 31)))
    clock.day = date(2026, 4, 10)
    send(case, LetterSent(event_id="post", letter_key=key, registered_number="1A2345", sent_on=date(2026, 4, 8)),
         case.check_letter_sent, case.record_letter_sent)
    assert kinds(case) == ["letter_event"] and case.outbox[0].event.sent_on == date(2026, 4, 8)
    assert case.next_wake(midnight(date(2026, 4, 10))) == midnight(date(2026, 4, 23))  # receipt missing
    with pytest.raises(PathwayRuleError, match="already posted"):
        case.check_letter_sent(LetterSent(event_id="p2", letter_key=key, registered_number="1A2345",
                                          sent_on=date(2026, 4, 9)))
    case.outbox.clear()
    case.fire(midnight(date(2026, 4, 23)))
    assert kinds(case) == ["label_letter_receipt_missing"]
    case.fire(midnight(date(2026, 5, 23)))
    assert kinds(case) == ["label_letter_receipt_missing"]  # once


def notified(case: LabelApplication, clock: Clock, received: date) -> None:
    clock.day = received
    send(case, ReceiptAcknowledged(event_id=f"ar-{received}", letter_key=case.s.last_refusal().letter_key,
                                   received_on=received), case.check_receipt, case.acknowledge_receipt)


def test_moratorium_binds_the_structure_across_applications():
    first, clock = application()
    instructed_below_criteria(first)
    refused(first, clock, date(2026, 4, 1))
    record = StructureRecord(structure_id="S-42", open_application=first.workflow_id,
                             moratorium_application=first.workflow_id, moratorium_until=None)
    with pytest.raises(ApplicationRefused) as before_receipt:
        check_new_application(record, "label-S-42-2", date(2026, 4, 20))
    assert before_receipt.value.rule == "L6"

    notified(first, clock, date(2026, 5, 4))
    snapshot = first.snapshot(midnight(date(2026, 5, 4)))
    assert (snapshot.in_moratorium, snapshot.moratorium_until, snapshot.is_open) == (True, date(2026, 11, 4), True)
    record = record.model_copy(update={"moratorium_until": snapshot.moratorium_until})
    with pytest.raises(ApplicationRefused) as during:
        check_new_application(record, "label-S-42-2", date(2026, 7, 4))
    assert (during.value.rule, during.value.until) == ("L7", date(2026, 11, 4))
    clock.day = date(2026, 7, 4)
    with pytest.raises(PathwayRuleError) as reapply_early:
        first.check_reapply(Reapplication(event_id="r", filed_on=date(2026, 7, 4)))
    assert reapply_early.value.rule == "MoratoriumNotOver"

    assert check_new_application(record, "label-S-42-2", date(2026, 11, 4)) == first.workflow_id
    second, clock2 = application(2, Clock(date(2026, 11, 4)), after_moratorium_of=first.workflow_id)
    (supersede,) = second.outbox
    assert isinstance(supersede, SupersedeApplication) and supersede.workflow_id == "label-S-42-1"
    first.check_superseded(supersede.message)
    first.once(supersede.message.event_id, lambda: first.superseded(supersede.message))
    assert first.s.closing_reason == "reapplied as label-S-42-2" and first.s.holds_structure() is False
    assert first.finished()  # no appeal pending
    second.s.filed_on = date(2026, 11, 4)
    instructed_below_criteria(second, 2)
    refused(second, clock2, date(2026, 12, 1))
    assert second.s.stage is LabelStage.REFUSED_FINAL and kinds(second) == ["letter:final_refusal"]


def test_the_receipt_opens_the_appeal_windows_and_silence_on_a_recours_gracieux_is_a_rejection():
    case, clock = application()
    instructed_below_criteria(case)
    refused(case, clock, date(2026, 4, 1))
    notified(case, clock, date(2026, 5, 4))
    appeal = case.s.last_refusal().appeal
    assert appeal.gracieux_deadline == date(2026, 7, 6)  # 4 July is a Saturday: the party deadline moves on
    clock.day = date(2026, 7, 7)
    with pytest.raises(PathwayRuleError) as late:
        case.check_recours_gracieux(AppealFiled(event_id="g", filed_on=date(2026, 7, 7)))
    assert late.value.rule == "LateFiling"
    case.outbox.clear()
    send(case, AppealFiled(event_id="g", filed_on=date(2026, 7, 6)), case.check_recours_gracieux,
         case.file_recours_gracieux)
    assert case.s.stage is LabelStage.APPEAL_GRACIEUX and kinds(case) == ["label_recours_gracieux"]
    assert appeal.gracieux_answer_due == date(2026, 9, 6)
    case.fire(midnight(date(2026, 9, 7)))
    assert (appeal.gracieux_outcome, appeal.gracieux_implicit) == ("rejected", True)
    assert appeal.contentieux_deadline_after_rejection == date(2026, 11, 6)
    clock.day = date(2026, 11, 7)
    with pytest.raises(PathwayRuleError):
        case.check_recours_contentieux(AppealFiled(event_id="c", filed_on=date(2026, 11, 7)))
    send(case, AppealFiled(event_id="c", filed_on=date(2026, 11, 6)), case.check_recours_contentieux,
         case.file_recours_contentieux)
    assert case.s.stage is LabelStage.APPEAL_CONTENTIEUX


def test_an_explicit_rejection_is_a_letter_and_a_granted_recours_grants_the_label():
    case, clock = application()
    instructed_below_criteria(case)
    refused(case, clock, date(2026, 4, 1))
    notified(case, clock, date(2026, 5, 4))
    clock.day = date(2026, 5, 20)
    send(case, AppealFiled(event_id="g", filed_on=date(2026, 5, 20)), case.check_recours_gracieux,
         case.file_recours_gracieux)
    case.outbox.clear()
    clock.day = date(2026, 6, 10)
    send(case, GracieuxAnswer(event_id="a", outcome="granted", answered_on=date(2026, 6, 10)),
         case.check_gracieux_answer, case.answer_recours_gracieux)
    assert isinstance(case.outbox[0], CloseTasks)
    assert [e.effect for e in case.outbox[1:3]] == ["start_label", "send_letter"]
    assert case.outbox[2].letter.kind == "gracieux_granted" and case.s.base_stage is LabelStage.GRANTED
    assert case.s.decisions[-1].origin == "recours_gracieux"
