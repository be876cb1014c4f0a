"""The messages ``BeneficiaryPathway`` answers: signals from other systems, people's commands as updates (each
with its validator), the 2025 rules' messages, and queries.

A mixin of the workflow (``workflows.pathway``), which provides ``p`` (the ``Pathway`` aggregate) and the three
ways a message reaches it: ``_signal`` (a fact: applied, or kept as an anomaly), ``_validate`` and ``_command``
(a command: refused by its validator, or applied and logged with its actor). Handlers only route.
"""

from typing import Any, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.label_events import STRUCTURE_LABEL_LOST_SIGNAL, StructureLabelLost
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

    @workflow.signal(name="flow_record")
    def flow_record(self, msg: FlowRecord) -> None:
        self._signal("flow_record", msg, self.p.on_flow_record)

    @workflow.signal(name="appointment")
    def appointment(self, msg: AppointmentEvent) -> None:
        self._signal("appointment", msg, self.p.on_appointment)

    @workflow.signal(name="diagnostic_completed")
    def diagnostic_completed(self, msg: DiagnosticCompleted) -> None:
        self._signal("diagnostic_completed", msg, self.p.on_diagnostic)

    @workflow.signal(name="non_compliance")
    def non_compliance(self, msg: NonComplianceReport) -> None:
        self._signal("non_compliance", msg, self.p.on_non_compliance)

    @workflow.signal(name="ep_decision")
    def ep_decision(self, msg: EpDecision) -> None:
        self._signal("ep_decision", msg, self.p.on_ep_decision)

    @workflow.signal(name="left_rsa")
    def left_rsa(self, msg: LeftRsa) -> None:
        self._signal("left_rsa", msg, self.p.on_left_rsa)

    @workflow.signal(name="payment_suspended")
    def payment_suspended(self, msg: PaymentSuspended) -> None:
        self._signal("payment_suspended", msg, self.p.on_payment_suspended)

    @workflow.signal(name="payment_resumed")
    def payment_resumed(self, msg: PaymentResumed) -> None:
        self._signal("payment_resumed", msg, self.p.on_payment_resumed)

    @workflow.signal(name="not_subject_confirmed")
    def not_subject_confirmed(self, msg: NotSubjectConfirmed) -> None:
        self._signal("not_subject_confirmed", msg, self.p.on_not_subject_confirmed)

    @workflow.signal(name="household_member")
    def household_member(self, msg: HouseholdMemberChanged) -> None:
        self._signal("household_member", msg, self.p.on_household_member)

    @workflow.signal(name="lost_from_view_convocation")
    def lost_from_view_convocation(self, msg: LostFromViewConvocation) -> None:
        self._signal("lost_from_view_convocation", msg, self.p.on_lost_from_view_convocation)

    @workflow.signal(name=STRUCTURE_LABEL_LOST_SIGNAL)
    def structure_label_lost(self, msg: StructureLabelLost) -> None:
        self._signal(STRUCTURE_LABEL_LOST_SIGNAL, msg, self.p.on_structure_label_lost)

    # ------------------------------------------------------------------ updates (staff commands)

    @workflow.update(name="orient")
    def orient(self, msg: OrientationDecision) -> CommandResult:
        return self._command(msg, self.p.check_orientation, self.p.orient)

    @orient.validator
    def _orient_ok(self, msg: OrientationDecision) -> None:
        self._validate(msg, self.p.check_orientation)

    @workflow.update(name="submit_preconisation")
    def submit_preconisation(self, msg: PreconisationSubmitted) -> CommandResult:
        return self._command(msg, self.p.check_preconisation, self.p.submit_preconisation)

    @submit_preconisation.validator
    def _preconisation_ok(self, msg: PreconisationSubmitted) -> None:
        self._validate(msg, self.p.check_preconisation)

    @workflow.update(name="decide_preconisation")
    def decide_preconisation(self, msg: SlaiPreconisationDecision) -> CommandResult:
        return self._command(msg, self.p.check_slai_decision, self.p.slai_decide)

    @decide_preconisation.validator
    def _decide_preconisation_ok(self, msg: SlaiPreconisationDecision) -> None:
        self._validate(msg, self.p.check_slai_decision)

    @workflow.update(name="sign_cer")
    def sign_cer(self, msg: SignCer) -> CommandResult:
        return self._command(msg, self.p.check_sign_cer, self.p.sign_cer)

    @sign_cer.validator
    def _sign_cer_ok(self, msg: SignCer) -> None:
        self._validate(msg, self.p.check_sign_cer)

    @workflow.update(name="amend_cer")
    def amend_cer(self, msg: AmendCer) -> CommandResult:
        return self._command(msg, self.p.check_amend_cer, self.p.amend_cer)

    @amend_cer.validator
    def _amend_cer_ok(self, msg: AmendCer) -> None:
        self._validate(msg, self.p.check_amend_cer)

    @workflow.update(name="complete_bilan")
    def complete_bilan(self, msg: CompleteBilan) -> CommandResult:
        return self._command(msg, self.p.check_bilan, self.p.complete_bilan)

    @complete_bilan.validator
    def _bilan_ok(self, msg: CompleteBilan) -> None:
        self._validate(msg, self.p.check_bilan)

    @workflow.update(name="request_reorientation")
    def request_reorientation(self, msg: RequestReorientation) -> CommandResult:
        return self._command(msg, self.p.check_reorientation, self.p.request_reorientation)

    @request_reorientation.validator
    def _reorientation_ok(self, msg: RequestReorientation) -> None:
        self._validate(msg, self.p.check_reorientation)

    @workflow.update(name="decide_reorientation")
    def decide_reorientation(self, msg: DecideReorientation) -> CommandResult:
        return self._command(msg, self.p.check_reorientation_decision, self.p.decide_reorientation)

    @decide_reorientation.validator
    def _decide_reorientation_ok(self, msg: DecideReorientation) -> None:
        self._validate(msg, self.p.check_reorientation_decision)

    @workflow.update(name="request_personal_review")
    def request_personal_review(self, msg: PersonalReviewRequest) -> CommandResult:
        return self._command(msg, self.p.check_personal_review, self.p.request_personal_review)

    @request_personal_review.validator
    def _personal_review_ok(self, msg: PersonalReviewRequest) -> None:
        self._validate(msg, self.p.check_personal_review)

    @workflow.update(name="decide_personal_review")
    def decide_personal_review(self, msg: PersonalReviewDecision) -> CommandResult:
        return self._command(msg, self.p.check_personal_review_decision, self.p.decide_personal_review)

    @decide_personal_review.validator
    def _decide_personal_review_ok(self, msg: PersonalReviewDecision) -> None:
        self._validate(msg, self.p.check_personal_review_decision)

    @workflow.update(name="confirm_ep_referral")
    def confirm_ep_referral(self, msg: EpReferralConfirmation) -> CommandResult:
        return self._command(msg, self.p.check_ep_confirmation, self.p.confirm_ep)

    @confirm_ep_referral.validator
    def _confirm_ep_ok(self, msg: EpReferralConfirmation) -> None:
        self._validate(msg, self.p.check_ep_confirmation)

    @workflow.update(name="choose_after_exit")
    def choose_after_exit(self, msg: PostExitChoice) -> CommandResult:
        return self._command(msg, self.p.check_exit_choice, self.p.choose_after_exit)

    @choose_after_exit.validator
    def _exit_choice_ok(self, msg: PostExitChoice) -> None:
        self._validate(msg, self.p.check_exit_choice)

    @workflow.update(name="caf_saisine")
    def caf_saisine(self, msg: CafSaisine) -> CommandResult:
        return self._command(msg, self.p.check_caf_saisine, self.p.caf_saisine)

    @caf_saisine.validator
    def _caf_saisine_ok(self, msg: CafSaisine) -> None:
        self._validate(msg, self.p.check_caf_saisine)

    @workflow.update(name="decide_caf_saisine")
    def decide_caf_saisine(self, msg: CafSaisineDecision) -> CommandResult:
        return self._command(msg, self.p.check_caf_saisine_decision, self.p.decide_caf_saisine)

    @decide_caf_saisine.validator
    def _decide_caf_saisine_ok(self, msg: CafSaisineDecision) -> None:
        self._validate(msg, self.p.check_caf_saisine_decision)

    @workflow.update(name="caf_first_interview")
    def caf_first_interview(self, msg: CafFirstInterview) -> CommandResult:
        return self._command(msg, self.p.check_caf_interview, self.p.caf_first_interview)

    @caf_first_interview.validator
    def _caf_interview_ok(self, msg: CafFirstInterview) -> None:
        self._validate(msg, self.p.check_caf_interview)

    # ------------------------------------------------------------------ the 2025 rules (domain.pathway_2025)

    @workflow.signal(name="france_travail_registered")
    def france_travail_registered(self, msg: FranceTravailRegistered) -> None:
        self._signal("france_travail_registered", msg, self.p.on_france_travail_registered)

    @workflow.update(name="sign_contrat_engagement")
    def sign_contrat_engagement(self, msg: SignContratEngagement) -> CommandResult:
        return self._command(msg, self.p.check_sign_contrat_engagement, self.p.sign_contrat_engagement)

    @sign_contrat_engagement.validator
    def _sign_contrat_engagement_ok(self, msg: SignContratEngagement) -> None:
        self._validate(msg, self.p.check_sign_contrat_engagement)

    @workflow.update(name="decide_sanction_2025")
    def decide_sanction_2025(self, msg: DecideSanction2025) -> CommandResult:
        return self._command(msg, self.p.check_sanction_2025, self.p.decide_sanction_2025)

    @decide_sanction_2025.validator
    def _decide_sanction_2025_ok(self, msg: DecideSanction2025) -> None:
        self._validate(msg, self.p.check_sanction_2025)

    @workflow.update(name="remobilised")
    def remobilised(self, msg: Remobilised) -> CommandResult:
        return self._command(msg, self.p.check_remobilised, self.p.remobilised)

    @remobilised.validator
    def _remobilised_ok(self, msg: Remobilised) -> None:
        self._validate(msg, self.p.check_remobilised)

    @workflow.update(name="switch_rule_set")
    def switch_rule_set(self, msg: SwitchRuleSet) -> CommandResult:
        return self._command(msg, self.p.check_switch_rule_set, self.p.switch_rule_set)

    @switch_rule_set.validator
    def _switch_rule_set_ok(self, msg: SwitchRuleSet) -> None:
        self._validate(msg, self.p.check_switch_rule_set)

    @workflow.update(name="reassign_territory")
    def reassign_territory(self, msg: TerritoryReassignment) -> CommandResult:
        """The SLAI manager places the pathway in another territory (issue 11): an event of its history."""
        return self._command(msg, lambda m, today: check_reassignment(self.p, m, today),
                             lambda m, today: reassign(self.p, m, today))

    @reassign_territory.validator
    def _reassign_territory_ok(self, msg: TerritoryReassignment) -> None:
        self._validate(msg, lambda m, today: check_reassignment(self.p, m, today))

    # ------------------------------------------------------------------ updates that were signals (people's commands)

    @workflow.update(name="record_appointment")
    def record_appointment(self, msg: AppointmentEvent) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_appointment), self.p.on_appointment)

    @record_appointment.validator
    def _appointment_ok(self, msg: AppointmentEvent) -> None:
        self._validate(msg, self._trial(Pathway.on_appointment))

    @workflow.update(name="record_diagnostic")
    def record_diagnostic(self, msg: DiagnosticCompleted) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_diagnostic), self.p.on_diagnostic)

    @record_diagnostic.validator
    def _diagnostic_ok(self, msg: DiagnosticCompleted) -> None:
        self._validate(msg, self._trial(Pathway.on_diagnostic))

    @workflow.update(name="report_non_compliance")
    def report_non_compliance(self, msg: NonComplianceReport) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_non_compliance), self.p.on_non_compliance)

    @report_non_compliance.validator
    def _non_compliance_ok(self, msg: NonComplianceReport) -> None:
        self._validate(msg, self._trial(Pathway.on_non_compliance))

    @workflow.update(name="decide_ep")
    def decide_ep(self, msg: EpDecision) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_ep_decision), self.p.on_ep_decision)

    @decide_ep.validator
    def _decide_ep_ok(self, msg: EpDecision) -> None:
        self._validate(msg, self._trial(Pathway.on_ep_decision))

    @workflow.update(name="record_convocation")
    def record_convocation(self, msg: LostFromViewConvocation) -> CommandResult:
        return self._command(msg, self._trial(Pathway.on_lost_from_view_convocation),
                             self.p.on_lost_from_view_convocation)

    @record_convocation.validator
    def _convocation_ok(self, msg: LostFromViewConvocation) -> None:
        self._validate(msg, self._trial(Pathway.on_lost_from_view_convocation))

    # ------------------------------------------------------------------ queries

    @workflow.query(name="view")
    def view(self) -> PathwayView:
        return self.p.view()

    @workflow.query(name="stage")
    def stage(self) -> Stage:
        return self.p.s.stage
