"""CAF route (T6, T13, T14), flow facts without a stage, household, perdus de vue and label losses.
"""

from __future__ import annotations

from datetime import date

from domain.flux import MOTISUSVERSRSA
from domain.label_events import LabelLossReason, StructureLabelLost
from domain.pathway import (
    AppointmentKind,
    CafFirstInterview,
    CafSaisine,
    CafSaisineDecision,
    Convocation,
    ConvocationOutcome,
    DeadlineKind,
    DecisionKind,
    EXIT_STAGES,
    HouseholdChange,
    HouseholdMember,
    HouseholdMemberChanged,
    LabelLoss,
    LostFromViewConvocation,
    NonComplianceKind,
    NotSubjectConfirmed,
    OrientationTarget,
    PathwayRuleError,
    PaymentResumed,
    PaymentSuspended,
    PaymentSuspensionInfo,
    PRE_REFERENT_STAGES,
    Referent,
    ReorientationReason,
    Stage,
)
from domain.pathway_2025 import SANCTION_APPLIED_SUSPENSION, SANCTION_TASK
from domain.pathway_caf import check_caf_saisine
from domain.pathway_constants import (
    _not_future,
    _stage_in,
    APPOINTMENT_TASKS,
    LOST_FROM_VIEW_STAGES,
    MAX_CONVOCATIONS,
    MAX_HOUSEHOLD,
    MAX_LABEL_LOSSES,
    ORIENTATION_TASKS,
    PLATFORM_CLOCKS,
)
from domain.pathway_core import PathwayCore


class PathwayFlowFacts(PathwayCore):
    """Facts arriving from CAF flows and partners that do not follow the main route."""

    # ------------------------------------------------------------------ CAF route (T6, T13, T14; §3.2–§3.3)

    def check_caf_saisine(self, msg: CafSaisine, today: date) -> None:
        _stage_in(self.s.stage, PRE_REFERENT_STAGES, "A CAF saisine")
        _not_future(msg.requested_on, today, "Saisine date")
        check_caf_saisine(msg, self.rules)

    def caf_saisine(self, msg: CafSaisine, today: date) -> None:
        s = self.s
        s.caf_saisine_mode = msg.mode.value
        s.caf_structure_id = msg.caf_structure_id
        s.rsa_majore = True
        self._hold(Stage.CAF_SAISINE, today, f"CAF_SAISINE_{msg.mode.value}")
        self._task("VALIDATE_CAF_SAISINE", self.slai, f"caf-{s.seq}", None, {"mode": msg.mode.value})

    def check_caf_saisine_decision(self, msg: CafSaisineDecision, today: date) -> None:
        _stage_in(self.s.stage, {Stage.CAF_SAISINE}, "A CAF saisine decision")
        _not_future(msg.decided_on, today, "Decision date")

    def decide_caf_saisine(self, msg: CafSaisineDecision, today: date) -> None:
        s = self.s
        self._decided(DecisionKind.CAF_SAISINE, "ACCEPTED" if msg.accepted else "REFUSED")
        self._close_tasks(frozenset({"VALIDATE_CAF_SAISINE"}), "CAF_SAISINE_DECIDED")
        if not msg.accepted:
            s.caf_saisine_mode = None
            self._release(today, "CAF_SAISINE_REFUSED")
            return
        s.held_stages.pop() if s.held_stages else None
        self._settle(DeadlineKind.ORIENTATION, msg.decided_on, today)
        # the CAF social worker makes the diagnostic, not the platform [000:204]
        self._cancel(PLATFORM_CLOCKS | {DeadlineKind.ORIENTATION_REMINDER}, today)
        self._close_tasks(ORIENTATION_TASKS | APPOINTMENT_TASKS, "ORIENTATION_RECORDED")
        self._designate(Referent(type=OrientationTarget.CAF, structure_id=s.caf_structure_id or "",
                                 designated_on=msg.decided_on), today, "CAF_SAISINE_ACCEPTED")

    def check_caf_interview(self, msg: CafFirstInterview, today: date) -> None:
        _stage_in(self.s.stage, {Stage.CAF_FIRST_INTERVIEW}, "The CAF first interview")
        _not_future(msg.held_on, today, "Interview date")

    def caf_first_interview(self, msg: CafFirstInterview, today: date) -> None:
        self._appointment_fact(msg.event_id, AppointmentKind.HELD, msg.held_on, today)
        self._decided(DecisionKind.CAF_FIRST_INTERVIEW,
                      "WITHIN_COMPETENCE" if msg.within_caf_competence else "OUTSIDE_COMPETENCE")
        if msg.within_caf_competence:
            self._move(Stage.CER_DRAFTING, today, "CAF_FIRST_INTERVIEW_HELD")
        else:
            self.s.held_stages.append(self.s.stage)
            self._open_reorientation(ReorientationReason.HORS_COMPETENCE_CAF, False, today, "CAF_NOT_COMPETENT")

    # ------------------------------------------------------------------ flow facts without a stage (issue 5)

    def on_payment_suspended(self, msg: PaymentSuspended, today: date) -> None:
        """Recorded, nothing else: the duties go on while the payment is suspended."""
        reasons = sorted(set(msg.reasons))
        unknown = [r for r in reasons if r not in MOTISUSVERSRSA]
        if unknown:
            raise PathwayRuleError("PAYMENT_SUSPENSION_UNKNOWN_REASON", f"MOTISUSVERSRSA code(s) {', '.join(unknown)} unknown")
        self.s.payment_suspension = PaymentSuspensionInfo(reasons=reasons, since=msg.since,
                                                          right_questioned=msg.right_questioned, noticed_on=today)
        if SANCTION_APPLIED_SUSPENSION in reasons:  # the CAF applied the sanction the RSA service was asked to
            self._close_tasks(frozenset({SANCTION_TASK}), "SANCTION_APPLIED")
        self._note(today, "PAYMENT_SUSPENDED:" + ("+".join(reasons) or "NO_REASON"))

    def on_payment_resumed(self, msg: PaymentResumed, today: date) -> None:
        if self.s.payment_suspension is None:
            raise PathwayRuleError("PAYMENT_NOT_SUSPENDED", "The payment is not suspended")
        self.s.payment_suspension = None
        self._note(today, "PAYMENT_RESUMED")

    def on_not_subject_confirmed(self, msg: NotSubjectConfirmed, today: date) -> None:
        """G-B8: the clocks paused on the first "non soumis" flow; once confirmed by consecutive flows, the
        accompanying structure (or the SLAI) decides whether to end the accompaniment — never the system."""
        s = self.s
        if s.stage is not Stage.NOT_SUBJECT:
            raise PathwayRuleError("NOT_SUBJECT_CONFIRMATION_STALE", f"the person is subject again (stage {s.stage.value})")
        if s.not_subject_confirmed_since is not None:
            return
        s.not_subject_confirmed_since = msg.since
        self._note(today, "NOT_SUBJECT_CONFIRMED")
        self._task("REVIEW_NOT_SUBJECT", self._structure_assignee(self.accompanying), f"not-subject-{s.seq}", None,
                   {"since": msg.since.isoformat(), "flows": str(msg.flows)})

    # ------------------------------------------------------------------ household (G-B20)

    def on_household_member(self, msg: HouseholdMemberChanged, today: date) -> None:
        """Another person of the same file entered, left, or was there: kept on this case by pathway id (one
        pathway per person, linked by household, G-B20); an entry or exit is a line in the stage history."""
        s = self.s
        if msg.member_pathway_id == self.workflow_id:
            raise PathwayRuleError("HOUSEHOLD_SELF", "a person is not their own household member")
        known = next((m for m in s.household if m.pathway_id == msg.member_pathway_id), None)
        if known is not None and msg.on < known.since:
            return  # an older fact than the one kept
        if known is None:
            known = HouseholdMember(pathway_id=msg.member_pathway_id, status=msg.change, since=msg.on)
            s.household.append(known)
            if len(s.household) > MAX_HOUSEHOLD:
                del s.household[: len(s.household) - MAX_HOUSEHOLD]
        known.status, known.since, known.role = msg.change, msg.on, msg.role or known.role
        if msg.change is not HouseholdChange.PRESENT:
            self._note(today, f"HOUSEHOLD_MEMBER_{msg.change.value}")

    # ------------------------------------------------------------------ perdus de vue (T26, R18, G-B19)

    def on_lost_from_view_convocation(self, msg: LostFromViewConvocation, today: date) -> None:
        """Record the convocation and its outcome; an unexcused absence proposes the EP referral (T20), which a
        person confirms. The orientation itself stays a decision of the services."""
        s = self.s
        _not_future(msg.convoked_on, today, "Convocation date")
        known = next((c for c in s.convocations if c.convocation_id == msg.convocation_id), None)
        if known is None:
            _stage_in(s.stage, LOST_FROM_VIEW_STAGES, "A perdus-de-vue convocation")
            known = Convocation(convocation_id=msg.convocation_id, convoked_on=msg.convoked_on)
            s.convocations.append(known)
            if len(s.convocations) > MAX_CONVOCATIONS:
                del s.convocations[: len(s.convocations) - MAX_CONVOCATIONS]
        elif (known.convoked_on, known.appointment_date, known.outcome) == (
                msg.convoked_on, msg.appointment_date, msg.outcome or known.outcome):
            return
        newly_missed = msg.outcome is ConvocationOutcome.MISSED and known.outcome is not ConvocationOutcome.MISSED
        known.convoked_on = msg.convoked_on
        known.appointment_date = msg.appointment_date
        known.outcome = msg.outcome or known.outcome
        known.version = self._bump()
        pending = s.outbox.convocations
        pending[:] = [c for c in pending if c.convocation_id != known.convocation_id]
        pending.append(known.model_copy())
        if newly_missed and s.stage not in EXIT_STAGES and s.stage is not Stage.NOT_SUBJECT:
            self._propose_ep(NonComplianceKind.UNEXCUSED_ABSENCE, today)

    # ------------------------------------------------------------------ label of the referent's structure (issue 4)

    def on_structure_label_lost(self, msg: StructureLabelLost, today: date) -> None:
        """The accompanying structure lost its label: recorded, and the SLAI gets a reorientation task. Nothing
        else changes (the referent stays until the SLAI decides). Another structure's loss is ignored."""
        s = self.s
        ref = self.accompanying
        if ref is None or ref.structure_id != msg.structure_id:
            return
        try:
            reason = LabelLossReason(msg.reason)
        except ValueError:
            raise PathwayRuleError("LABEL_LOSS_UNKNOWN_REASON", "unknown label loss reason") from None
        s.label_losses.append(LabelLoss(structure_id=msg.structure_id, reason=reason.value,
                                        effective_date=msg.effective_date, noticed_on=today))
        if len(s.label_losses) > MAX_LABEL_LOSSES:
            del s.label_losses[: len(s.label_losses) - MAX_LABEL_LOSSES]
        self._note(today, f"REFERENT_LABEL_{reason.name}")
        self._task("REORIENTATION_LABEL_LOST", self.slai, f"label-{s.seq}", None,
                   {"structure_id": msg.structure_id, "reason": reason.value,
                    "effective_date": msg.effective_date.isoformat(), "referent_type": ref.type.value})
