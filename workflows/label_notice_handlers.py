"""The messages both label workflows answer alike, by the same names: a letter's posting and receipt, and the
appeals against a notified decision (a refused application; a withdrawal or a renewal refusal of a label).

A mixin of ``LabelApplicationWorkflow`` and ``LabelWorkflow``: each aggregate has the same ``check_*`` and apply
methods for them (``domain.label_application_rules``, ``domain.label_notices``). Handlers only route.
"""

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.label import LabelStage
    from domain.label_contract import ApplicationMessages as A
    from domain.label_messages import AppealFiled, GracieuxAnswer, Judgment, LetterSent, ReceiptAcknowledged

from workflows.label_effects import LabelCaseWorkflow


class NoticeHandlers(LabelCaseWorkflow):
    case: Any

    @workflow.update(name=A.RECORD_LETTER_SENT)
    async def record_letter_sent(self, msg: LetterSent) -> LabelStage:
        return self._apply(self.case.record_letter_sent, msg)

    @record_letter_sent.validator
    def _validate_letter_sent(self, msg: LetterSent) -> None:
        self._check(self.case.check_letter_sent, msg)

    @workflow.update(name=A.ACKNOWLEDGE_RECEIPT)
    async def acknowledge_receipt(self, msg: ReceiptAcknowledged) -> LabelStage:
        return self._apply(self.case.acknowledge_receipt, msg)

    @acknowledge_receipt.validator
    def _validate_receipt(self, msg: ReceiptAcknowledged) -> None:
        self._check(self.case.check_receipt, msg)

    @workflow.update(name=A.FILE_RECOURS_GRACIEUX)
    async def file_recours_gracieux(self, msg: AppealFiled) -> LabelStage:
        return self._apply(self.case.file_recours_gracieux, msg)

    @file_recours_gracieux.validator
    def _validate_gracieux(self, msg: AppealFiled) -> None:
        self._check(self.case.check_recours_gracieux, msg)

    @workflow.update(name=A.ANSWER_RECOURS_GRACIEUX)
    async def answer_recours_gracieux(self, msg: GracieuxAnswer) -> LabelStage:
        return self._apply(self.case.answer_recours_gracieux, msg)

    @answer_recours_gracieux.validator
    def _validate_answer(self, msg: GracieuxAnswer) -> None:
        self._check(self.case.check_gracieux_answer, msg)

    @workflow.update(name=A.FILE_RECOURS_CONTENTIEUX)
    async def file_recours_contentieux(self, msg: AppealFiled) -> LabelStage:
        return self._apply(self.case.file_recours_contentieux, msg)

    @file_recours_contentieux.validator
    def _validate_contentieux(self, msg: AppealFiled) -> None:
        self._check(self.case.check_recours_contentieux, msg)

    @workflow.update(name=A.RECORD_JUDGMENT)
    async def record_judgment(self, msg: Judgment) -> LabelStage:
        return self._apply(self.case.record_judgment, msg)

    @record_judgment.validator
    def _validate_judgment(self, msg: Judgment) -> None:
        self._check(self.case.check_judgment, msg)
