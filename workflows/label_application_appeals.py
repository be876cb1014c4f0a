"""Appeals against a refused application (L10–L13): recours gracieux (2 months to file, 2 months for the
answer, silence = rejection, G-L19), recours contentieux at the tribunal administratif de Lille, judgment.

A mixin of ``LabelApplicationWorkflow``; the windows and their checks are ``domain.label_appeal``'s. A
granted recours gracieux or an annulment grants the label (``_grant``).
"""

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import label as rules_of
    from domain.label import LabelStage
    from domain.label_appeal import (
        AppealRecord,
        check_contentieux,
        check_gracieux,
        check_gracieux_answer,
        check_judgment,
    )
    from domain.label_application import DecisionRecord, RefusalRecord
    from domain.label_contract import ApplicationMessages as A
    from domain.label_messages import AppealFiled, GracieuxAnswer, Judgment

from workflows.label_case import LabelCase, calendar_bound, checked, once, reject, unless_seen


class ApplicationAppeals(LabelCase):
    """Needs ``_refusal`` and ``_grant`` from the workflow."""

    def _refusal(self) -> RefusalRecord | None:
        raise NotImplementedError

    def _grant(self, decided_on: date, kind: str = "grant") -> None:
        raise NotImplementedError

    # --- appeals (L10–L13) -------------------------------------------------------------------------------

    def _appealable(self) -> tuple[RefusalRecord, AppealRecord]:
        refusal = self._refusal()
        if (
            refusal is None
            or self.state.base_stage not in (LabelStage.MORATORIUM, LabelStage.REFUSED_FINAL)
            or refusal.appeal is None
        ):
            reject("no notified refusal to appeal against")
        return refusal, refusal.appeal

    @workflow.update(name=A.FILE_RECOURS_GRACIEUX)
    @once
    async def file_recours_gracieux(self, msg: AppealFiled) -> LabelStage:
        _, appeal = self._appealable()
        filed_on = self._date_or_today(msg.filed_on)
        appeal.gracieux_filed_on = filed_on
        appeal.gracieux_evidence = list(msg.evidence)
        appeal.gracieux_answer_due = rules_of.gracieux_answer_due(filed_on, self.rules)
        self._task("label_recours_gracieux", "DPID", "answer", appeal.gracieux_answer_due)
        self._touch()
        return self.state.stage

    @file_recours_gracieux.validator
    @unless_seen
    def _validate_gracieux(self, msg: AppealFiled) -> None:
        refusal, appeal = self._appealable()
        filed_on = self._check_date(msg.filed_on, refusal.notified_on, "recours gracieux date")
        checked(check_gracieux, appeal, filed_on)

    @workflow.update(name=A.ANSWER_RECOURS_GRACIEUX)
    @once
    async def answer_recours_gracieux(self, msg: GracieuxAnswer) -> LabelStage:
        refusal, appeal = self._appealable()
        answered_on = self._date_or_today(msg.answered_on)
        appeal.gracieux_outcome = msg.outcome
        self._close_tasks([("label_recours_gracieux", "answer")], "RECOURS_GRACIEUX_ANSWERED")
        if msg.outcome == "granted":  # L11
            self.state.decisions = self.state.decisions + [DecisionRecord(
                round=refusal.round, outcome="grant", decided_on=answered_on, reasons=msg.reasons,
                origin="recours_gracieux")]
            self._grant(answered_on, "gracieux_granted")
        else:  # L12: explicit rejection opens the contentieux window
            appeal.rejection_on = answered_on
            appeal.contentieux_deadline_after_rejection = calendar_bound(rules_of.appeal_deadline, answered_on, self.rules)
            if workflow.patched("label-letters"):
                self._letter(f"{self._wid()}:gracieux_rejected:{answered_on.isoformat()}", "gracieux_rejected",
                             answered_on, msg.reasons,
                             {"contentieux_deadline": appeal.contentieux_deadline_after_rejection})
            self._touch()
        return self.state.stage

    @answer_recours_gracieux.validator
    @unless_seen
    def _validate_answer(self, msg: GracieuxAnswer) -> None:
        _, appeal = self._appealable()
        checked(check_gracieux_answer, appeal)
        self._check_date(msg.answered_on, appeal.gracieux_filed_on, "answer date")

    @workflow.update(name=A.FILE_RECOURS_CONTENTIEUX)
    @once
    async def file_recours_contentieux(self, msg: AppealFiled) -> LabelStage:
        _, appeal = self._appealable()
        appeal.contentieux_filed_on = self._date_or_today(msg.filed_on)
        self._touch()
        return self.state.stage

    @file_recours_contentieux.validator
    @unless_seen
    def _validate_contentieux(self, msg: AppealFiled) -> None:
        refusal, appeal = self._appealable()
        checked(check_contentieux, appeal)
        filed_on = self._check_date(msg.filed_on, appeal.rejection_on or refusal.notified_on, "recours contentieux date")
        checked(check_contentieux, appeal, filed_on)

    @workflow.update(name=A.RECORD_JUDGMENT)
    @once
    async def record_judgment(self, msg: Judgment) -> LabelStage:
        refusal, appeal = self._appealable()
        judged_on = self._date_or_today(msg.judged_on)
        appeal.judgment, appeal.judged_on = msg.outcome, judged_on
        if msg.outcome == "annulled":
            self.state.decisions = self.state.decisions + [DecisionRecord(
                round=refusal.round, outcome="grant", decided_on=judged_on, reasons=["judgment"],
                origin="judgment")]
            self._grant(judged_on)
        else:
            self._touch()
        return self.state.stage

    @record_judgment.validator
    @unless_seen
    def _validate_judgment(self, msg: Judgment) -> None:
        _, appeal = self._appealable()
        checked(check_judgment, appeal)
        self._check_date(msg.judged_on, appeal.contentieux_filed_on, "judgment date")
