"""The messages ``BeneficiaryPathway`` answers: signals from other systems, people's commands as updates (each
with its validator), the 2025 rules' messages, and queries.

A mixin of the workflow (``workflows.pathway``), which provides ``p`` (the ``Pathway`` aggregate) and the three
ways a message reaches it: ``_signal`` (a fact: applied, or kept as an anomaly), ``_validate`` and ``_command``
(a command: refused by its validator, or applied and logged with its actor). Handlers only route.
"""

from typing import Any, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.label_events import StructureLabelLost
    from domain.pathway_contract import Query, Signal, Update
    from domain.pathway import (
        AmendCer,
        AppointmentEvent,
        CafFirstInterview,
        CafSaisine,
        CafSaisineDecision,
        CommandResult,
        CompleteBilan,
        DecideReorientation,
        DiagnosticCompleted,
        EpDecision,
        EpReferralConfirmation,
        FlowRecord,
        HouseholdMemberChanged,
        LeftRsa,
        LostFromViewConvocation,
        NonComplianceReport,
        NotSubjectConfirmed,
        OrientationDecision,
        PathwayView,
        PaymentResumed,
        PaymentSuspended,
        PersonalReviewDecision,
        PersonalReviewRequest,
        PostExitChoice,
        PreconisationSubmitted,
        RequestReorientation,
        SignCer,
        SlaiPreconisationDecision,
        Stage,
    )
    from domain.pathway_decisions import check_by_trial
    from domain.pathway_rules import Pathway
    from domain.plein_emploi import (
        DecideSanction2025,
        FranceTravailRegistered,
        Remobilised,
        SignContratEngagement,
        SwitchRuleSet,
    )
    from domain.territory import TerritoryReassignment, check_reassignment, reassign


class PathwayHandlers:
    """Signal, update and query handlers of ``BeneficiaryPathway`` (needs ``p``, ``_signal``, ``_validate`` and
    ``_command`` from the workflow)."""

    p: Pathway
    _signal: Callable[[str, Any, Callable[[Any, Any], None]], None]
    _validate: Callable[[Any, Callable[[Any, Any], None]], None]
    _command: Callable[[Any, Callable[[Any, Any], None], Callable[[Any, Any], None]], CommandResult]

    def _trial(self, apply: Callable[[Pathway, Any, Any], None]) -> Callable[[Any, Any], None]:
        """The check of a command that was a signal: its handler applied to a copy of the state."""
        return lambda msg, today: check_by_trial(self.p, apply, msg, today)

    # ------------------------------------------------------------------ signals (events from other systems)

    @workflow.signal(name=Signal.FLOW_RECORD)
    def flow_record(self, msg: FlowRecord) -> None:
        self._signal(Signal.FLOW_RECORD, msg, self.p.on_flow_record)

    @workflow.signal(name=Signal.APPOINTMENT)
    def appointment(self, msg: AppointmentEvent) -> None:
        self._signal(Signal.APPOINTMENT, msg, self.p.on_appointment)

    @workflow.signal(name=Signal.DIAGNOSTIC_COMPLETED)
    def diagnostic_completed(self, msg: DiagnosticCompleted) -> None:
        self._signal(Signal.DIAGNOSTIC_COMPLETED, msg, self.p.on_diagnostic)

    @workflow.signal(name=Signal.NON_COMPLIANCE)
    def non_compliance(self, msg: NonComplianceReport) -> None:
        self._signal(Signal.NON_COMPLIANCE, msg, self.p.on_non_compliance)

    @workflow.signal(name=Signal.EP_DECISION)
    def ep_decision(self, msg: EpDecision) -> None:
        self._signal(Signal.EP_DECISION, msg, self.p.on_ep_decision)

    @workflow.signal(name=Signal.LEFT_RSA)
    def left_rsa(self, msg: LeftRsa) -> None:
        self._signal(Signal.LEFT_RSA, msg, self.p.on_left_rsa)

    @workflow.signal(name=Signal.PAYMENT_SUSPENDED)
    def payment_suspended(self, msg: PaymentSuspended) -> None:
        self._signal(Signal.PAYMENT_SUSPENDED, msg, self.p.on_payment_suspended)

    @workflow.signal(name=Signal.PAYMENT_RESUMED)
    def payment_resumed(self, msg: PaymentResumed) -> None:
        self._signal(Signal.PAYMENT_RESUMED, msg, self.p.on_payment_resumed)

    @workflow.signal(name=Signal.NOT_SUBJECT_CONFIRMED)
    def not_subject_confirmed(self, msg: NotSubjectConfirmed) -> None:
        self._signal(Signal.NOT_SUBJECT_CONFIRMED, msg, self.p.on_not_subject_confirmed)

    @workflow.signal(name=Signal.HOUSEHOLD_MEMBER)
    def household_member(self, msg: HouseholdMemberChanged) -> None:
        self._signal(Signal.HOUSEHOLD_MEMBER, msg, self.p.on_household_member)

    @workflow.signal(name=Signal.LOST_FROM_VIEW_CONVOCATION)
    def lost_from_view_convocation(self, msg: LostFromViewConvocation) -> None:
        self._signal(Signal.LOST_FROM_VIEW_CONVOCATION, msg, self.p.on_lost_from_view_convocation)

    @workflow.signal(name=Signal.STRUCTURE_LABEL_LOST)
    def structure_label_lost(self, msg: StructureLabelLost) -> None:
        self._signal(Signal.STRUCTURE_LABEL_LOST, msg, self.p.on_structure_label_lost)

    # ------------------------------------------------------------------ updates (staff commands)

    @workflow.update(name=Update.ORIENT)
    def orient(self, msg: OrientationDecision) -> CommandResult:
        return self._command(msg, self.p.check_orientation, self.p.orient)

    @orient.validator
    def _orient_ok(self, msg: OrientationDecision) -> None:
        self._validate(msg, self.p.check_orientation)

    @workflow.update(name=Update.SUBMIT_PRECONISATION)
    def submit_preconisation(self, msg: PreconisationSubmitted) -> CommandResult:
        return self._command(msg, self.p.check_preconisation, self.p.submit_preconisation)

    @submit_preconisation.validator
    def _preconisation_ok(self, msg: PreconisationSubmitted) -> None:
        self._validate(msg, self.p.check_preconisation)

    @workflow.update(name=Update.DECIDE_PRECONISATION)
    def decide_preconisation(self, msg: SlaiPreconisationDecision) -> CommandResult:
        return self._command(msg, self.p.check_slai_decision, self.p.slai_decide)

    @decide_preconisation.validator
    def _decide_preconisation_ok(self, msg: SlaiPreconisationDecision) -> None:
        self._validate(msg, self.p.check_slai_decision)

    @workflow.update(name=Update.SIGN_CER)
    def sign_cer(self, msg: SignCer) -> CommandResult:
        return self._command(msg, self.p.check_sign_cer, self.p.sign_cer)

    @sign_cer.validator
    def _sign_cer_ok(self, msg: SignCer) -> None:
        self._validate(msg, self.p.check_sign_cer)

    @workflow.update(name=Update.AMEND_CER)
    def amend_cer(self, msg: AmendCer) -> CommandResult:
        return self._command(msg, self.p.check_amend_cer, self.p.amend_cer)

    @amend_cer.validator
    def _amend_cer_ok(self, msg: AmendCer) -> None:
        self._validate(msg, self.p.check_amend_cer)

    @workflow.update(name=Update.COMPLETE_BILAN)
    def complete_bilan(self, msg: CompleteBilan) -> CommandResult:
        return self._command(msg, self.p.check_bilan, self.p.complete_bilan)

    @complete_bilan.validator
    def _bilan_ok(self, msg: CompleteBilan) -> None:
        self._validate(msg, self.p.check_bilan)

    @workflow.update(name=Update.REQUEST_REORIENTATION)
    def request_reorientation(self, msg: RequestReorientation) -> CommandResult:
        return self._command(msg, self.p.check_reorientation, self.p.request_reorientation)

    @request_reorientation.validator
    def _reorientation_ok(self, msg: RequestReorientation) -> None:
        self._validate(msg, self.p.check_reorientation)

    @workflow.update(name=Update.DECIDE_REORIENTATION)
    def decide_reorientation(self, msg: DecideReorientation) -> CommandResult:
        return self._command(msg, self.p.check_reorientation_decision, self.p.decide_reorientation)

    @decide_reorientation.validator
    def _decide_reorientation_ok(self, msg: DecideReorientation) -> None:
        self._validate(msg, self.p.check_reorientation_decision)

    @workflow.update(name=Update.REQUEST_PERSONAL_REVIEW)
    def request_personal_review(self, msg: PersonalReviewRequest) -> CommandResult:
        return self._command(msg, self.p.check_personal_review, self.p.request_personal_review)

    @request_personal_review.validator
    def _personal_review_ok(self, msg: PersonalReviewRequest) -> None:
        self._validate(msg, self.p.check_personal_review)

    @workflow.update(name=Update.DECIDE_PERSONAL_REVIEW)
    def decide_personal_review(self, msg: PersonalReviewDecision) -> CommandResult:
        return self._command(msg, self.p.check_personal_review_decision, self.p.decide_personal_review)

    @decide_personal_review.validator
    def _decide_personal_review_ok(self, msg: PersonalReviewDecision) -> None:
        self._validate(msg, self.p.check_personal_review_decision)

    @workflow.update(name=Update.CONFIRM_EP_REFERRAL)
    def confirm_ep_referral(self, msg: EpReferralConfirmation) -> CommandResult:
        return self._command(msg, self.p.check_ep_confirmation, self.p.confirm_ep)

    @confirm_ep_referral.validator
    def _confirm_ep_ok(self, msg: EpReferralConfirmation) -> None:
        self._validate(msg, self.p.check_ep_confirmation)

    @workflow.update(name=Update.CHOOSE_AFTER_EXIT)
    def choose_after_exit(self, msg: PostExitChoice) -> CommandResult:
        return self._command(msg, self.p.check_exit_choice, self.p.choose_after_exit)

    @choose_after_exit.validator
    def _exit_choice_ok(self, msg: PostExitChoice) -> None:
        self._validate(msg, self.p.check_exit_choice)

    @workflow.update(name=Update.CAF_SAISINE)
    def caf_saisine(self, msg: CafSaisine) -> CommandResult:
        return self._command(msg, self.p.check_caf_saisine, self.p.caf_saisine)

    @caf_saisine.validator
    def _caf_saisine_ok(self, msg: CafSaisine) -> None:
        self._validate(msg, self.p.check_caf_saisine)

    @workflow.update(name=Update.DECIDE_CAF_SAISINE)
    def decide_caf_saisine(self, msg: CafSaisineDecision) -> CommandResult:
        return self._command(msg, self.p.check_caf_saisine_decision, self.p.decide_caf_saisine)

    @decide_caf_saisine.validator
    def _decide_caf_saisine_ok(self, msg: CafSaisineDecision) -> None:
        self._validate(msg, self.p.check_caf_saisine_decision)

    @workflow.update(name=Update.CAF_FIRST_INTERVIEW)
    def caf_first_interview(self, msg: CafFirstInterview) -> CommandResult:
        return self._command(msg, self.p.check_caf_interview, self.p.caf_first_interview)

    @caf_first_interview.validator
    def _caf_interview_ok(self, msg: CafFirstInterview) -> None:
        self._validate(msg, self.p.check_caf_interview)

    # ------------------------------------------------------------------ the 2025 rules (domain.pathway_2025)

    @workflow.signal(name=Signal.FRANCE_TRAVAIL_REGISTERED)
    def france_travail_registered(self, msg: FranceTravailRegistered) -> None:
        self._signal(Signal.FRANCE_TRAVAIL_REGISTERED, msg, self.p.on_france_travail_registered)

    @workflow.update(name=Update.SIGN_CONTRAT_ENGAGEMENT)
    def sign_contrat_engagement(self, msg: SignContratEngagement) -> CommandResult:
        return self._command(msg, self.p.check_sign_contrat_engagement, self.p.sign_contrat_engagement)

    @sign_contrat_engagement.validator
    def _sign_contrat_engagement_ok(self, msg: SignContratEngagement) -> None:
        self._validate(msg, self.p.check_sign_contrat_engagement)

    @workflow.update(name=Update.DECIDE_SANCTION_2025)
    def decide_sanction_2025(self, msg: DecideSanction2025) -> CommandResult:
        return self._command(msg, self.p.check_sanction_2025, self.p.decide_sanction_2025)

    @decide_sanction_2025.validator
    def _decide_sanction_2025_ok(self, msg: DecideSanction2025) -> None:
        self._validate(msg, self.p.check_sanction_2025)

    @workflow.update(name=Update.REMOBILISED)
    def remobilised(self, msg: Remobilised) -> CommandResult:
        return self._command(msg, self.p.check_remobilised, self.p.remobilised)

    @remobilised.validator
    def _remobilised_ok(self, msg: Remobilised) -> None:
        self._validate(msg, self.p.check_remobilised)

    @workflow.update(name=Update.SWITCH_RULE_SET)
    def switch_rule_set(self, msg: SwitchRuleSet) -> CommandResult:
        return self._command(msg, self.p.check_switch_rule_set, self.p.switch_rule_set)

    @switch_rule_set.validator
    def _switch_rule_set_ok(self, msg: SwitchRuleSet) -> None:
        self._validate(msg, self.p.check_switch_rule_set)

    @workflow.update(name=Update.REASSIGN_TERRITORY)
    def reassign_territory(self, msg: TerritoryReassignment) -> CommandResult:
        """The SLAI manager places the pathway in another territory (issue 11): an event of its history."""
        return self._command(msg, lambda m, today: check_reassignment(self.p, m, today),
                             lambda m, today: reassign(self.p, m, today))

    @reassign_territory.validator
    def _reassign_territory_ok(self, msg: TerritoryReassignment) -> None:
        self._validate(msg, lambda m, today: check_reassignment(self.p, m, today))

    # ------------------------------------------------------------------ updates that were signals (people's commands)

    @workflow.update(name=Update.RECORD_APPOINTMENT)
    def record_appointment(self, msg: AppointmentEvent) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_appointment), self.p.on_appointment)

    @record_appointment.validator
    def _appointment_ok(self, msg: AppointmentEvent) -> None:
        self._validate(msg, self._trial(Pathway.on_appointment))

    @workflow.update(name=Update.RECORD_DIAGNOSTIC)
    def record_diagnostic(self, msg: DiagnosticCompleted) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_diagnostic), self.p.on_diagnostic)

    @record_diagnostic.validator
    def _diagnostic_ok(self, msg: DiagnosticCompleted) -> None:
        self._validate(msg, self._trial(Pathway.on_diagnostic))

    @workflow.update(name=Update.REPORT_NON_COMPLIANCE)
    def report_non_compliance(self, msg: NonComplianceReport) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_non_compliance), self.p.on_non_compliance)

    @report_non_compliance.validator
    def _non_compliance_ok(self, msg: NonComplianceReport) -> None:
        self._validate(msg, self._trial(Pathway.on_non_compliance))

    @workflow.update(name=Update.DECIDE_EP)
    def decide_ep(self, msg: EpDecision) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_ep_decision), self.p.on_ep_decision)

    @decide_ep.validator
    def _decide_ep_ok(self, msg: EpDecision) -> None:
        self._validate(msg, self._trial(Pathway.on_ep_decision))

    @workflow.update(name=Update.RECORD_CONVOCATION)
    def record_convocation(self, msg: LostFromViewConvocation) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_lost_from_view_convocation),
                             self.p.on_lost_from_view_convocation)

    @record_convocation.validator
    def _convocation_ok(self, msg: LostFromViewConvocation) -> None:
        self._validate(msg, self._trial(Pathway.on_lost_from_view_convocation))

    # ------------------------------------------------------------------ queries

    @workflow.query(name=Query.VIEW)
    def view(self) -> PathwayView:
        return self.p.view()

    @workflow.query(name=Query.STAGE)
    def stage(self) -> Stage:
        return self.p.s.stage
