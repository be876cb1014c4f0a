"""A granted Label référent RSA (id ``labelled-<structure id>``): L15–L20 and withdrawal cases W1–W3.

The rules are the pure aggregate ``domain.label_rules.Label``; this workflow only routes its messages (the
letters' and appeals' in ``workflows.label_notice_handlers``), drains its outbox and sleeps until its next
deadline (``workflows.label_effects``). ``is_labelled(structure, date)`` answers funding checks. A renewal
granted continues as new with the next 5-year cycle; a lost label (lapsed, withdrawn, expired) notifies every
pathway of the structure, then the workflow ends once its appeal windows are settled.
"""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.label import LabelStage
    from domain.label_contract import ACT_RECORD_LABEL, LABEL_WORKFLOW
    from domain.label_contract import LabelMessages as LM
    from domain.label_messages import (
        AnnualReview,
        CommitmentBreach,
        IsLabelledQuery,
        MissionEnded,
        ObservationsReceived,
        QualityIssue,
        RemediationOutcome,
        RenewalDecision,
        RenewalRequest,
        WithdrawalDecision,
    )
    from domain.label_rules import Label
    from domain.label_state import FINAL_STAGES, LabelState

    from workflows.search_attributes import STRUCTURE_ID

from workflows.label_effects import ACTIVITY_OPTIONS
from workflows.label_notice_handlers import NoticeHandlers

__all__ = ["FINAL_STAGES", "LabelState", "LabelWorkflow", "LABEL_WORKFLOW"]


@workflow.defn(name=LABEL_WORKFLOW)
class LabelWorkflow(NoticeHandlers):
    @workflow.init
    def __init__(self, state: LabelState) -> None:
        self.case = Label(state, workflow.info().workflow_id, today=self._today, patched=workflow.patched)
        self._init_case()

    @property
    def state(self) -> LabelState:
        return self.case.s

    @workflow.run
    async def run(self, state: LabelState) -> LabelState:
        workflow.upsert_search_attributes([STRUCTURE_ID.value_set(self.state.structure_id)])
        self.case.start()
        await self._serve(self.case.finished)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain()
        if self.case.renewed:
            workflow.continue_as_new(self.state)
        self._publish(None)
        return self.state

    def _fire(self, now: datetime) -> None:
        self.case.fire(now)

    async def _record(self) -> None:
        await workflow.execute_activity(ACT_RECORD_LABEL, self.case.snapshot(), **ACTIVITY_OPTIONS)

    # --- L15 annual review, L16 renewal, W1 lapse ---------------------------------------------------------

    @workflow.update(name=LM.RECORD_ANNUAL_REVIEW)
    async def record_annual_review(self, msg: AnnualReview) -> LabelStage:
        return self._apply(self.case.record_annual_review, msg)

    @record_annual_review.validator
    def _validate_review(self, msg: AnnualReview) -> None:
        self._check(self.case.check_annual_review, msg)

    @workflow.update(name=LM.REQUEST_RENEWAL)
    async def request_renewal(self, msg: RenewalRequest) -> LabelStage:
        return self._apply(self.case.request_renewal, msg)

    @request_renewal.validator
    def _validate_renewal(self, msg: RenewalRequest) -> None:
        self._check(self.case.check_renewal_request, msg)

    @workflow.update(name=LM.DECIDE_RENEWAL)
    async def decide_renewal(self, msg: RenewalDecision) -> LabelStage:
        return self._apply(self.case.decide_renewal, msg)

    @decide_renewal.validator
    def _validate_renewal_decision(self, msg: RenewalDecision) -> None:
        self._check(self.case.check_renewal_decision, msg)

    @workflow.update(name=LM.END_MISSION)
    async def end_mission(self, msg: MissionEnded) -> LabelStage:
        return self._apply(self.case.end_mission, msg)

    @end_mission.validator
    def _validate_end_mission(self, msg: MissionEnded) -> None:
        self._check(self.case.check_end_mission, msg)

    # --- W2 withdrawal, W3 remediation ---------------------------------------------------------------------

    @workflow.update(name=LM.REPORT_COMMITMENT_BREACH)
    async def report_commitment_breach(self, msg: CommitmentBreach) -> LabelStage:
        return self._apply(self.case.report_commitment_breach, msg)

    @report_commitment_breach.validator
    def _validate_breach(self, msg: CommitmentBreach) -> None:
        self._check(self.case.check_commitment_breach, msg)

    @workflow.update(name=LM.RECORD_OBSERVATIONS)
    async def record_observations(self, msg: ObservationsReceived) -> LabelStage:
        return self._apply(self.case.record_observations, msg)

    @record_observations.validator
    def _validate_observations(self, msg: ObservationsReceived) -> None:
        self._check(self.case.check_observations, msg)

    @workflow.update(name=LM.DECIDE_WITHDRAWAL)
    async def decide_withdrawal(self, msg: WithdrawalDecision) -> LabelStage:
        return self._apply(self.case.decide_withdrawal, msg)

    @decide_withdrawal.validator
    def _validate_withdrawal(self, msg: WithdrawalDecision) -> None:
        self._check(self.case.check_withdrawal, msg)

    @workflow.update(name=LM.REPORT_QUALITY_ISSUE)
    async def report_quality_issue(self, msg: QualityIssue) -> LabelStage:
        return self._apply(self.case.report_quality_issue, msg)

    @report_quality_issue.validator
    def _validate_quality(self, msg: QualityIssue) -> None:
        self._check(self.case.check_quality_issue, msg)

    @workflow.update(name=LM.DECIDE_REMEDIATION)
    async def decide_remediation(self, msg: RemediationOutcome) -> LabelStage:
        return self._apply(self.case.decide_remediation, msg)

    @decide_remediation.validator
    def _validate_remediation(self, msg: RemediationOutcome) -> None:
        self._check(self.case.check_remediation, msg)

    # --- queries -------------------------------------------------------------------------------------------

    @workflow.query(name=LM.IS_LABELLED)
    def is_labelled(self, query: IsLabelledQuery) -> bool:
        return query.structure_id == self.state.structure_id and self.state.is_labelled(query.on)

    @workflow.query(name=LM.STATE)
    def get_state(self) -> LabelState:
        return self.state
