"""Reorientation, personal review, non-compliance and EP, leaving RSA (T14, T19–T23, T25).
"""

from __future__ import annotations

from datetime import date

from domain import tasks as assignee
from domain.deadlines import service_deadline
from domain.pathway import (
    ANY_TIME_REASONS,
    DeadlineKind,
    DecideReorientation,
    DecisionKind,
    EpDecision,
    EpOutcome,
    EpReferral,
    EpReferralConfirmation,
    EXIT_KINDS,
    EXIT_STAGES,
    ExitInfo,
    ExitReason,
    LeftRsa,
    NonComplianceKind,
    NonComplianceReport,
    PathwayRuleError,
    PersonalReviewDecision,
    PersonalReviewOutcome,
    PersonalReviewRequest,
    PostExitChoice,
    Referent,
    ReorientationReason,
    RequestReorientation,
    SAME_SPHERE_REASONS,
    Sanction,
    SANCTION_OUTCOMES,
    Stage,
)
from domain.pathway_state import ExitPush
from domain.pathway_2025 import EP_REFERRAL_TASK, SANCTION_SERVICE, SANCTION_TASK, SERVICE_RSA_TASKS
from domain.pathway_constants import _not_future, _stage_in, MAX_SANCTIONS, PAUSE_EXIT, PAUSE_REVIEW, REFERENT_STAGES
from domain.pathway_core import PathwayCore
from domain.tasks import TaskStatus


class PathwayReorientation(PathwayCore):
    """Changes of route once accompanied, sanctions and exits."""

    # ------------------------------------------------------------------ reorientation (T14, T19, §3.5)

    def _at_cer_end(self, on: date) -> bool:
        s = self.s
        if s.stage is Stage.BILAN:
            return True
        return s.stage is Stage.CER_ACTIVE and s.cer is not None and on >= s.cer.end

    def _check_reason(self, reason: ReorientationReason, justification: str | None, *, at_cer_end: bool, exit_: bool) -> None:
        if reason in SAME_SPHERE_REASONS and not at_cer_end:
            end = self.s.cer.end.isoformat() if self.s.cer else "its end"
            raise PathwayRuleError(
                "REORIENTATION_SAME_SPHERE_ONLY_AT_CER_END",
                f"§3.5: a same-sphere reorientation for {reason.value} is only possible at the end of the CER "
                f"[000:228-232]; the CER runs until {end}",
            )
        if reason is ReorientationReason.AUTRE and not (justification or "").strip():
            raise PathwayRuleError("REORIENTATION_AUTRE_JUSTIFICATION", "§3.5: « autre motif » needs a written justification (G-B16)")
        if reason is ReorientationReason.HORS_COMPETENCE_CAF and self.s.stage is not Stage.CAF_FIRST_INTERVIEW:
            raise PathwayRuleError(
                "REORIENTATION_CAF_COMPETENCE_BEFORE_CER",
                "§3.2: « hors compétence CAF » is decided at the CAF first interview, before the CER [000:214]",
            )
        if reason is ReorientationReason.SITUATION_PERSONNELLE:
            raise PathwayRuleError(
                "REORIENTATION_PERSONAL_VIA_REVIEW",
                "§3.5: « prise en compte de la situation personnelle » goes through a personal-situation review [000:236]",
            )
        if exit_ and reason not in ANY_TIME_REASONS:
            raise PathwayRuleError(
                "EXIT_REASON_NOT_ALLOWED", "§3.5: an exit on request is for « reprise de vie maritale ou autre motif » [000:234]"
            )

    def check_reorientation(self, msg: RequestReorientation, today: date) -> None:
        _stage_in(self.s.stage, REFERENT_STAGES, "A reorientation request")
        _not_future(msg.requested_on, today, "Request date")
        self._check_reason(msg.reason, msg.justification, at_cer_end=self._at_cer_end(msg.requested_on), exit_=msg.exit)

    def request_reorientation(self, msg: RequestReorientation, today: date) -> None:
        self.s.held_stages.append(self.s.stage)
        self._open_reorientation(msg.reason, msg.exit, today, "REORIENTATION_REQUESTED")

    def _open_reorientation(self, reason: ReorientationReason, exit_: bool, today: date, cause: str) -> None:
        self.s.reorientation_reason = reason
        self.s.reorientation_is_exit = exit_
        self._move(Stage.REORIENTATION_REQUESTED, today, cause)
        self._task("DECIDE_REORIENTATION", self.slai, f"reo-{self.s.seq}", None,
                   {"reason": reason.value, "exit": str(exit_).lower()})

    def check_reorientation_decision(self, msg: DecideReorientation, today: date) -> None:
        _stage_in(self.s.stage, {Stage.REORIENTATION_REQUESTED}, "A reorientation decision")
        _not_future(msg.decided_on, today, "Decision date")
        if msg.approved and not self.s.reorientation_is_exit and (msg.target is None or not msg.structure_id):
            raise PathwayRuleError("REORIENTATION_TARGET_REQUIRED", "An approved reorientation names the new target and structure")

    def decide_reorientation(self, msg: DecideReorientation, today: date) -> None:
        s = self.s
        reason = s.reorientation_reason
        self._close_tasks(frozenset({"DECIDE_REORIENTATION"}), "REORIENTATION_DECIDED")
        self._decided(DecisionKind.REORIENTATION,
                      "REFUSED" if not msg.approved else "EXIT" if s.reorientation_is_exit else "APPROVED")
        if not msg.approved:
            self._release(today, "REORIENTATION_REFUSED")
        elif s.reorientation_is_exit:
            s.held_stages.clear()
            self._close(ExitReason.REPRISE_VIE_MARITALE if reason is ReorientationReason.REPRISE_VIE_MARITALE else ExitReason.AUTRE, today)
        else:
            assert msg.target is not None and msg.structure_id
            s.held_stages.pop() if s.held_stages else None
            self._designate(Referent(type=msg.target, structure_id=msg.structure_id, designated_on=msg.decided_on), today,
                            "REORIENTED")
        s.reorientation_reason = None
        s.reorientation_is_exit = False

    # ------------------------------------------------------------------ personal-situation review (T21)

    def check_personal_review(self, msg: PersonalReviewRequest, today: date) -> None:
        _stage_in(self.s.stage, REFERENT_STAGES, "A personal-situation review")
        _not_future(msg.requested_on, today, "Request date")

    def request_personal_review(self, msg: PersonalReviewRequest, today: date) -> None:
        s = self.s
        s.personal_review_requested_on = msg.requested_on
        self._pause(PAUSE_REVIEW, today)
        self._hold(Stage.PERSONAL_SITUATION_REVIEW, today, "PERSONAL_REVIEW_REQUESTED")
        due = service_deadline(msg.requested_on, months=self.rules.personal_situation_review_months)
        self._add_deadline(DeadlineKind.PERSONAL_REVIEW, msg.requested_on, due, self.slai)
        self._task("DECIDE_PERSONAL_REVIEW", self.slai, f"review-{s.seq}", due)

    def check_personal_review_decision(self, msg: PersonalReviewDecision, today: date) -> None:
        _stage_in(self.s.stage, {Stage.PERSONAL_SITUATION_REVIEW}, "A personal-review decision")
        _not_future(msg.decided_on, today, "Decision date")

    def decide_personal_review(self, msg: PersonalReviewDecision, today: date) -> None:
        self._decided(DecisionKind.PERSONAL_REVIEW, msg.outcome.value)
        self._settle(DeadlineKind.PERSONAL_REVIEW, msg.decided_on, today)
        self._close_tasks(frozenset({"DECIDE_PERSONAL_REVIEW", "ESCALATION_PERSONAL_REVIEW"}), "PERSONAL_REVIEW_DECIDED")
        self._resume(PAUSE_REVIEW, today)
        self.s.personal_review_requested_on = None
        if msg.outcome is PersonalReviewOutcome.RESUME:
            self._release(today, "PERSONAL_REVIEW_RESUME")
        else:
            self._open_reorientation(ReorientationReason.SITUATION_PERSONNELLE, False, today, "PERSONAL_REVIEW_REORIENT")

    # ------------------------------------------------------------------ non-compliance (T20)

    def _propose_ep(self, kind: NonComplianceKind, today: date) -> None:
        if self.s.ep is not None:
            return
        self.s.ep = EpReferral(kind=kind.value, proposed_on=today)
        self._task("CONFIRM_EP_REFERRAL", self._structure_assignee(self.accompanying), f"ep-{self.s.seq}", None,
                   {"kind": kind.value})

    def on_non_compliance(self, msg: NonComplianceReport, today: date) -> None:
        allowed = (REFERENT_STAGES | {Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER,
                                      Stage.AWAITING_ORIENTATION, Stage.ORIENTED_TO_PLATFORM})
        _stage_in(self.s.stage, allowed, "A non-compliance report")
        self._propose_ep(msg.kind, today)

    def check_ep_confirmation(self, msg: EpReferralConfirmation, today: date) -> None:
        if self.s.ep is None or self.s.ep.confirmed:
            raise PathwayRuleError("EP_NO_PROPOSAL", "No EP referral is awaiting confirmation")
        if self.s.stage in EXIT_STAGES or self.s.stage is Stage.NOT_SUBJECT:
            raise PathwayRuleError("STAGE_NOT_ALLOWED", f"EP referral not possible in stage {self.s.stage.value}")

    def confirm_ep(self, msg: EpReferralConfirmation, today: date) -> None:
        s = self.s
        assert s.ep is not None
        self._decided(DecisionKind.EP_REFERRAL, "CONFIRMED" if msg.confirmed else "DROPPED")
        self._close_tasks(frozenset({"CONFIRM_EP_REFERRAL"}), "EP_REFERRAL_" + ("CONFIRMED" if msg.confirmed else "DROPPED"))
        if not msg.confirmed:
            s.ep = None
            return
        s.ep.confirmed = True
        self._hold(Stage.NON_COMPLIANCE_EP, today, "EP_REFERRAL_CONFIRMED")
        self._task(EP_REFERRAL_TASK, assignee.ep(s.territory), f"ep-{s.seq}", None, {"kind": s.ep.kind})

    def on_ep_decision(self, msg: EpDecision, today: date) -> None:
        s = self.s
        _stage_in(s.stage, {Stage.NON_COMPLIANCE_EP, Stage.SANCTION_PROCEDURE}, "An EP decision")
        if msg.outcome in SANCTION_OUTCOMES:
            _not_future(msg.decided_on, today, "Sanction date")
            self._check_sanction(msg)
        elif msg.share_percent is not None or msg.months is not None:
            raise PathwayRuleError("EP_SANCTION_TERMS", f"{msg.outcome.value} carries no reduction share nor duration")
        self._decided(DecisionKind.EP, msg.outcome.value)
        self._close_tasks(frozenset({EP_REFERRAL_TASK}), "EP_DECIDED")
        if msg.outcome in SANCTION_OUTCOMES:
            self._record_sanction(msg, today)
        if msg.outcome in (EpOutcome.MAINTAIN, EpOutcome.REDUCTION, EpOutcome.SUSPENSION):
            s.ep = None
            if s.cer is not None:
                s.cer.missed_unexcused = 0
            self._release(today, f"EP_{msg.outcome.value}")
        elif msg.outcome is EpOutcome.SANCTION_PROCEDURE:
            self._move(Stage.SANCTION_PROCEDURE, today, "EP_SANCTION_PROCEDURE")
        else:  # EXIT, RADIATION: the exit for non-respect des obligations, pushed to MonJob62 (R15 [000:273])
            s.held_stages.clear()
            self._close(ExitReason.NON_RESPECT_OBLIGATIONS, today)

    @staticmethod
    def _check_sanction(msg: EpDecision) -> None:
        if msg.outcome is EpOutcome.RADIATION:
            if msg.share_percent is not None or msg.months is not None:
                raise PathwayRuleError("EP_SANCTION_TERMS", "A radiation carries no reduction share nor duration")
            return
        if msg.months is None:
            raise PathwayRuleError("EP_SANCTION_TERMS", f"A {msg.outcome.value.lower()} needs its duration in months")
        if msg.outcome is EpOutcome.REDUCTION and (msg.share_percent is None or msg.share_percent >= 100):
            raise PathwayRuleError("EP_SANCTION_TERMS", "A reduction needs its share, below 100 % (100 % is a suspension)")

    def _record_sanction(self, msg: EpDecision, today: date) -> None:
        """G-B14: recorded and sent as a task to the Département's RSA service, which has the CAF apply it; the
        system never changes rights itself."""
        s = self.s
        sanction = Sanction(outcome=msg.outcome, decided_on=msg.decided_on, share_percent=msg.share_percent,
                            months=msg.months, recorded_on=today)
        s.sanctions.append(sanction)
        if len(s.sanctions) > MAX_SANCTIONS:
            del s.sanctions[: len(s.sanctions) - MAX_SANCTIONS]
        details = {"outcome": msg.outcome.value, "decided_on": msg.decided_on.isoformat()}
        if msg.share_percent is not None:
            details["share_percent"] = str(msg.share_percent)
        if msg.months is not None:
            details["months"] = str(msg.months)
        self._task(SANCTION_TASK, SANCTION_SERVICE, f"sanction-{s.seq}", None, details)

    # ------------------------------------------------------------------ leaving RSA (T22, T23, T25)

    def on_left_rsa(self, msg: LeftRsa, today: date) -> None:
        s = self.s
        if s.stage in EXIT_STAGES or s.finished:
            raise PathwayRuleError("ALREADY_LEFT", "The person has already left RSA")
        s.exit = ExitInfo(end_of_payment=msg.end_of_payment_date, reason=msg.reason, noticed_on=today)
        # the rights ended: no allowance is left to reduce or suspend (a remobilisation's repayment stays owed)
        self._close_tasks(frozenset({SANCTION_TASK}), "LEFT_RSA", TaskStatus.CANCELLED)
        self._pause(PAUSE_EXIT, today, keep=EXIT_KINDS)
        s.held_stages.append(s.stage)
        window_end = service_deadline(msg.end_of_payment_date, months=self.rules.post_exit_months)
        if self.accompanying is None:
            self._close(ExitReason.SORTIE_RSA, today, reentry_until=window_end)
            return
        self._move(Stage.EXIT_CHOICE_PENDING, today, "LEFT_RSA")
        due = service_deadline(today, days=self.rules.post_exit_choice_days)
        owner = self._structure_assignee(self.accompanying)
        self._add_deadline(DeadlineKind.EXIT_CHOICE, today, due, owner)
        self._task("CHOOSE_AFTER_EXIT", owner, f"exit-{s.seq}", due, {"end_of_payment": msg.end_of_payment_date.isoformat()})

    def check_exit_choice(self, msg: PostExitChoice, today: date) -> None:
        _stage_in(self.s.stage, {Stage.EXIT_CHOICE_PENDING}, "The post-exit choice")
        _not_future(msg.decided_on, today, "Choice date")

    def choose_after_exit(self, msg: PostExitChoice, today: date) -> None:
        s = self.s
        assert s.exit is not None
        self._decided(DecisionKind.POST_EXIT, "CONTINUE" if msg.continue_accompaniment else "CLOSE")
        s.exit.continue_accompaniment = msg.continue_accompaniment
        self._settle(DeadlineKind.EXIT_CHOICE, msg.decided_on, today)
        self._close_tasks(frozenset({"CHOOSE_AFTER_EXIT"}), "EXIT_CHOICE_RECEIVED")
        window_end = service_deadline(s.exit.end_of_payment, months=self.rules.post_exit_months)
        if msg.continue_accompaniment and window_end >= today:
            self._move(Stage.POST_EXIT_ACCOMPANIMENT, today, "POST_EXIT_CONTINUE")
            self._add_deadline(DeadlineKind.POST_EXIT_END, s.exit.end_of_payment, window_end,
                               self._structure_assignee(self.accompanying))
        else:
            self._close(ExitReason.SORTIE_RSA, today, reentry_until=window_end)

    def _reenter(self, today: date) -> None:
        """T25: back on RSA within the window: same referent (référent unique), clocks resumed."""
        s = self.s
        self._cancel(EXIT_KINDS, today)
        self._close_tasks(frozenset({"CHOOSE_AFTER_EXIT"}), "RSA_REENTRY")
        self._resume(PAUSE_EXIT, today)
        s.exit = None
        s.exit_reason = None
        s.closed_on = None
        self._release(today, "RSA_REENTRY")

    def _close(self, reason: ExitReason, today: date, *, reentry_until: date | None = None) -> None:
        """The accompaniment ends: what its open tasks asked for is moot (a re-entry in the window starts its
        clocks again), except the RSA service's decisions to apply."""
        s = self.s
        self._close_tasks(None, "PATHWAY_CLOSED", TaskStatus.CANCELLED, keep=SERVICE_RSA_TASKS)
        s.exit_reason = reason
        s.closed_on = today
        self._push("EXIT", f"{s.seq}", ExitPush(
            person_id=s.person_id, ref=f"exit-{s.seq}", reason=reason, closed_on=today,
            structure_id=self.accompanying.structure_id if self.accompanying else None))
        self._move(Stage.CLOSED, today, f"EXIT_{reason.value}")
        if reentry_until is not None and reentry_until >= today:
            self._add_deadline(DeadlineKind.REENTRY_WINDOW, today, reentry_until, self.slai)
        else:
            self._finish(today)

    def _finish(self, today: date) -> None:
        self._cancel(frozenset(DeadlineKind), today)
        self._close_tasks(None, "PATHWAY_CLOSED", TaskStatus.CANCELLED, keep=SERVICE_RSA_TASKS)
        self.s.finished = True
