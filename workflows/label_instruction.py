"""The instruction of a label application (L3, L4, G-L22): the DPID's evaluation, the SLAI consolidation
with the consultation of the other territories' SLAIs, and the joint review below 80 %.

A mixin of ``LabelApplicationWorkflow`` (its update handlers are the workflow's): the DPID either records
its evaluation (``record_admin_evaluation``, kept for running cases) or submits the file itself
(``submit_evaluation``: attestations and Annexe 2 grids), from which the case computes training coverage,
the seeded sample of CER per professional and the averages (``domain.label_evaluation``).
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import tasks as assignee
    from domain.label import LabelStage
    from domain.label_contract import ApplicationMessages as A
    from domain.label_evaluation import LabelFile, LabelInputError, LabelProposal, check_professionals, evaluate_structure
    from domain.label_messages import AdminEvaluation, EvaluationSubmitted, JointReview, SlaiOpinion, TerritoryOpinion

from workflows.label_case import LabelCase, calendar_bound, once, reject, unless_seen


class LabelInstruction(LabelCase):
    """Needs ``_set_step`` from the workflow."""

    def _set_step(self, step: LabelStage) -> None:
        raise NotImplementedError

    # --- L3 / L4 instruction -----------------------------------------------------------------------------

    def _require_step(self, step: LabelStage) -> None:
        if self.state.step is not step:
            current = self.state.step.value if self.state.step else self.state.stage.value
            reject(f"expected step {step.value}, the application is at {current}")

    @workflow.update(name=A.RECORD_ADMIN_EVALUATION)
    @once
    async def record_admin_evaluation(self, msg: AdminEvaluation) -> LabelStage:
        self._admin_evaluated(msg)
        return self.state.stage

    def _admin_evaluated(self, evaluation: AdminEvaluation) -> None:
        s = self.state
        s.admin_evaluation = evaluation
        s.territory_opinions = []
        self._close_tasks([("label_admin_evaluation", f"r{s.round}")], "ADMIN_EVALUATION_RECORDED")
        self._task("label_slai_consolidation", self._slai(), f"r{s.round}", s.instruction_due,
                   consulted=self._consulted())
        for territory in self._consulted():  # G-L22: parallel consultations of the other SLAIs
            self._task("label_slai_consultation", assignee.slai(territory), f"r{s.round}-{territory}", s.instruction_due,
                       lead=self._slai())
        self._set_step(LabelStage.SLAI_CONSOLIDATION)

    def _consulted(self) -> list[str]:
        """The other territories, once each, without the lead's (the input is not trusted to be clean)."""
        s = self.state
        return list(dict.fromkeys(t for t in s.other_territories if t != s.territory))

    def _consultations_pending(self) -> list[str]:
        answered = {o.territory for o in self.state.territory_opinions}
        return [t for t in self._consulted() if t not in answered]

    @workflow.update(name=A.RECORD_TERRITORY_OPINION)
    @once
    async def record_territory_opinion(self, msg: TerritoryOpinion) -> LabelStage:
        self.state.territory_opinions = self.state.territory_opinions + [msg]
        self._close_tasks([("label_slai_consultation", f"r{self.state.round}-{msg.territory}")],
                          "TERRITORY_OPINION_RECORDED")
        self._touch()
        return self.state.stage

    @record_territory_opinion.validator
    @unless_seen
    def _validate_territory_opinion(self, msg: TerritoryOpinion) -> None:
        self._require_step(LabelStage.SLAI_CONSOLIDATION)
        if msg.territory not in self._consultations_pending():
            reject(f"territory {msg.territory} is not awaiting consultation (consulted: "
                   f"{', '.join(self._consulted()) or 'none'})")

    @record_admin_evaluation.validator
    @unless_seen
    def _validate_admin(self, msg: AdminEvaluation) -> None:
        self._require_step(LabelStage.DPID_ADMIN_EVALUATION)

    @workflow.update(name=A.SUBMIT_EVALUATION)
    @once
    async def submit_evaluation(self, msg: EvaluationSubmitted) -> LabelStage:
        """The DPID's evaluation computed by the case from the attestations and the Annexe 2 grids."""
        proposal = self._evaluate(msg)
        self.state.evaluation = proposal
        self._admin_evaluated(AdminEvaluation(
            event_id=msg.event_id, actor=msg.actor, training_ok=proposal.training.passed,
            cer_average=proposal.cer_quality.average or 0.0, seed=proposal.seed,
            sampled_cer_ids=[cer for p in proposal.cer_quality.professionals for cer in p.sample],
            reasons=proposal.reasons))
        return self.state.stage

    def _evaluate(self, msg: EvaluationSubmitted) -> LabelProposal:
        file = LabelFile(structure_id=self.state.structure_id,
                         evaluation_date=msg.evaluation_date or self._today(), seed=msg.seed,
                         professionals=msg.professionals)
        return calendar_bound(evaluate_structure, file, self.rules)

    @submit_evaluation.validator
    @unless_seen
    def _validate_evaluation(self, msg: EvaluationSubmitted) -> None:
        self._require_step(LabelStage.DPID_ADMIN_EVALUATION)
        self._check_date(msg.evaluation_date, self.state.filed_on, "evaluation date")
        try:
            check_professionals(msg.professionals, self.rules)
        except LabelInputError as error:
            reject(f"evaluation: {error}")

    @workflow.update(name=A.RECORD_SLAI_OPINION)
    @once
    async def record_slai_opinion(self, msg: SlaiOpinion) -> LabelStage:
        admin = self.state.admin_evaluation
        if msg.training_ok is None or msg.cer_average is None:  # a confirmation keeps the DPID's figures
            assert admin is not None
            msg = msg.model_copy(update={"training_ok": admin.training_ok, "cer_average": admin.cer_average})
        self.state.slai_opinion = msg
        self._close_tasks([("label_slai_consolidation", f"r{self.state.round}")], "SLAI_OPINION_RECORDED")
        if msg.cer_average < self.rules.cer_quality_threshold:
            self._task("label_joint_review", "DPID", f"r{self.state.round}", self.state.instruction_due,
                       participants=["DPID", self._slai()])
            self._set_step(LabelStage.JOINT_REVIEW_BELOW_80)
        else:
            self._touch()
        return self.state.stage

    @record_slai_opinion.validator
    @unless_seen
    def _validate_slai(self, msg: SlaiOpinion) -> None:
        self._require_step(LabelStage.SLAI_CONSOLIDATION)
        if self.state.slai_opinion is not None:
            reject("the SLAI opinion is already recorded")
        pending = self._consultations_pending()
        if pending:
            reject(f"the lead SLAI consults the other territories first (G-L22): waiting for {', '.join(pending)}",
                   "ConsultationPending")

    @workflow.update(name=A.RECORD_JOINT_REVIEW)
    @once
    async def record_joint_review(self, msg: JointReview) -> LabelStage:
        self.state.joint_review = msg
        self._close_tasks([("label_joint_review", f"r{self.state.round}")], "JOINT_REVIEW_RECORDED")
        self._touch()
        return self.state.stage

    @record_joint_review.validator
    @unless_seen
    def _validate_joint(self, msg: JointReview) -> None:
        self._require_step(LabelStage.JOINT_REVIEW_BELOW_80)
        if self.state.joint_review is not None:
            reject("the joint review is already recorded")
