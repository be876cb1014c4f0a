"""The instruction of a label application (L2–L4, G-L22), pure: the DPID's evaluation, the SLAI consolidation
with the consultation of the other territories' SLAIs, and the joint review below 80 %.

A mixin of :class:`domain.label_application_rules.LabelApplication`. The DPID either records its evaluation
(``record_admin_evaluation``, kept for running cases) or submits the file itself (``submit_evaluation``:
attestations and Annexe 2 grids), from which the case computes training coverage, the seeded sample of CER per
professional and the averages (``domain.label_evaluation``).
"""

from __future__ import annotations

from datetime import date

from domain import label as rules_of
from domain import tasks as assignee
from domain.label import LabelStage
from domain.label_application import LabelApplicationState
from domain.label_evaluation import LabelFile, LabelInputError, LabelProposal, check_professionals, evaluate_structure
from domain.label_messages import AdminEvaluation, EvaluationSubmitted, JointReview, SlaiOpinion, TerritoryOpinion
from domain.label_outbox import LabelCaseRules, refuse


class ApplicationInstruction(LabelCaseRules):
    s: LabelApplicationState

    def _start_instruction(self, round_no: int, filed_on: date) -> None:
        """L2 / L7: the (new) study starts with the DPID; the 6-month instruction clock runs from filing."""
        s = self.s
        s.round = round_no
        s.filed_on = filed_on
        s.instruction_due = rules_of.instruction_due(filed_on, self.rules)
        s.alerts_sent = []
        s.admin_evaluation = s.slai_opinion = s.joint_review = None
        s.step = LabelStage.DPID_ADMIN_EVALUATION
        s.base_stage = LabelStage.DPID_ADMIN_EVALUATION if round_no == 1 else LabelStage.REAPPLICATION_EVALUATION
        self._task("label_admin_evaluation", "DPID", f"r{round_no}", s.instruction_due,
                   filed_on=filed_on, round=round_no)
        self.touch()

    def _set_step(self, step: LabelStage) -> None:
        self.s.step = step
        if self.s.round == 1:
            self.s.base_stage = step
        self.touch()

    def _require_step(self, step: LabelStage) -> None:
        if self.s.step is not step:
            current = self.s.step.value if self.s.step else self.s.stage.value
            refuse(f"expected step {step.value}, the application is at {current}")

    # --- L3 the DPID's evaluation ----------------------------------------------------------------------

    def check_admin_evaluation(self, msg: AdminEvaluation) -> None:
        self._require_step(LabelStage.DPID_ADMIN_EVALUATION)

    def record_admin_evaluation(self, evaluation: AdminEvaluation) -> None:
        s = self.s
        s.admin_evaluation = evaluation
        s.territory_opinions = []
        self._close_tasks([("label_admin_evaluation", f"r{s.round}")], "ADMIN_EVALUATION_RECORDED")
        self._task("label_slai_consolidation", self._slai(), f"r{s.round}", s.instruction_due,
                   consulted=self._consulted())
        for territory in self._consulted():  # G-L22: parallel consultations of the other SLAIs
            self._task("label_slai_consultation", assignee.slai(territory), f"r{s.round}-{territory}", s.instruction_due,
                       lead=self._slai())
        self._set_step(LabelStage.SLAI_CONSOLIDATION)

    def check_evaluation(self, msg: EvaluationSubmitted) -> None:
        self._require_step(LabelStage.DPID_ADMIN_EVALUATION)
        self._check_date(msg.evaluation_date, self.s.filed_on, "evaluation date")
        try:
            check_professionals(msg.professionals, self.rules)
        except LabelInputError as error:
            refuse(f"evaluation: {error}")

    def submit_evaluation(self, msg: EvaluationSubmitted) -> None:
        """The DPID's evaluation computed by the case from the attestations and the Annexe 2 grids."""
        proposal = self._evaluate(msg)
        self.s.evaluation = proposal
        self.record_admin_evaluation(AdminEvaluation(
            event_id=msg.event_id, actor=msg.actor, training_ok=proposal.training.passed,
            cer_average=proposal.cer_quality.average or 0.0, seed=proposal.seed,
            sampled_cer_ids=[cer for p in proposal.cer_quality.professionals for cer in p.sample],
            reasons=proposal.reasons))

    def _evaluate(self, msg: EvaluationSubmitted) -> LabelProposal:
        file = LabelFile(structure_id=self.s.structure_id, evaluation_date=msg.evaluation_date or self.today(),
                         seed=msg.seed, professionals=msg.professionals)
        return evaluate_structure(file, self.rules)

    # --- G-L22 consultation of the other territories ---------------------------------------------------

    def _consulted(self) -> list[str]:
        """The other territories, once each, without the lead's (the input is not trusted to be clean)."""
        s = self.s
        return list(dict.fromkeys(t for t in s.other_territories if t != s.territory))

    def _consultations_pending(self) -> list[str]:
        answered = {o.territory for o in self.s.territory_opinions}
        return [t for t in self._consulted() if t not in answered]

    def check_territory_opinion(self, msg: TerritoryOpinion) -> None:
        self._require_step(LabelStage.SLAI_CONSOLIDATION)
        if msg.territory not in self._consultations_pending():
            refuse(f"territory {msg.territory} is not awaiting consultation (consulted: "
                   f"{', '.join(self._consulted()) or 'none'})")

    def record_territory_opinion(self, msg: TerritoryOpinion) -> None:
        self.s.territory_opinions = self.s.territory_opinions + [msg]
        self._close_tasks([("label_slai_consultation", f"r{self.s.round}-{msg.territory}")],
                          "TERRITORY_OPINION_RECORDED")
        self.touch()

    # --- L4 consolidation and joint review -------------------------------------------------------------

    def check_slai_opinion(self, msg: SlaiOpinion) -> None:
        self._require_step(LabelStage.SLAI_CONSOLIDATION)
        if self.s.slai_opinion is not None:
            refuse("the SLAI opinion is already recorded")
        pending = self._consultations_pending()
        if pending:
            refuse(f"the lead SLAI consults the other territories first (G-L22): waiting for {', '.join(pending)}",
                   "ConsultationPending")

    def record_slai_opinion(self, msg: SlaiOpinion) -> None:
        admin = self.s.admin_evaluation
        if msg.training_ok is None or msg.cer_average is None:  # a confirmation keeps the DPID's figures
            assert admin is not None
            msg = msg.model_copy(update={"training_ok": admin.training_ok, "cer_average": admin.cer_average})
        self.s.slai_opinion = msg
        self._close_tasks([("label_slai_consolidation", f"r{self.s.round}")], "SLAI_OPINION_RECORDED")
        if msg.cer_average < self.rules.cer_quality_threshold:
            self._task("label_joint_review", "DPID", f"r{self.s.round}", self.s.instruction_due,
                       participants=["DPID", self._slai()])
            self._set_step(LabelStage.JOINT_REVIEW_BELOW_80)
        else:
            self.touch()

    def check_joint_review(self, msg: JointReview) -> None:
        self._require_step(LabelStage.JOINT_REVIEW_BELOW_80)
        if self.s.joint_review is not None:
            refuse("the joint review is already recorded")

    def record_joint_review(self, msg: JointReview) -> None:
        self.s.joint_review = msg
        self._close_tasks([("label_joint_review", f"r{self.s.round}")], "JOINT_REVIEW_RECORDED")
        self.touch()

    def _consolidated(self) -> SlaiOpinion | JointReview | None:
        s = self.s
        if s.step is LabelStage.JOINT_REVIEW_BELOW_80:
            return s.joint_review
        if s.step is LabelStage.SLAI_CONSOLIDATION:
            return s.slai_opinion
        return None
