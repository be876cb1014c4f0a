"""Appeals against a refused application (L10–L13), pure: recours gracieux (2 months to file, 2 months for the
answer, silence = rejection, G-L19), recours contentieux at the tribunal administratif de Lille, judgment.

A mixin of :class:`domain.label_application_rules.LabelApplication`; the windows and their checks are
``domain.label_appeal``'s. A granted recours gracieux or an annulment grants the label (``_grant``).
"""

from __future__ import annotations

from datetime import date

from domain import label as rules_of
from domain.label import LabelStage
from domain import label_appeal as windows
from domain.label_appeal import AppealRecord
from domain.label_contract import LetterDates
from domain.label_application import DecisionRecord, LabelApplicationState, RefusalRecord
from domain.label_messages import AppealFiled, GracieuxAnswer, Judgment
from domain.label_outbox import LETTERS, LabelCaseRules, refuse


class ApplicationAppeals(LabelCaseRules):
    """Needs ``_grant`` from the aggregate."""

    s: LabelApplicationState

    def _grant(self, decided_on: date, kind: str = "grant") -> None:
        raise NotImplementedError

    def _appealable(self) -> tuple[RefusalRecord, AppealRecord]:
        refusal = self.s.last_refusal()
        if (refusal is None or self.s.base_stage not in (LabelStage.MORATORIUM, LabelStage.REFUSED_FINAL)
                or refusal.appeal is None):
            refuse("no notified refusal to appeal against")
        return refusal, refusal.appeal

    def _implicit_rejection(self) -> None:
        refusal = self.s.last_refusal()
        assert refusal is not None and refusal.appeal is not None
        appeal = refusal.appeal
        appeal.gracieux_outcome = "rejected"
        appeal.gracieux_implicit = True
        appeal.rejection_on = appeal.gracieux_answer_due
        appeal.contentieux_deadline_after_rejection = rules_of.appeal_deadline(appeal.rejection_on, self.rules)
        self.touch()

    def check_recours_gracieux(self, msg: AppealFiled) -> None:
        refusal, appeal = self._appealable()
        windows.check_gracieux(appeal, self._check_date(msg.filed_on, refusal.notified_on, "recours gracieux date"))

    def file_recours_gracieux(self, msg: AppealFiled) -> None:
        _, appeal = self._appealable()
        filed_on = self._date_or_today(msg.filed_on)
        appeal.gracieux_filed_on = filed_on
        appeal.gracieux_evidence = list(msg.evidence)
        appeal.gracieux_answer_due = rules_of.gracieux_answer_due(filed_on, self.rules)
        self._task("label_recours_gracieux", "DPID", "answer", appeal.gracieux_answer_due)
        self.touch()

    def check_gracieux_answer(self, msg: GracieuxAnswer) -> None:
        _, appeal = self._appealable()
        windows.check_gracieux_answer(appeal)
        self._check_date(msg.answered_on, appeal.gracieux_filed_on, "answer date")

    def answer_recours_gracieux(self, msg: GracieuxAnswer) -> None:
        refusal, appeal = self._appealable()
        answered_on = self._date_or_today(msg.answered_on)
        appeal.gracieux_outcome = msg.outcome
        self._close_tasks([("label_recours_gracieux", "answer")], "RECOURS_GRACIEUX_ANSWERED")
        if msg.outcome == "granted":  # L11
            self.s.decisions = self.s.decisions + [DecisionRecord(
                round=refusal.round, outcome="grant", decided_on=answered_on, reasons=msg.reasons,
                origin="recours_gracieux")]
            self._grant(answered_on, "gracieux_granted")
            return
        # L12: an explicit rejection opens the contentieux window
        appeal.rejection_on = answered_on
        appeal.contentieux_deadline_after_rejection = rules_of.appeal_deadline(answered_on, self.rules)
        if self._patched(LETTERS):
            self._letter(f"{self.workflow_id}:gracieux_rejected:{answered_on.isoformat()}", "gracieux_rejected",
                         answered_on, msg.reasons,
                         LetterDates(contentieux_deadline=appeal.contentieux_deadline_after_rejection))
        self.touch()

    def check_recours_contentieux(self, msg: AppealFiled) -> None:
        refusal, appeal = self._appealable()
        windows.check_contentieux(appeal)
        filed_on = self._check_date(msg.filed_on, appeal.rejection_on or refusal.notified_on,
                                    "recours contentieux date")
        windows.check_contentieux(appeal, filed_on)

    def file_recours_contentieux(self, msg: AppealFiled) -> None:
        _, appeal = self._appealable()
        appeal.contentieux_filed_on = self._date_or_today(msg.filed_on)
        self.touch()

    def check_judgment(self, msg: Judgment) -> None:
        _, appeal = self._appealable()
        windows.check_judgment(appeal)
        self._check_date(msg.judged_on, appeal.contentieux_filed_on, "judgment date")

    def record_judgment(self, msg: Judgment) -> None:
        refusal, appeal = self._appealable()
        judged_on = self._date_or_today(msg.judged_on)
        appeal.judgment, appeal.judged_on = msg.outcome, judged_on
        if msg.outcome == "annulled":
            self.s.decisions = self.s.decisions + [DecisionRecord(
                round=refusal.round, outcome="grant", decided_on=judged_on, reasons=["judgment"], origin="judgment")]
            self._grant(judged_on)
        else:
            self.touch()
