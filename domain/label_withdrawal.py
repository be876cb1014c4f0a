"""Withdrawal of a granted label, pure: W2 (commitments not respected: prior notice, 1 month of observations,
G-L18, then the decision) and W3 (CER quality no longer assured: 6 months of SLAI support, then a new study)
[001:348-356]. A mixin of :class:`domain.label_rules.Label`; each decision is notified (``LabelNotices``) and a
withdrawal opens the appeal windows.
"""

from __future__ import annotations

from datetime import date

from domain import label as rules_of
from domain.label import LabelStage
from domain.label_contract import LetterDates
from domain.label_events import LabelLossReason
from domain.label_letters import LetterKind
from domain.label_messages import (
    CommitmentBreach,
    ObservationsReceived,
    QualityIssue,
    RemediationOutcome,
    WithdrawalDecision,
)
from domain.label_notices import LabelNotices
from domain.label_outbox import refuse
from domain.label_state import NoticeLetter, Remediation, WithdrawalProcedure


class LabelWithdrawal(LabelNotices):
    """Needs ``_require`` and ``_end`` from the aggregate."""

    def _require(self, *stages: LabelStage) -> None:
        raise NotImplementedError

    def _end(self, stage: LabelStage, reason: LabelLossReason, effective: date) -> None:
        raise NotImplementedError

    # --- W2 withdrawal ---------------------------------------------------------------------------------

    def _open_withdrawal(self, notified_on: date, grounds: list[str]) -> None:
        s = self.s
        deadline = rules_of.observation_deadline(notified_on, self.rules)
        s.withdrawal = WithdrawalProcedure(notified_on=notified_on, observation_deadline=deadline, grounds=grounds)
        s.stage = LabelStage.WITHDRAWAL_PROCEDURE
        key = f"{self.workflow_id}:withdrawal_notice:{notified_on.isoformat()}"
        s.letters = s.letters + [NoticeLetter(letter_key=key, kind="withdrawal_notice", decided_on=notified_on)]
        self._letter(key, "withdrawal_notice", notified_on,
                     grounds + [f"observations may be submitted until {deadline.isoformat()}"],
                     LetterDates(observation_deadline=deadline))
        self.touch()

    def check_commitment_breach(self, msg: CommitmentBreach) -> None:
        self._require(LabelStage.LABELLED)
        self._check_date(msg.notified_on, self.s.decided_on, "notice date")

    def report_commitment_breach(self, msg: CommitmentBreach) -> None:
        self._open_withdrawal(msg.notified_on or self.today(), msg.grounds)

    def check_observations(self, msg: ObservationsReceived) -> None:
        self._require(LabelStage.WITHDRAWAL_PROCEDURE)
        w = self.s.withdrawal
        assert w is not None
        received_on = self._check_date(msg.received_on, w.notified_on, "observations date")
        if received_on > w.observation_deadline:
            refuse(rules_of.late_filing_message("observations", received_on, w.observation_deadline), "LateFiling")

    def record_observations(self, msg: ObservationsReceived) -> None:
        w = self.s.withdrawal
        assert w is not None
        w.observations_on = msg.received_on or self.today()
        self._task("label_withdrawal_decision", "DPID", w.notified_on.isoformat(), None)
        w.decision_task_sent = True

    def check_withdrawal(self, msg: WithdrawalDecision) -> None:
        self._require(LabelStage.WITHDRAWAL_PROCEDURE)
        w = self.s.withdrawal
        assert w is not None
        decided_on = self._check_date(msg.decided_on, w.notified_on, "withdrawal decision date")
        if w.observations_on is None and decided_on <= w.observation_deadline:
            refuse(f"the structure may submit observations until {w.observation_deadline.isoformat()}",
                   "ContradictoryPhaseOpen")

    def decide_withdrawal(self, msg: WithdrawalDecision) -> None:
        decided_on = msg.decided_on or self.today()
        if self.s.withdrawal is not None:
            self._close_tasks([("label_withdrawal_decision", self.s.withdrawal.notified_on.isoformat())],
                              "WITHDRAWAL_DECIDED")
        if msg.outcome == "withdraw":
            grounds = self.s.withdrawal.grounds if self.s.withdrawal else []
            self._notify(LetterKind.WITHDRAWAL, decided_on, msg.reasons or grounds, LetterDates(effective_on=decided_on),
                         appeal_of="withdrawal")
            self._end(LabelStage.WITHDRAWN, LabelLossReason.WITHDRAWN, decided_on)
        else:
            self.s.withdrawal = None
            self.s.stage = LabelStage.LABELLED

    # --- W3 quality remediation ------------------------------------------------------------------------

    def _open_remediation(self, started_on: date, reasons: list[str]) -> None:
        s = self.s
        ends_on = rules_of.remediation_ends_on(started_on, self.rules)
        s.remediation = Remediation(started_on=started_on, ends_on=ends_on)
        s.stage = LabelStage.QUALITY_REMEDIATION
        self._notify(LetterKind.REMEDIATION, started_on, reasons, LetterDates(support_until=rules_of.day_start(ends_on)))
        # The reasons (free text) stay in the case and its remediation letter, not in the task read model.
        self._task("label_quality_support", self._slai(), started_on.isoformat(), ends_on)
        self.touch()

    def check_quality_issue(self, msg: QualityIssue) -> None:
        self._require(LabelStage.LABELLED)
        self._check_date(msg.reported_on, self.s.decided_on, "report date")

    def report_quality_issue(self, msg: QualityIssue) -> None:
        self._open_remediation(msg.reported_on or self.today(), msg.reasons)

    def check_remediation(self, msg: RemediationOutcome) -> None:
        self._require(LabelStage.QUALITY_REMEDIATION)
        r = self.s.remediation
        assert r is not None
        decided_on = self._check_date(msg.decided_on, r.started_on, "new study date")
        if decided_on < r.ends_on:
            refuse(f"the SLAI support runs until {rules_of.day_start(r.ends_on).isoformat()}: "
                   f"new study from {r.ends_on.isoformat()}", "RemediationOngoing")

    def decide_remediation(self, msg: RemediationOutcome) -> None:
        decided_on = msg.decided_on or self.today()
        if self.s.remediation is not None:
            started = self.s.remediation.started_on.isoformat()
            self._close_tasks([("label_remediation_study", started), ("label_quality_support", started)],
                              "REMEDIATION_DECIDED")
        if msg.quality_assured:
            self.s.remediation = None
            self.s.stage = LabelStage.LABELLED
        else:
            self._notify(LetterKind.WITHDRAWAL, decided_on, msg.reasons, LetterDates(effective_on=decided_on),
                         appeal_of="withdrawal")
            self._end(LabelStage.WITHDRAWN, LabelLossReason.WITHDRAWN, decided_on)
