"""A granted Label référent RSA (id ``labelled-<structure id>``): L15–L20 and withdrawal cases W1–W3.

Valid 5 years from the decision (G-L15), with a yearly charte qualité + training review and reminders
(L15, G-L17), renewal requested in January–July of the last year with the label kept valid until the
renewal decision (L16, G-L16), W1 lapse at once, W2 withdrawal after a 1-month contradictory phase
(G-L18), W3 six months of SLAI support then a new study. ``is_labelled(structure, date)`` answers funding
checks. A renewal granted continues as new with the next 5-year cycle; a lost label (lapsed, withdrawn,
expired) signals every pathway of the structure, then the workflow ends.
"""

from datetime import date, datetime, timedelta
from typing import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import label as rules_of
    from domain.deadlines import add_months, deadline_instant
    from domain.label import LabelStage
    from domain.label_state import FINAL_STAGES, LabelState, ValidityPeriod
    from domain.label_contract import ACT_NOTIFY_PATHWAYS_LABEL_LOST, ACT_RECORD_LABEL, LABEL_WORKFLOW, LabelSnapshot
    from domain.label_contract import LabelMessages as LM
    from domain.label_events import LabelLossReason
    from domain.label_letters import LetterKind
    from domain.label_messages import (
        AnnualReview,
        IsLabelledQuery,
        MissionEnded,
        RenewalDecision,
        RenewalRequest,
    )

    from workflows.search_attributes import STRUCTURE_ID

from workflows.label_case import ACTIVITY_OPTIONS, once, reject, unless_seen
from workflows.label_withdrawal import LabelWithdrawal

__all__ = ["FINAL_STAGES", "LabelState", "LabelWorkflow", "LABEL_WORKFLOW"]


@workflow.defn(name=LABEL_WORKFLOW)
class LabelWorkflow(LabelWithdrawal):
    @workflow.init
    def __init__(self, state: LabelState) -> None:
        self.state = state
        self._init_case()
        self._renewed = False

    def _task_key(self, kind: str, ref: str) -> str:
        return f"{self._wid()}:{self.state.decided_on.isoformat()}:{kind}:{ref}"

    def _require(self, *stages: LabelStage) -> None:
        if self.state.stage not in stages:
            reject(f"the label is {self.state.stage.value}; expected {' or '.join(s.value for s in stages)}")

    # --- run ---------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, state: LabelState) -> LabelState:
        workflow.upsert_search_attributes([STRUCTURE_ID.value_set(self.state.structure_id)])
        year = rules_of.ceremony_year(self.state.decided_on)
        if year not in self.state.ceremony_years:  # L20: official delivery at the territory's yearly ceremony
            self.state.ceremony_years = self.state.ceremony_years + [year]
            self._task("label_ceremony", self._slai(), str(year), date(year, 12, 31), year=year)
        self._touch()
        await self._serve(lambda: (self.state.stage in FINAL_STAGES and self._notices_settled()) or self._renewed)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain()
        if self._renewed:
            workflow.continue_as_new(self.state)
        self._publish(None)
        return self.state

    async def _drain(self) -> None:
        while self._effects:
            await self._effects.pop(0)()
        if self._recorded_version != self.state.version:
            self._recorded_version = self.state.version
            s = self.state
            snapshot = LabelSnapshot(
                label_key=f"{self._wid()}:{s.first_granted_on.isoformat()}", workflow_id=self._wid(),
                structure_id=s.structure_id, territory=s.territory, status=s.stage.value,
                granted_on=s.first_granted_on, expires_on=s.expires_on, ended_on=s.ended_on,
                end_reason=s.end_reason, version=s.version,
            )
            await workflow.execute_activity(ACT_RECORD_LABEL, snapshot, **ACTIVITY_OPTIONS)

    def _appeal_granted(self, on: date) -> None:
        """A recours gracieux granted or a judgment annulling the decision: the label is back."""
        s = self.state
        if s.appeal_of == "renewal_refusal":
            self._renew(on)
        else:
            s.withdrawal = s.remediation = None
        s.stage, s.ended_on, s.end_reason = LabelStage.LABELLED, None, None
        self._touch()

    # --- timers ------------------------------------------------------------------------------------------

    def _timed(self) -> list[tuple[datetime, Callable[[], None]]]:
        return self._lifecycle_timed() + self._notice_timed()

    def _lifecycle_timed(self) -> list[tuple[datetime, Callable[[], None]]]:
        s, rules = self.state, self.rules
        if s.stage in FINAL_STAGES:
            return []
        events: list[tuple[datetime, Callable[[], None]]] = []
        for anniversary in rules_of.annual_reviews(s.decided_on, s.expires_on):
            if anniversary not in s.reviews_requested:
                events.append((deadline_instant(rules_of.day_start(anniversary)),
                               lambda a=anniversary: self._request_review(a)))
            elif anniversary not in s.reviews_received and anniversary not in s.review_reminders_sent:
                reminder_day = add_months(anniversary, 1)
                events.append((deadline_instant(rules_of.day_start(reminder_day)),
                               lambda a=anniversary: self._review_reminder(a)))
        if s.renewal_requested_on is None and s.renewal_refused_on is None:
            for day in rules_of.renewal_reminders(s.expires_on, rules):
                if day not in s.renewal_reminders_sent:
                    events.append((deadline_instant(rules_of.day_start(day)),
                                   lambda d=day: self._renewal_reminder(d)))
        if s.renewal_requested_on is None:
            events.append((deadline_instant(rules_of.day_start(s.expires_on)), self._expire))
        if s.withdrawal is not None and not s.withdrawal.decision_task_sent:
            events.append((deadline_instant(s.withdrawal.observation_deadline), self._withdrawal_decision_due))
        if s.remediation is not None and not s.remediation.study_task_sent:
            events.append((deadline_instant(rules_of.day_start(s.remediation.ends_on)), self._remediation_over))
        return events

    def _on_time(self) -> None:
        now = workflow.now()
        for instant, fire in sorted(self._notice_timed(), key=lambda e: e[0]):
            if instant <= now:
                fire()
        for instant, fire in sorted(self._lifecycle_timed(), key=lambda e: e[0]):
            if instant <= now and self.state.stage not in FINAL_STAGES:
                fire()


    def _request_review(self, anniversary: date) -> None:
        self.state.reviews_requested = self.state.reviews_requested + [anniversary]
        self._task("label_annual_review", "DPID", anniversary.isoformat(), add_months(anniversary, 1),
                   requested=["charte_qualite", "training_status"])
        self._touch()

    def _review_reminder(self, anniversary: date) -> None:
        self.state.review_reminders_sent = self.state.review_reminders_sent + [anniversary]
        self._task("label_annual_review_reminder", self._slai(), anniversary.isoformat(), None)
        self._touch()

    def _renewal_reminder(self, day: date) -> None:
        self.state.renewal_reminders_sent = self.state.renewal_reminders_sent + [day]
        first, last = rules_of.renewal_window(self.state.expires_on, self.rules)
        self._task("label_renewal_reminder", self._slai(), day.isoformat(), last,
                   window_first=first.isoformat(), window_last=last.isoformat())
        self._touch()

    def _expire(self) -> None:
        self._end(LabelStage.EXPIRED, LabelLossReason.EXPIRED, self.state.expires_on)

    def _withdrawal_decision_due(self) -> None:
        assert self.state.withdrawal is not None
        self.state.withdrawal.decision_task_sent = True
        self._task("label_withdrawal_decision", "DPID", self.state.withdrawal.notified_on.isoformat(), None)
        self._touch()

    def _remediation_over(self) -> None:
        assert self.state.remediation is not None
        self.state.remediation.study_task_sent = True
        self._task("label_remediation_study", "DPID", self.state.remediation.started_on.isoformat(), None,
                   participants=["DPID", self._slai()])
        self._touch()

    def _end(self, stage: LabelStage, reason: LabelLossReason, effective: date) -> None:
        """The label is lost: record it and signal every pathway whose referent belongs to the structure."""
        s = self.state
        s.stage, s.ended_on, s.end_reason = stage, effective, reason.value
        notice = {
            "label_workflow_id": self._wid(),
            "structure_id": s.structure_id,
            "reason": reason.value,
            "effective_date": effective,
        }

        async def notify() -> None:
            await workflow.execute_activity(
                ACT_NOTIFY_PATHWAYS_LABEL_LOST, notice, result_type=int,
                start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=timedelta(days=2),
            )

        self._effects.append(notify)
        self._touch()

    # --- L15 annual review -------------------------------------------------------------------------------

    @workflow.update(name=LM.RECORD_ANNUAL_REVIEW)
    @once
    async def record_annual_review(self, msg: AnnualReview) -> LabelStage:
        s = self.state
        s.reviews_received = s.reviews_received + [msg.anniversary]
        self._close_tasks([("label_annual_review", msg.anniversary.isoformat()),
                           ("label_annual_review_reminder", msg.anniversary.isoformat())], "ANNUAL_REVIEW_RECORDED")
        if not (msg.charte_ok and msg.training_ok):  # G-L17: commitments / training → W2
            grounds = msg.reasons or ["annual review: charte qualité or training status not satisfied"]
            self._open_withdrawal(self._today(), grounds)
        elif not msg.cer_quality_ok:  # G-L17: CER quality → W3
            self._open_remediation(self._today(), msg.reasons)
        return self.state.stage

    @record_annual_review.validator
    @unless_seen
    def _validate_review(self, msg: AnnualReview) -> None:
        self._require(LabelStage.LABELLED, LabelStage.RENEWAL_INSTRUCTION)
        s = self.state
        if msg.anniversary not in s.reviews_requested:
            reject(f"no annual review was requested for {msg.anniversary.isoformat()}")
        if msg.anniversary in s.reviews_received:
            reject(f"the review of {msg.anniversary.isoformat()} is already recorded")

    # --- L16 renewal -------------------------------------------------------------------------------------

    @workflow.update(name=LM.REQUEST_RENEWAL)
    @once
    async def request_renewal(self, msg: RenewalRequest) -> LabelStage:
        s = self.state
        self._close_tasks([("label_renewal_reminder", day.isoformat()) for day in s.renewal_reminders_sent],
                          "RENEWAL_REQUESTED")
        s.renewal_requested_on = msg.requested_on or self._today()
        s.stage = LabelStage.RENEWAL_INSTRUCTION
        self._task("label_renewal_instruction", "DPID", s.renewal_requested_on.isoformat(),
                   rules_of.instruction_due(s.renewal_requested_on, self.rules),
                   cer_per_professional=self.rules.renewal_cer_per_professional, procedure="allégée")
        return self.state.stage

    @request_renewal.validator
    @unless_seen
    def _validate_renewal(self, msg: RenewalRequest) -> None:
        self._require(LabelStage.LABELLED)
        requested_on = self._check_date(msg.requested_on, self.state.decided_on, "renewal request date")
        first, last = rules_of.renewal_window(self.state.expires_on, self.rules)
        if not first <= requested_on <= last:
            reject(
                f"renewal requests are accepted from {first.isoformat()} to {last.isoformat()} "
                f"(requested on {requested_on.isoformat()}); outside the window, file a new application",
                "OutsideRenewalWindow",
            )

    @workflow.update(name=LM.DECIDE_RENEWAL)
    @once
    async def decide_renewal(self, msg: RenewalDecision) -> LabelStage:
        s = self.state
        decided_on = msg.decided_on or self._today()
        if s.renewal_requested_on is not None:
            self._close_tasks([("label_renewal_instruction", s.renewal_requested_on.isoformat())], "RENEWAL_DECIDED")
        if msg.outcome == "grant":
            self._renew(decided_on)
        else:
            s.renewal_requested_on = None
            s.renewal_refused_on = decided_on
            s.stage = LabelStage.LABELLED
            self._notify(LetterKind.RENEWAL_REFUSAL, decided_on, msg.reasons,
                         {"valid_until": rules_of.day_start(max(s.expires_on, decided_on))},
                         appeal_of="renewal_refusal")
            if decided_on >= s.expires_on:  # kept valid until the decision: it ends now
                s.expires_on = decided_on
                self._expire()
        self._touch()
        return self.state.stage

    def _renew(self, decided_on: date) -> None:
        """A new 5-year cycle from ``decided_on`` (the workflow continues as new with it)."""
        s = self.state
        s.past_periods = s.past_periods + [ValidityPeriod(start=s.decided_on, end=decided_on)]
        s.decided_on = decided_on
        s.expires_on = rules_of.label_expires_on(decided_on, self.rules)
        s.stage = LabelStage.LABELLED
        s.renewal_requested_on = s.renewal_refused_on = None
        s.reviews_requested, s.reviews_received, s.review_reminders_sent = [], [], []
        s.renewal_reminders_sent = []
        self._notify(LetterKind.RENEWAL_GRANT, decided_on, [], {"valid_until": rules_of.day_start(s.expires_on)})
        year = rules_of.ceremony_year(decided_on)
        if year not in s.ceremony_years:
            s.ceremony_years = s.ceremony_years + [year]
            self._task("label_ceremony", self._slai(), str(year), date(year, 12, 31), year=year)
        self._renewed = True

    @decide_renewal.validator
    @unless_seen
    def _validate_renewal_decision(self, msg: RenewalDecision) -> None:
        self._require(LabelStage.RENEWAL_INSTRUCTION)
        self._check_date(msg.decided_on, self.state.renewal_requested_on, "renewal decision date")
        if msg.outcome == "refuse" and not msg.reasons:
            reject("a refusal must state its reasons")

    # --- W1 lapse ----------------------------------------------------------------------------------------

    @workflow.update(name=LM.END_MISSION)
    @once
    async def end_mission(self, msg: MissionEnded) -> LabelStage:
        ended_on = msg.ended_on or self._today()
        self._notify(LetterKind.LAPSE, ended_on, [], {"effective_on": ended_on})
        self._end(LabelStage.LAPSED, LabelLossReason.LAPSED, ended_on)
        return self.state.stage

    @end_mission.validator
    @unless_seen
    def _validate_end_mission(self, msg: MissionEnded) -> None:
        if self.state.stage in FINAL_STAGES:
            reject(f"the label is already {self.state.stage.value}")
        self._check_date(msg.ended_on, self.state.decided_on, "end of mission date")

    # --- queries -----------------------------------------------------------------------------------------

    @workflow.query(name=LM.IS_LABELLED)
    def is_labelled(self, query: IsLabelledQuery) -> bool:
        return query.structure_id == self.state.structure_id and self.state.is_labelled(query.on)

    @workflow.query(name=LM.STATE)
    def get_state(self) -> LabelState:
        return self.state
