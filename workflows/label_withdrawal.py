"""Withdrawal of a granted label: W2 (commitments not respected: prior notice, 1 month of observations,
G-L18, then the decision) and W3 (CER quality no longer assured: 6 months of SLAI support, then a new
study) [001:348-356]. A mixin of ``LabelWorkflow``; each decision is notified (``LabelNotices``) and a
withdrawal opens the appeal windows.
"""

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import label as rules_of
    from domain.label import LabelStage
    from domain.label_contract import LabelMessages as LM
    from domain.label_events import LabelLossReason
    from domain.label_letters import LetterKind
    from domain.label_state import NoticeLetter, Remediation, WithdrawalProcedure
    from domain.label_messages import (
        CommitmentBreach,
        ObservationsReceived,
        QualityIssue,
        RemediationOutcome,
        WithdrawalDecision,
    )

from workflows.label_case import calendar_bound, once, reject, unless_seen
from workflows.label_notices import LabelNotices


class LabelWithdrawal(LabelNotices):
    """Needs ``_require`` and ``_end`` from the workflow."""

    def _require(self, *stages: LabelStage) -> None:
        raise NotImplementedError

    def _end(self, stage: LabelStage, reason: LabelLossReason, effective: date) -> None:
        raise NotImplementedError

    # --- W2 withdrawal -----------------------------------------------------------------------------------

    def _open_withdrawal(self, notified_on: date, grounds: list[str]) -> None:
        s = self.state
        deadline = calendar_bound(rules_of.observation_deadline, notified_on, self.rules)
        s.withdrawal = WithdrawalProcedure(notified_on=notified_on, observation_deadline=deadline, grounds=grounds)
        s.stage = LabelStage.WITHDRAWAL_PROCEDURE
        key = f"{self._wid()}:withdrawal_notice:{notified_on.isoformat()}"
        s.letters = s.letters + [NoticeLetter(letter_key=key, kind="withdrawal_notice", decided_on=notified_on)]
        self._letter(key, "withdrawal_notice", notified_on,
                     grounds + [f"observations may be submitted until {deadline.isoformat()}"],
                     {"observation_deadline": deadline})
        self._touch()

    @workflow.update(name=LM.REPORT_COMMITMENT_BREACH)
    @once
    async def report_commitment_breach(self, msg: CommitmentBreach) -> LabelStage:
        self._open_withdrawal(msg.notified_on or self._today(), msg.grounds)
        return self.state.stage

    @report_commitment_breach.validator
    @unless_seen
    def _validate_breach(self, msg: CommitmentBreach) -> None:
        self._require(LabelStage.LABELLED)
        self._check_date(msg.notified_on, self.state.decided_on, "notice date")

    @workflow.update(name=LM.RECORD_OBSERVATIONS)
    @once
    async def record_observations(self, msg: ObservationsReceived) -> LabelStage:
        assert self.state.withdrawal is not None
        self.state.withdrawal.observations_on = msg.received_on or self._today()
        self._task("label_withdrawal_decision", "DPID", self.state.withdrawal.notified_on.isoformat(), None)
        self.state.withdrawal.decision_task_sent = True
        return self.state.stage

    @record_observations.validator
    @unless_seen
    def _validate_observations(self, msg: ObservationsReceived) -> None:
        self._require(LabelStage.WITHDRAWAL_PROCEDURE)
        w = self.state.withdrawal
        received_on = self._check_date(msg.received_on, w.notified_on, "observations date")
        if received_on > w.observation_deadline:
            reject(rules_of.late_filing_message("observations", received_on, w.observation_deadline), "LateFiling")

    @workflow.update(name=LM.DECIDE_WITHDRAWAL)
    @once
    async def decide_withdrawal(self, msg: WithdrawalDecision) -> LabelStage:
        decided_on = msg.decided_on or self._today()
        if self.state.withdrawal is not None:
            self._close_tasks([("label_withdrawal_decision", self.state.withdrawal.notified_on.isoformat())],
                              "WITHDRAWAL_DECIDED")
        if msg.outcome == "withdraw":
            grounds = self.state.withdrawal.grounds if self.state.withdrawal else []
            self._notify(LetterKind.WITHDRAWAL, decided_on, msg.reasons or grounds, {"effective_on": decided_on},
                         appeal_of="withdrawal")
            self._end(LabelStage.WITHDRAWN, LabelLossReason.WITHDRAWN, decided_on)
        else:
            self.state.withdrawal = None
            self.state.stage = LabelStage.LABELLED
        return self.state.stage

    @decide_withdrawal.validator
    @unless_seen
    def _validate_withdrawal(self, msg: WithdrawalDecision) -> None:
        self._require(LabelStage.WITHDRAWAL_PROCEDURE)
        w = self.state.withdrawal
        decided_on = self._check_date(msg.decided_on, w.notified_on, "withdrawal decision date")
        if w.observations_on is None and decided_on <= w.observation_deadline:
            reject(f"the structure may submit observations until {w.observation_deadline.isoformat()}",
                    "ContradictoryPhaseOpen")

    # --- W3 quality remediation --------------------------------------------------------------------------

    def _open_remediation(self, started_on: date, reasons: list[str]) -> None:
        s = self.state
        ends_on = rules_of.remediation_ends_on(started_on, self.rules)
        s.remediation = Remediation(started_on=started_on, ends_on=ends_on)
        s.stage = LabelStage.QUALITY_REMEDIATION
        self._notify(LetterKind.REMEDIATION, started_on, reasons, {"support_until": rules_of.day_start(ends_on)})
        self._task("label_quality_support", self._slai(), started_on.isoformat(), ends_on, reasons=reasons)
        self._touch()

    @workflow.update(name=LM.REPORT_QUALITY_ISSUE)
    @once
    async def report_quality_issue(self, msg: QualityIssue) -> LabelStage:
        self._open_remediation(msg.reported_on or self._today(), msg.reasons)
        return self.state.stage

    @report_quality_issue.validator
    @unless_seen
    def _validate_quality(self, msg: QualityIssue) -> None:
        self._require(LabelStage.LABELLED)
        self._check_date(msg.reported_on, self.state.decided_on, "report date")

    @workflow.update(name=LM.DECIDE_REMEDIATION)
    @once
    async def decide_remediation(self, msg: RemediationOutcome) -> LabelStage:
        decided_on = msg.decided_on or self._today()
        if self.state.remediation is not None:
            started = self.state.remediation.started_on.isoformat()
            self._close_tasks([("label_remediation_study", started), ("label_quality_support", started)],
                              "REMEDIATION_DECIDED")
        if msg.quality_assured:
            self.state.remediation = None
            self.state.stage = LabelStage.LABELLED
        else:
            self._notify(LetterKind.WITHDRAWAL, decided_on, msg.reasons, {"effective_on": decided_on},
                         appeal_of="withdrawal")
            self._end(LabelStage.WITHDRAWN, LabelLossReason.WITHDRAWN, decided_on)
        return self.state.stage

    @decide_remediation.validator
    @unless_seen
    def _validate_remediation(self, msg: RemediationOutcome) -> None:
        self._require(LabelStage.QUALITY_REMEDIATION)
        r = self.state.remediation
        decided_on = self._check_date(msg.decided_on, r.started_on, "new study date")
        if decided_on < r.ends_on:
            reject(f"the SLAI support runs until {rules_of.day_start(r.ends_on).isoformat()}: "
                    f"new study from {r.ends_on.isoformat()}", "RemediationOngoing")
