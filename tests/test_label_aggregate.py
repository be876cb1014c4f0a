"""The granted label aggregate (``domain.label_rules.Label``) without Temporal: validity and annual reviews,
renewal window and renewal, W1 lapse, W2 withdrawal with its contradictory phase, W3 remediation, letters and
the loss notice in the outbox, appeal windows of a withdrawal, duplicates ignored."""

from __future__ import annotations

from datetime import date

import pytest

from domain.label import LabelStage
from domain.label_messages import (
    AnnualReview,
    AppealFiled,
    CommitmentBreach,
    GracieuxAnswer,
    LabelInput,
    LetterSent,
    MissionEnded,
    ObservationsReceived,
    QualityIssue,
    ReceiptAcknowledged,
    RemediationOutcome,
    RenewalDecision,
    RenewalRequest,
    WithdrawalDecision,
)
from domain.label_outbox import NotifyLabelLost
from domain.label_rules import Label
from domain.label_state import LabelState
from domain.pathway_stages import PathwayRuleError
from domain.rules import rule_set
from tests.label_aggregate_harness import Clock, kinds, midnight, send

GRANTED = date(2026, 4, 15)




def granted() -> tuple[Label, Clock]:
    clock = Clock(GRANTED)
    state = LabelState.granted(LabelInput(structure_id="S-42", territory="ARTOIS", decided_on=GRANTED,
                                          application_workflow_id="label-S-42-1", rule_set_version="2025.1"),
                               rule_set("2025.1"))
    case = Label(state, "labelled-S-42", today=clock)
    case.start()
    return case, clock




def test_a_label_is_valid_five_years_with_its_ceremony_and_yearly_reviews():
    case, _ = granted()
    assert case.s.expires_on == date(2031, 4, 15) and kinds(case) == ["label_ceremony"]
    assert case.outbox[0].task.task_key == "labelled-S-42:2026-04-15:label_ceremony:2026"
    assert case.s.is_labelled(date(2031, 4, 14)) and not case.s.is_labelled(date(2031, 4, 15))
    case.outbox.clear()
    assert case.next_wake(midnight(GRANTED)) == midnight(date(2027, 4, 15))
    case.fire(midnight(date(2027, 4, 15)))
    assert kinds(case) == ["label_annual_review"]
    case.outbox.clear()
    case.fire(midnight(date(2027, 5, 15)))
    assert kinds(case) == ["label_annual_review_reminder"]


def test_an_annual_review_failing_the_charte_opens_w2_and_failing_the_cer_quality_opens_w3():
    for review, stage, letter in ((dict(charte_ok=False, training_ok=True, cer_quality_ok=True),
                                   LabelStage.WITHDRAWAL_PROCEDURE, "letter:withdrawal_notice"),
                                  (dict(charte_ok=True, training_ok=True, cer_quality_ok=False),
                                   LabelStage.QUALITY_REMEDIATION, "letter:remediation")):
        case, clock = granted()
        case.fire(midnight(date(2027, 4, 15)))
        case.outbox.clear()
        clock.day = date(2027, 4, 20)
        send(case, AnnualReview(event_id="r", anniversary=date(2027, 4, 15), **review),
             case.check_annual_review, case.record_annual_review)
        assert case.s.stage is stage and letter in kinds(case)


def test_renewal_is_asked_in_its_window_keeps_the_label_valid_and_starts_a_new_cycle():
    case, clock = granted()
    clock.day = date(2030, 12, 20)
    with pytest.raises(PathwayRuleError) as outside:
        case.check_renewal_request(RenewalRequest(event_id="early", requested_on=date(2030, 12, 20)))
    assert outside.value.rule == "OutsideRenewalWindow"
    clock.day = date(2031, 2, 1)
    send(case, RenewalRequest(event_id="ask", requested_on=date(2031, 2, 1)), case.check_renewal_request,
         case.request_renewal)
    assert case.s.stage is LabelStage.RENEWAL_INSTRUCTION and case.s.is_labelled(date(2031, 6, 1))  # G-L16
    case.fire(midnight(date(2031, 6, 1)))
    assert case.s.stage is LabelStage.RENEWAL_INSTRUCTION  # no expiry while the renewal is decided
    case.outbox.clear()
    clock.day = date(2031, 6, 1)
    send(case, RenewalDecision(event_id="yes", outcome="grant", decided_on=date(2031, 6, 1)),
         case.check_renewal_decision, case.decide_renewal)
    assert case.renewed and case.finished()
    assert (case.s.decided_on, case.s.expires_on) == (date(2031, 6, 1), date(2036, 6, 1))
    assert case.s.is_labelled(date(2031, 5, 31))  # the past period is kept
    assert kinds(case) == ["close_tasks", "letter:renewal_grant", "label_ceremony"]


def test_a_renewal_refused_after_the_expiry_ends_the_label_and_opens_its_appeal_windows():
    case, clock = granted()
    clock.day = date(2031, 2, 1)
    send(case, RenewalRequest(event_id="ask"), case.check_renewal_request, case.request_renewal)
    clock.day = date(2031, 6, 1)
    with pytest.raises(PathwayRuleError, match="reasons"):
        case.check_renewal_decision(RenewalDecision(event_id="no", outcome="refuse"))
    case.outbox.clear()
    send(case, RenewalDecision(event_id="no", outcome="refuse", reasons=["CER"]), case.check_renewal_decision,
         case.decide_renewal)
    assert kinds(case) == ["close_tasks", "letter:renewal_refusal", "label_lost"]
    assert case.s.stage is LabelStage.EXPIRED
    assert case.s.appeal_of == "renewal_refusal" and not case.finished()  # its windows open at the receipt


def test_w1_a_lapse_is_notified_and_every_pathway_told():
    case, clock = granted()
    clock.day = date(2027, 1, 10)
    case.outbox.clear()
    send(case, MissionEnded(event_id="end", ended_on=date(2027, 1, 10)), case.check_end_mission, case.end_mission)
    assert kinds(case) == ["letter:lapse", "label_lost"]
    notice = case.outbox[1]
    assert isinstance(notice, NotifyLabelLost)
    assert notice.notice.model_dump() == {"label_workflow_id": "labelled-S-42", "structure_id": "S-42",
                                          "reason": "lapsed", "effective_date": date(2027, 1, 10)}
    assert case.s.stage is LabelStage.LAPSED and case.finished()  # a lapse is not appealable
    with pytest.raises(PathwayRuleError, match="already LAPSED"):
        case.check_end_mission(MissionEnded(event_id="again"))


def withdrawn(case: Label, clock: Clock) -> str:
    clock.day = date(2027, 1, 10)
    send(case, CommitmentBreach(event_id="breach", grounds=["charte"], notified_on=date(2027, 1, 10)),
         case.check_commitment_breach, case.report_commitment_breach)
    assert case.s.withdrawal.observation_deadline == date(2027, 2, 10)
    clock.day = date(2027, 2, 1)
    with pytest.raises(PathwayRuleError) as open_phase:
        case.check_withdrawal(WithdrawalDecision(event_id="w", outcome="withdraw"))
    assert open_phase.value.rule == "ContradictoryPhaseOpen"
    case.outbox.clear()
    case.fire(midnight(date(2027, 2, 11)))
    assert kinds(case) == ["label_withdrawal_decision"]
    clock.day = date(2027, 2, 15)
    case.outbox.clear()
    send(case, WithdrawalDecision(event_id="w", outcome="withdraw"), case.check_withdrawal, case.decide_withdrawal)
    assert kinds(case)[-2:] == ["letter:withdrawal", "label_lost"]
    return case.s.appeal_letter_key


def test_w2_observations_are_bounded_and_a_withdrawal_opens_appeal_windows_a_granted_recours_reinstates():
    case, clock = granted()
    clock.day = date(2027, 1, 10)
    send(case, CommitmentBreach(event_id="b0", grounds=["charte"], notified_on=date(2027, 1, 10)),
         case.check_commitment_breach, case.report_commitment_breach)
    clock.day = date(2027, 2, 12)
    with pytest.raises(PathwayRuleError) as late:
        case.check_observations(ObservationsReceived(event_id="o", received_on=date(2027, 2, 11)))
    assert late.value.rule == "LateFiling"

    case, clock = granted()
    key = withdrawn(case, clock)
    assert case.s.stage is LabelStage.WITHDRAWN and not case.finished()
    clock.day = date(2027, 2, 20)
    send(case, LetterSent(event_id="post", letter_key=key, registered_number="1A2345", sent_on=date(2027, 2, 16)),
         case.check_letter_sent, case.record_letter_sent)
    assert kinds(case)[-1] == "letter_event"
    assert case.next_wake(midnight(date(2027, 2, 20))) == midnight(date(2027, 3, 3))  # AR missing 15 days on
    send(case, ReceiptAcknowledged(event_id="ar", letter_key=key, received_on=date(2027, 2, 19)),
         case.check_receipt, case.acknowledge_receipt)
    assert case.s.appeal.gracieux_deadline == date(2027, 4, 19)
    clock.day = date(2027, 3, 1)
    send(case, AppealFiled(event_id="g", filed_on=date(2027, 3, 1)), case.check_recours_gracieux,
         case.file_recours_gracieux)
    clock.day = date(2027, 3, 20)
    case.outbox.clear()
    send(case, GracieuxAnswer(event_id="a", outcome="granted"), case.check_gracieux_answer,
         case.answer_recours_gracieux)
    assert case.s.stage is LabelStage.LABELLED and case.s.ended_on is None
    assert "letter:gracieux_granted" in kinds(case)


def test_w3_remediation_runs_six_months_before_the_new_study():
    case, clock = granted()
    clock.day = date(2027, 1, 10)
    case.outbox.clear()
    send(case, QualityIssue(event_id="q", reported_on=date(2027, 1, 10), reasons=["CER"]),
         case.check_quality_issue, case.report_quality_issue)
    assert kinds(case) == ["letter:remediation", "label_quality_support"]
    clock.day = date(2027, 7, 9)
    with pytest.raises(PathwayRuleError) as ongoing:
        case.check_remediation(RemediationOutcome(event_id="r", quality_assured=False))
    assert ongoing.value.rule == "RemediationOngoing"
    case.outbox.clear()
    case.fire(midnight(date(2027, 7, 10)))  # also the letter not posted and the first annual review
    assert kinds(case) == ["label_letter_not_posted", "label_annual_review", "label_remediation_study"]
    clock.day = date(2027, 7, 10)
    case.outbox.clear()
    send(case, RemediationOutcome(event_id="r", quality_assured=False, reasons=["CER"]), case.check_remediation,
         case.decide_remediation)
    # the annual review asked that day is moot once the label is withdrawn: cancelled with it
    assert kinds(case)[-3:] == ["letter:withdrawal", "close_tasks", "label_lost"] and case.s.appeal_of == "withdrawal"
    closure = [e for e in case.outbox if type(e).__name__ == "CloseTasks"][-1].closures
    assert [(c.task_key.split(":")[-2], c.status.value, c.reason) for c in closure] == [
        ("label_annual_review", "CANCELLED", "LABEL_ENDED")]


def test_a_duplicate_message_changes_nothing():
    case, clock = granted()
    clock.day = date(2027, 1, 10)
    msg = QualityIssue(event_id="q", reported_on=date(2027, 1, 10))
    assert case.once(msg.event_id, lambda: case.report_quality_issue(msg))
    version, effects = case.s.version, len(case.outbox)
    assert not case.once(msg.event_id, lambda: case.report_quality_issue(msg))
    assert (case.s.version, len(case.outbox)) == (version, effects)
