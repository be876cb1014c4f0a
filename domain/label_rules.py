"""A granted Label référent RSA (L15–L20, W1–W3) as a pure aggregate: the labelled structure's life.

:class:`Label` wraps a :class:`LabelState`: valid 5 years from the decision (G-L15), with a yearly charte qualité
+ training review and reminders (L15, G-L17), renewal requested in January–July of the last year with the label
kept valid until the renewal decision (L16, G-L16), W1 lapse at once, W2 withdrawal after a 1-month
contradictory phase (G-L18), W3 six months of SLAI support then a new study (``domain.label_withdrawal``), every
decision notified (``domain.label_notices``). ``check_*`` refuse (``PathwayRuleError``); the other methods
append tasks, letters and the loss notice to ``outbox``. A granted renewal sets ``renewed`` (the workflow
continues as new with the next 5-year cycle); a lost label notifies every pathway of the structure.
"""

from __future__ import annotations

from datetime import date, datetime

from domain import label as rules_of
from domain.deadlines import add_months, deadline_instant
from domain.label import LabelStage
from domain.label_contract import LabelLostNotice, LabelSnapshot, LetterDates
from domain.label_events import LabelLossReason
from domain.label_letters import LetterKind
from domain.label_messages import AnnualReview, MissionEnded, RenewalDecision, RenewalRequest
from domain.label_outbox import NotifyLabelLost, Timed, refuse
from domain.label_state import FINAL_STAGES, LabelState, ValidityPeriod
from domain.label_withdrawal import LabelWithdrawal
from domain.tasks import TaskStatus


#: A renewal granted on appeal and a lost label close the annual reviews still awaited (G-L17): a new effect
#: (an activity) in a running label, so asked through ``workflow.patched``.
REVIEWS_CLOSED = "label-closes-moot-annual-reviews"


class Label(LabelWithdrawal):
    """The rules applied to one label's state (mutated in place)."""

    s: LabelState

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.renewed = False

    def task_key(self, kind: str, ref: str) -> str:
        return f"{self.workflow_id}:{self.s.decided_on.isoformat()}:{kind}:{ref}"

    def _require(self, *stages: LabelStage) -> None:
        if self.s.stage not in stages:
            refuse(f"the label is {self.s.stage.value}; expected {' or '.join(s.value for s in stages)}")

    def start(self) -> None:
        """The run begins: L20, the official delivery at the territory's ceremony of the decision's year."""
        self._ceremony(self.s.decided_on)
        self.touch()

    def _ceremony(self, decided_on: date) -> None:
        year = rules_of.ceremony_year(decided_on)
        if year not in self.s.ceremony_years:
            self.s.ceremony_years = self.s.ceremony_years + [year]
            self._task("label_ceremony", self._slai(), str(year), date(year, 12, 31), year=year)

    def finished(self) -> bool:
        return (self.s.stage in FINAL_STAGES and self.notices_settled()) or self.renewed

    def _appeal_granted(self, on: date) -> None:
        """A recours gracieux granted or a judgment annulling the decision: the label is back."""
        s = self.s
        if s.appeal_of == "renewal_refusal":
            if s.stage not in FINAL_STAGES:  # a lost label's reviews were closed when it ended
                self._close_reviews("RENEWAL_DECIDED", TaskStatus.DONE)
            self._renew(on)
        else:
            s.withdrawal = s.remediation = None
        s.stage, s.ended_on, s.end_reason = LabelStage.LABELLED, None, None
        self.touch()

    def snapshot(self) -> LabelSnapshot:
        s = self.s
        return LabelSnapshot(
            label_key=f"{self.workflow_id}:{s.first_granted_on.isoformat()}", workflow_id=self.workflow_id,
            structure_id=s.structure_id, territory=s.territory, status=s.stage.value, granted_on=s.first_granted_on,
            expires_on=s.expires_on, ended_on=s.ended_on, end_reason=s.end_reason, version=s.version)

    # --- deadlines -------------------------------------------------------------------------------------

    def timed(self) -> Timed:
        return self.lifecycle_timed() + self.notice_timed()

    def lifecycle_timed(self) -> Timed:
        s, rules = self.s, self.rules
        if s.stage in FINAL_STAGES:
            return []
        events: Timed = []
        for anniversary in rules_of.annual_reviews(s.decided_on, s.expires_on):
            if anniversary not in s.reviews_requested:
                events.append((deadline_instant(rules_of.day_start(anniversary)),
                               lambda a=anniversary: self._request_review(a)))
            elif anniversary not in s.reviews_received and anniversary not in s.review_reminders_sent:
                events.append((deadline_instant(rules_of.day_start(add_months(anniversary, 1))),
                               lambda a=anniversary: self._review_reminder(a)))
        if s.renewal_requested_on is None and s.renewal_refused_on is None:
            for day in rules_of.renewal_reminders(s.expires_on, rules):
                if day not in s.renewal_reminders_sent:
                    events.append((deadline_instant(rules_of.day_start(day)), lambda d=day: self._renewal_reminder(d)))
        if s.renewal_requested_on is None:
            events.append((deadline_instant(rules_of.day_start(s.expires_on)), self._expire))
        if s.withdrawal is not None and not s.withdrawal.decision_task_sent:
            events.append((deadline_instant(s.withdrawal.observation_deadline), self._withdrawal_decision_due))
        if s.remediation is not None and not s.remediation.study_task_sent:
            events.append((deadline_instant(rules_of.day_start(s.remediation.ends_on)), self._remediation_over))
        return events

    def fire(self, now: datetime) -> None:
        """The notices' deadlines first, then the lifecycle's while the label is not lost."""
        self.fire_due(self.notice_timed(), now)
        self.fire_due(self.lifecycle_timed(), now, still=lambda: self.s.stage not in FINAL_STAGES)

    def _request_review(self, anniversary: date) -> None:
        self.s.reviews_requested = self.s.reviews_requested + [anniversary]
        self._task("label_annual_review", "DPID", anniversary.isoformat(), add_months(anniversary, 1),
                   requested=["charte_qualite", "training_status"])
        self.touch()

    def _review_reminder(self, anniversary: date) -> None:
        self.s.review_reminders_sent = self.s.review_reminders_sent + [anniversary]
        self._task("label_annual_review_reminder", self._slai(), anniversary.isoformat(), None)
        self.touch()

    def _renewal_reminder(self, day: date) -> None:
        self.s.renewal_reminders_sent = self.s.renewal_reminders_sent + [day]
        first, last = rules_of.renewal_window(self.s.expires_on, self.rules)
        self._task("label_renewal_reminder", self._slai(), day.isoformat(), last,
                   window_first=first, window_last=last)
        self.touch()

    def _expire(self) -> None:
        self._end(LabelStage.EXPIRED, LabelLossReason.EXPIRED, self.s.expires_on)

    def _withdrawal_decision_due(self) -> None:
        assert self.s.withdrawal is not None
        self.s.withdrawal.decision_task_sent = True
        self._task("label_withdrawal_decision", "DPID", self.s.withdrawal.notified_on.isoformat(), None)
        self.touch()

    def _remediation_over(self) -> None:
        assert self.s.remediation is not None
        self.s.remediation.study_task_sent = True
        self._task("label_remediation_study", "DPID", self.s.remediation.started_on.isoformat(), None,
                   participants=["DPID", self._slai()])
        self.touch()

    def _end(self, stage: LabelStage, reason: LabelLossReason, effective: date) -> None:
        """The label is lost: record it and notify every pathway whose referent belongs to the structure."""
        s = self.s
        self._close_reviews("LABEL_ENDED", TaskStatus.CANCELLED)  # no charte qualité is asked of a lost label
        s.stage, s.ended_on, s.end_reason = stage, effective, reason.value
        self.outbox.append(NotifyLabelLost(notice=LabelLostNotice(
            label_workflow_id=self.workflow_id, structure_id=s.structure_id, reason=reason.value,
            effective_date=effective)))
        self.touch()

    # --- L15 annual review -----------------------------------------------------------------------------

    def check_annual_review(self, msg: AnnualReview) -> None:
        self._require(LabelStage.LABELLED, LabelStage.RENEWAL_INSTRUCTION)
        if msg.anniversary not in self.s.reviews_requested:
            refuse(f"no annual review was requested for {msg.anniversary.isoformat()}")
        if msg.anniversary in self.s.reviews_received:
            refuse(f"the review of {msg.anniversary.isoformat()} is already recorded")

    def record_annual_review(self, msg: AnnualReview) -> None:
        s = self.s
        s.reviews_received = s.reviews_received + [msg.anniversary]
        self._close_tasks([("label_annual_review", msg.anniversary.isoformat()),
                           ("label_annual_review_reminder", msg.anniversary.isoformat())], "ANNUAL_REVIEW_RECORDED")
        if not (msg.charte_ok and msg.training_ok):  # G-L17: commitments / training → W2
            grounds = msg.reasons or ["annual review: charte qualité or training status not satisfied"]
            self._open_withdrawal(self.today(), grounds)
        elif not msg.cer_quality_ok:  # G-L17: CER quality → W3
            self._open_remediation(self.today(), msg.reasons)

    # --- L16 renewal -----------------------------------------------------------------------------------

    def check_renewal_request(self, msg: RenewalRequest) -> None:
        self._require(LabelStage.LABELLED)
        requested_on = self._check_date(msg.requested_on, self.s.decided_on, "renewal request date")
        first, last = rules_of.renewal_window(self.s.expires_on, self.rules)
        if not first <= requested_on <= last:
            refuse(f"renewal requests are accepted from {first.isoformat()} to {last.isoformat()} "
                   f"(requested on {requested_on.isoformat()}); outside the window, file a new application",
                   "OutsideRenewalWindow")

    def request_renewal(self, msg: RenewalRequest) -> None:
        s = self.s
        self._close_tasks([("label_renewal_reminder", day.isoformat()) for day in s.renewal_reminders_sent],
                          "RENEWAL_REQUESTED")
        s.renewal_requested_on = msg.requested_on or self.today()
        s.stage = LabelStage.RENEWAL_INSTRUCTION
        self._task("label_renewal_instruction", "DPID", s.renewal_requested_on.isoformat(),
                   rules_of.instruction_due(s.renewal_requested_on, self.rules),
                   cer_per_professional=self.rules.renewal_cer_per_professional, procedure="allégée")

    def check_renewal_decision(self, msg: RenewalDecision) -> None:
        self._require(LabelStage.RENEWAL_INSTRUCTION)
        self._check_date(msg.decided_on, self.s.renewal_requested_on, "renewal decision date")
        if msg.outcome == "refuse" and not msg.reasons:
            refuse("a refusal must state its reasons")

    def decide_renewal(self, msg: RenewalDecision) -> None:
        s = self.s
        decided_on = msg.decided_on or self.today()
        if s.renewal_requested_on is not None:
            self._close_tasks([("label_renewal_instruction", s.renewal_requested_on.isoformat())]
                              + (self._open_reviews() if msg.outcome == "grant" else []), "RENEWAL_DECIDED")
        if msg.outcome == "grant":
            self._renew(decided_on)
        else:
            s.renewal_requested_on = None
            s.renewal_refused_on = decided_on
            s.stage = LabelStage.LABELLED
            self._notify(LetterKind.RENEWAL_REFUSAL, decided_on, msg.reasons,
                         LetterDates(valid_until=rules_of.day_start(max(s.expires_on, decided_on))),
                         appeal_of="renewal_refusal")
            if decided_on >= s.expires_on:  # kept valid until the decision: it ends now
                s.expires_on = decided_on
                self._expire()
        self.touch()

    def _open_reviews(self) -> list[tuple[str, str]]:
        """The cycle's annual reviews still awaited (and their reminders): a granted renewal, instructed on the
        updated charte qualité and attestations (G-L16), answers what they asked (G-L17). Closed in the same
        closure as the instruction task, so the renewal adds no command to a running label."""
        s = self.s
        waiting = [a for a in s.reviews_requested if a not in s.reviews_received]
        return ([("label_annual_review", a.isoformat()) for a in waiting]
                + [("label_annual_review_reminder", a.isoformat()) for a in waiting if a in s.review_reminders_sent])

    def _close_reviews(self, reason: str, status: TaskStatus) -> None:
        """The reviews still awaited where a new effect closes them (a renewal granted on appeal, a lost label):
        behind ``REVIEWS_CLOSED``, so a label that ran without it replays."""
        reviews = self._open_reviews()
        if reviews and self._patched(REVIEWS_CLOSED):
            self._close_tasks(reviews, reason, status)

    def _renew(self, decided_on: date) -> None:
        """A new 5-year cycle from ``decided_on`` (the workflow continues as new with it)."""
        s = self.s
        s.past_periods = s.past_periods + [ValidityPeriod(start=s.decided_on, end=decided_on)]
        s.decided_on = decided_on
        s.expires_on = rules_of.label_expires_on(decided_on, self.rules)
        s.stage = LabelStage.LABELLED
        s.renewal_requested_on = s.renewal_refused_on = None
        s.reviews_requested, s.reviews_received, s.review_reminders_sent = [], [], []
        s.renewal_reminders_sent = []
        self._notify(LetterKind.RENEWAL_GRANT, decided_on, [], LetterDates(valid_until=rules_of.day_start(s.expires_on)))
        self._ceremony(decided_on)
        self.renewed = True

    # --- W1 lapse --------------------------------------------------------------------------------------

    def check_end_mission(self, msg: MissionEnded) -> None:
        if self.s.stage in FINAL_STAGES:
            refuse(f"the label is already {self.s.stage.value}")
        self._check_date(msg.ended_on, self.s.decided_on, "end of mission date")

    def end_mission(self, msg: MissionEnded) -> None:
        ended_on = msg.ended_on or self.today()
        self._notify(LetterKind.LAPSE, ended_on, [], LetterDates(effective_on=ended_on))
        self._end(LabelStage.LAPSED, LabelLossReason.LAPSED, ended_on)
