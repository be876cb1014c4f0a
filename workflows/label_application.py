"""One Label référent RSA application (id ``label-<structure id>-<n>``): transitions L1–L14 of domain.md §4.5.

The rules are the pure aggregate ``domain.label_application_rules.LabelApplication``; this workflow only routes
its messages (the letters' and appeals' in ``workflows.label_notice_handlers``), drains its outbox and sleeps
until its next deadline (``workflows.label_effects``). Staff commands are updates whose validator is the
aggregate's ``check_*``, so a refused command never reaches history; the structure's dates (filing,
acknowledgement of receipt, appeals) are carried by the messages.
"""

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import label as rules_of
    from domain.deadlines import paris_date
    from domain.label import LabelStage
    from domain.label_application import LabelApplicationResult, LabelApplicationState
    from domain.label_application_rules import LabelApplication
    from domain.label_contract import ACT_RECORD_APPLICATION, LABEL_APPLICATION_WORKFLOW
    from domain.label_contract import ApplicationMessages as A
    from domain.label_messages import (
        AdminEvaluation,
        ApplicationSubmitted,
        Decision,
        EvaluationSubmitted,
        JointReview,
        MoratoriumSheet,
        Reapplication,
        SlaiOpinion,
        Superseded,
        TerritoryOpinion,
    )
    from domain.rules import rule_set_for

    from workflows.search_attributes import STRUCTURE_ID

from workflows.label_effects import ACTIVITY_OPTIONS
from workflows.label_notice_handlers import NoticeHandlers

__all__ = ["LabelApplicationState", "LabelApplicationWorkflow", "LABEL_APPLICATION_WORKFLOW"]


@workflow.defn(name=LABEL_APPLICATION_WORKFLOW)
class LabelApplicationWorkflow(NoticeHandlers):
    @workflow.init
    def __init__(self, state: LabelApplicationState) -> None:
        if state.rule_set_version is None:  # here, so validators running before run() see it
            state.rule_set_version = rule_set_for(paris_date(workflow.now())).version
        self.case = LabelApplication(state, workflow.info().workflow_id, today=self._today,
                                     patched=workflow.patched)
        self._init_case()

    @property
    def state(self) -> LabelApplicationState:
        return self.case.s

    @workflow.run
    async def run(self, state: LabelApplicationState) -> LabelApplicationResult:
        try:
            rules_of.application_workflow_id(self.state.structure_id, self.state.application_no)
        except ValueError as error:
            raise ApplicationError(str(error), type="InvalidInput", non_retryable=True) from None
        workflow.upsert_search_attributes([STRUCTURE_ID.value_set(self.state.structure_id)])
        self.case.start()
        await self._serve(self.case.finished)
        self._publish(None)
        await self._drain()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return LabelApplicationResult(stage=self.state.stage, closing_reason=self.state.closing_reason,
                                      label_workflow_id=self.state.label_workflow_id)

    def _fire(self, now: datetime) -> None:
        self.case.fire(now)

    async def _record(self) -> None:
        with workflow.unsafe.sandbox_unrestricted():
            snapshot = self.case.snapshot(workflow.now())
        await workflow.execute_activity(ACT_RECORD_APPLICATION, snapshot, **ACTIVITY_OPTIONS)

    # --- L1 submission, L3/L4 instruction (G-L22) --------------------------------------------------------

    @workflow.update(name=A.SUBMIT)
    async def submit(self, msg: ApplicationSubmitted) -> LabelStage:
        return self._apply(self.case.submit, msg)

    @submit.validator
    def _validate_submit(self, msg: ApplicationSubmitted) -> None:
        self._check(self.case.check_submit, msg)

    @workflow.update(name=A.RECORD_ADMIN_EVALUATION)
    async def record_admin_evaluation(self, msg: AdminEvaluation) -> LabelStage:
        return self._apply(self.case.record_admin_evaluation, msg)

    @record_admin_evaluation.validator
    def _validate_admin(self, msg: AdminEvaluation) -> None:
        self._check(self.case.check_admin_evaluation, msg)

    @workflow.update(name=A.SUBMIT_EVALUATION)
    async def submit_evaluation(self, msg: EvaluationSubmitted) -> LabelStage:
        return self._apply(self.case.submit_evaluation, msg)

    @submit_evaluation.validator
    def _validate_evaluation(self, msg: EvaluationSubmitted) -> None:
        self._check(self.case.check_evaluation, msg)

    @workflow.update(name=A.RECORD_TERRITORY_OPINION)
    async def record_territory_opinion(self, msg: TerritoryOpinion) -> LabelStage:
        return self._apply(self.case.record_territory_opinion, msg)

    @record_territory_opinion.validator
    def _validate_territory_opinion(self, msg: TerritoryOpinion) -> None:
        self._check(self.case.check_territory_opinion, msg)

    @workflow.update(name=A.RECORD_SLAI_OPINION)
    async def record_slai_opinion(self, msg: SlaiOpinion) -> LabelStage:
        return self._apply(self.case.record_slai_opinion, msg)

    @record_slai_opinion.validator
    def _validate_slai(self, msg: SlaiOpinion) -> None:
        self._check(self.case.check_slai_opinion, msg)

    @workflow.update(name=A.RECORD_JOINT_REVIEW)
    async def record_joint_review(self, msg: JointReview) -> LabelStage:
        return self._apply(self.case.record_joint_review, msg)

    @record_joint_review.validator
    def _validate_joint(self, msg: JointReview) -> None:
        self._check(self.case.check_joint_review, msg)

    # --- L5–L9 decision and the moratorium ---------------------------------------------------

    @workflow.update(name=A.DECIDE)
    async def decide(self, msg: Decision) -> LabelStage:
        return self._apply(self.case.decide, msg)

    @decide.validator
    def _validate_decide(self, msg: Decision) -> None:
        self._check(self.case.check_decide, msg)

    @workflow.update(name=A.RECORD_MORATORIUM_SHEET)
    async def record_moratorium_sheet(self, msg: MoratoriumSheet) -> LabelStage:
        return self._apply(self.case.record_moratorium_sheet, msg)

    @record_moratorium_sheet.validator
    def _validate_sheet(self, msg: MoratoriumSheet) -> None:
        self._check(self.case.check_moratorium_sheet, msg)

    @workflow.update(name=A.REAPPLY)
    async def reapply(self, msg: Reapplication) -> LabelStage:
        return self._apply(self.case.reapply, msg)

    @reapply.validator
    def _validate_reapply(self, msg: Reapplication) -> None:
        self._check(self.case.check_reapply, msg)

    @workflow.signal(name=A.SUPERSEDED)
    def superseded(self, msg: Superseded) -> None:
        self._signal(self.case.check_superseded, self.case.superseded, msg)

    @workflow.query(name=A.STATE)
    def get_state(self) -> LabelApplicationState:
        return self.state
