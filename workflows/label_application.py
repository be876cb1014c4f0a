"""One Label référent RSA application (id ``label-<structure id>-<n>``): transitions L1–L14 of domain.md §4.5.

Staff commands are updates with validators (a refused command never reaches history); the structure's
dates (filing, acknowledgement of receipt, appeals) are carried by the messages. Every deadline is a date
computed once in ``domain.label`` and stored in the state; the main loop sleeps until the nearest one.
Handlers only change the state and queue effects (activities, child start); the main loop runs them.
"""

from datetime import date, datetime
from typing import Callable

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError

from workflows.label import LabelState
from workflows.label_case import ACTIVITY_OPTIONS, calendar_bound, once, reject, unless_seen
from workflows.label_application_appeals import ApplicationAppeals
from workflows.label_instruction import LabelInstruction

with workflow.unsafe.imports_passed_through():
    from domain import label as rules_of
    from domain.deadlines import deadline_instant, paris_date
    from domain.label import LabelStage
    from domain.label_contract import ACT_RECORD_APPLICATION, LABEL_APPLICATION_WORKFLOW, LABEL_WORKFLOW
    from domain.label_contract import ApplicationMessages as A
    from domain.label_contract import ApplicationSnapshot
    from domain.label_application import (
        DecisionRecord,
        LabelApplicationResult,
        LabelApplicationState,
        MoratoriumRecord,
        RefusalRecord,
    )
    from domain.label_appeal import AppealRecord
    from domain.label_messages import (
        ApplicationSubmitted,
        Decision,
        JointReview,
        LabelInput,
        LetterSent,
        MoratoriumSheet,
        ReceiptAcknowledged,
        Reapplication,
        SlaiOpinion,
        Superseded,
    )
    from domain.rules import rule_set_for

    from workflows.search_attributes import STRUCTURE_ID

__all__ = ["LabelApplicationState", "LabelApplicationWorkflow", "LABEL_APPLICATION_WORKFLOW"]


@workflow.defn(name=LABEL_APPLICATION_WORKFLOW)
class LabelApplicationWorkflow(LabelInstruction, ApplicationAppeals):
    @workflow.init
    def __init__(self, state: LabelApplicationState) -> None:
        self.state = state
        if self.state.rule_set_version is None:  # here, so validators running before run() see it
            self.state.rule_set_version = rule_set_for(paris_date(workflow.now())).version
        self._init_case()

    # --- helpers ---------------------------------------------------------------------------------------

    def _on_touch(self) -> None:
        self._refresh_stage()

    def _refresh_stage(self) -> None:
        self.state.stage = self.state.displayed_stage()

    def _refusal(self) -> RefusalRecord | None:
        return self.state.last_refusal()

    def _in_instruction(self) -> bool:
        return self.state.step is not None

    # --- run ---------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, state: LabelApplicationState) -> LabelApplicationResult:
        try:
            rules_of.application_workflow_id(self.state.structure_id, self.state.application_no)
        except ValueError as error:
            raise ApplicationError(str(error), type="InvalidInput", non_retryable=True) from None
        workflow.upsert_search_attributes([STRUCTURE_ID.value_set(self.state.structure_id)])
        if self.state.after_moratorium_of is not None:
            self._effects.append(self._supersede_previous)
        self._touch()
        await self._serve(self._finished)
        self._publish(None)
        await self._drain()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return LabelApplicationResult(
            stage=self.state.stage, closing_reason=self.state.closing_reason,
            label_workflow_id=self.state.label_workflow_id,
        )

    async def _drain(self) -> None:
        while self._effects:
            effect = self._effects.pop(0)
            await effect()
        if self._recorded_version != self.state.version:
            self._recorded_version = self.state.version
            await workflow.execute_activity(ACT_RECORD_APPLICATION, self._snapshot(), **ACTIVITY_OPTIONS)

    async def _supersede_previous(self) -> None:
        """Close the application whose moratorium this one follows (it keeps only its pending appeals)."""
        previous = self.state.after_moratorium_of
        assert previous is not None
        message = Superseded(event_id=f"{self._wid()}:supersedes", by_application=self._wid())
        try:
            await workflow.get_external_workflow_handle(previous).signal(A.SUPERSEDED, message)
        except FailureError as error:  # already closed: nothing to supersede
            workflow.logger.info("superseded application already closed", extra={"error": str(error)})

    def _is_open(self) -> bool | None:
        return self.state.holds_structure()

    def _snapshot(self) -> ApplicationSnapshot:
        s = self.state
        last = s.decisions[-1] if s.decisions else None
        wake = self._next_wake()
        in_moratorium = s.base_stage is LabelStage.MORATORIUM and s.closing_reason is None
        return ApplicationSnapshot(
            workflow_id=self._wid(), structure_id=s.structure_id, application_no=s.application_no,
            territory=s.territory, stage=s.stage.value, filed_on=s.first_filed_on,
            decided_on=last.decided_on if last else None, outcome=last.outcome if last else None,
            next_deadline=paris_date(wake) if wake else None, instruction_breached=bool(s.instruction_breaches),
            funding_blocked=s.base_stage is LabelStage.REFUSED_FINAL, version=s.version, is_open=self._is_open(),
            in_moratorium=in_moratorium,
            moratorium_until=s.moratorium.earliest_reapplication if in_moratorium and s.moratorium else None,
        )

    def _finished(self) -> bool:
        return self.state.finished(self._today())

    # --- timers ------------------------------------------------------------------------------------------

    def _timed(self) -> list[tuple[datetime, Callable[[], None]]]:
        s, rules = self.state, self.rules
        events: list[tuple[datetime, Callable[[], None]]] = []
        if self._in_instruction() and s.filed_on is not None:
            for months, day in rules_of.instruction_alert_days(s.filed_on, rules):
                if months not in s.alerts_sent:
                    events.append((deadline_instant(rules_of.day_start(day)), lambda m=months: self._alert(m)))
            if s.round not in s.instruction_breaches and s.instruction_due is not None:
                events.append((deadline_instant(s.instruction_due), self._breach))
        refusal = self._refusal()
        if s.moratorium is not None and s.base_stage is LabelStage.MORATORIUM and s.closing_reason is None:
            if not s.moratorium.reminder_sent:
                day = rules_of.day_start(s.moratorium.earliest_reapplication)
                events.append((deadline_instant(day), self._moratorium_reminder))
            events.append((deadline_instant(s.moratorium.closes_on), self._close_without_reapplication))
        if refusal is not None and refusal.notified_on is None and not refusal.receipt_reminder_sent:
            reminder = rules_of.letter_reminder(refusal.decided_on, refusal.sent_on, refusal.posting_clock, rules)
            if reminder is not None:
                events.append((deadline_instant(rules_of.day_start(reminder[0])),
                               lambda kind=reminder[1]: self._receipt_missing(kind)))
        if refusal is not None and refusal.appeal is not None:
            appeal = refusal.appeal
            if appeal.pending() == "gracieux" and appeal.gracieux_answer_due is not None:
                events.append((deadline_instant(appeal.gracieux_answer_due), self._implicit_rejection))
            if s.base_stage is LabelStage.REFUSED_FINAL and appeal.last_window_day() is not None:
                # wake when the last window closes: the loop then finds the case finished
                events.append((deadline_instant(appeal.last_window_day()), lambda: None))
        return events

    def _on_time(self) -> None:
        now = workflow.now()
        for instant, fire in sorted(self._timed(), key=lambda e: e[0]):
            if instant <= now:
                fire()


    def _alert(self, months: int) -> None:
        s = self.state
        s.alerts_sent = s.alerts_sent + [months]
        self._task("label_instruction_alert", "DPID", f"r{s.round}-{months}m", s.instruction_due, months=months)
        self._touch()

    def _breach(self) -> None:
        s = self.state
        s.instruction_breaches = s.instruction_breaches + [s.round]
        self._task("label_instruction_breach", "DPID", f"r{s.round}", s.instruction_due,
                   note="6-month instruction exceeded; no tacit grant")
        workflow.logger.warning("label instruction exceeded 6 months", extra={"round": s.round})
        self._touch()

    def _moratorium_reminder(self) -> None:
        m = self.state.moratorium
        assert m is not None
        m.reminder_sent = True
        self._task("label_moratorium_end", self._slai(), "reminder", m.closes_on,
                   earliest_reapplication=m.earliest_reapplication.isoformat())
        self._touch()

    def _receipt_missing(self, kind: str) -> None:
        refusal = self._refusal()
        assert refusal is not None
        refusal.receipt_reminder_sent = True
        self._task(kind, "DPID", refusal.letter_key, None, letter_key=refusal.letter_key,
                   registered_number=refusal.registered_number,
                   sent_on=refusal.sent_on.isoformat() if refusal.sent_on else None)
        self._touch()

    def _close_without_reapplication(self) -> None:
        self.state.base_stage = LabelStage.REFUSED_FINAL
        self.state.closing_reason = "no_reapplication"
        self._touch()

    def _implicit_rejection(self) -> None:
        refusal = self._refusal()
        assert refusal is not None and refusal.appeal is not None
        appeal = refusal.appeal
        appeal.gracieux_outcome = "rejected"
        appeal.gracieux_implicit = True
        appeal.rejection_on = appeal.gracieux_answer_due
        appeal.contentieux_deadline_after_rejection = calendar_bound(rules_of.appeal_deadline, appeal.rejection_on, self.rules)
        self._touch()

    # --- L1 submission -----------------------------------------------------------------------------------

    @workflow.update(name=A.SUBMIT)
    @once
    async def submit(self, msg: ApplicationSubmitted) -> LabelStage:
        filed_on = self._date_or_today(msg.filed_on)
        self.state.first_filed_on = filed_on
        self.state.base_stage = LabelStage.SUBMITTED
        self._touch()
        self._start_instruction(1, filed_on)
        return self.state.stage

    @submit.validator
    @unless_seen
    def _validate_submit(self, msg: ApplicationSubmitted) -> None:
        if self.state.base_stage is not LabelStage.DRAFT:
            reject(f"the application is already {self.state.stage.value}")
        opening = self.rules.campaign_opening
        filed_on = self._check_date(msg.filed_on, None, "filing date")
        if filed_on < opening:
            reject(f"applications open on {opening.isoformat()}; filing date {filed_on.isoformat()} refused",
                    "CampaignNotOpen")

    def _start_instruction(self, round_no: int, filed_on: date) -> None:
        """L2 / L7: the (new) study starts with the DPID; the 6-month instruction clock runs from filing."""
        s = self.state
        s.round = round_no
        s.filed_on = filed_on
        s.instruction_due = rules_of.instruction_due(filed_on, self.rules)
        s.alerts_sent = []
        s.admin_evaluation = s.slai_opinion = s.joint_review = None
        s.step = LabelStage.DPID_ADMIN_EVALUATION
        s.base_stage = LabelStage.DPID_ADMIN_EVALUATION if round_no == 1 else LabelStage.REAPPLICATION_EVALUATION
        self._task("label_admin_evaluation", "DPID", f"r{round_no}", s.instruction_due,
                   filed_on=filed_on.isoformat(), round=round_no)
        self._touch()

    def _set_step(self, step: LabelStage) -> None:
        self.state.step = step
        if self.state.round == 1:
            self.state.base_stage = step
        self._touch()

    # --- L5 / L6 / L8 / L9 decision ------------------------------------------------------------------------

    def _consolidated(self) -> SlaiOpinion | JointReview | None:
        s = self.state
        if s.step is LabelStage.JOINT_REVIEW_BELOW_80:
            return s.joint_review
        if s.step is LabelStage.SLAI_CONSOLIDATION:
            return s.slai_opinion
        return None

    @workflow.update(name=A.DECIDE)
    @once
    async def decide(self, msg: Decision) -> LabelStage:
        s = self.state
        decided_on = self._date_or_today(msg.decided_on)
        s.decisions = s.decisions + [DecisionRecord(round=s.round, outcome=msg.outcome, decided_on=decided_on,
                                                    reasons=msg.reasons)]
        s.step = None
        round_no, alerts, breached = s.round, list(s.alerts_sent), s.round in s.instruction_breaches
        if msg.outcome == "grant":
            self._grant(decided_on)
        else:
            self._refuse(decided_on, msg.reasons, final=s.round >= 2 or s.after_moratorium_of is not None)
        # after the decision's own effects (the label starts first)
        self._close_tasks([("label_instruction_alert", f"r{round_no}-{months}m") for months in alerts]
                          + [("label_instruction_breach", f"r{round_no}")] * breached, "APPLICATION_DECIDED")
        return self.state.stage

    @decide.validator
    @unless_seen
    def _validate_decide(self, msg: Decision) -> None:
        proposal = self._consolidated()
        if proposal is None:
            reject(f"no consolidated evaluation to decide on (the application is at {self.state.stage.value})")
        self._check_date(msg.decided_on, self.state.filed_on, "decision date")
        if msg.outcome == "grant":
            computed = self.state.evaluation
            if computed is not None and not computed.cer_quality.passed and proposal is self.state.slai_opinion \
                    and proposal.confirmed:
                reject("the computed evaluation proposes a refusal (" + "; ".join(computed.reasons[-2:]) + ")",
                       "CriteriaNotMet")
            if not proposal.training_ok or proposal.cer_average < self.rules.cer_quality_threshold:
                reject("both criteria are required to grant the label (G-L1): training "
                        f"{'met' if proposal.training_ok else 'not met'}, CER average {proposal.cer_average}",
                        "CriteriaNotMet")
        elif not msg.reasons:
            reject("a refusal must state its reasons in fact and in law")

    def _grant(self, decided_on: date, kind: str = "grant") -> None:
        s = self.state
        s.base_stage = LabelStage.GRANTED
        s.step = None
        s.moratorium = None
        label_input = LabelState.granted(
            LabelInput(
                structure_id=s.structure_id, territory=s.territory, decided_on=decided_on,
                application_workflow_id=self._wid(), rule_set_version=s.rule_set_version or "",
            ),
            self.rules,
        )
        child_id = rules_of.label_workflow_id(s.structure_id)

        async def start_label() -> None:
            try:
                await workflow.start_child_workflow(
                    LABEL_WORKFLOW, label_input, id=child_id,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                s.anomalies = s.anomalies + [f"label workflow {child_id} already running"]
                self._task("label_already_running", "DPID", "start", None, label_workflow_id=child_id)
            s.label_workflow_id = child_id
            s.base_stage = LabelStage.LABELLED
            self._touch()

        self._effects.append(start_label)
        if workflow.patched("label-letters"):
            expires_on = rules_of.label_expires_on(decided_on, self.rules)
            first, last = rules_of.renewal_window(expires_on, self.rules)
            self._letter(f"{self._wid()}:{kind}:{decided_on.isoformat()}", kind, decided_on, [],
                         {"valid_until": rules_of.day_start(expires_on), "renewal_window_first": first,
                          "renewal_window_last": last})
        self._touch()

    def _refuse(self, decided_on: date, reasons: list[str], *, final: bool) -> None:
        s = self.state
        letter_key = f"{self._wid()}:refusal:{s.round}"
        s.refusals = s.refusals + [
            RefusalRecord(round=s.round, final=final, decided_on=decided_on, reasons=reasons, letter_key=letter_key,
                          posting_clock=workflow.patched("label-letter-posting-clock"))
        ]
        s.base_stage = LabelStage.REFUSED_FINAL if final else LabelStage.MORATORIUM
        dates: dict[str, date] = {}
        campaign = rules_of.campaign_year(s.first_filed_on or decided_on)
        if not final and campaign == self.rules.first_campaign_year:
            dates["moratorium_floor"] = self.rules.first_campaign_reapplication_floor
        self._letter(letter_key, "final_refusal" if final else "refusal", decided_on, reasons, dates)
        if not final:
            self._task("label_moratorium_meeting", self._slai(), "annexe4", None,
                       note="meeting structure + SLAI + siège; Annexe 4 follow-up sheet")
        self._touch()

    @workflow.update(name=A.ACKNOWLEDGE_RECEIPT)
    @once
    async def acknowledge_receipt(self, msg: ReceiptAcknowledged) -> LabelStage:
        refusal = self._refusal()
        assert refusal is not None
        rules = self.rules
        refusal.notified_on = msg.received_on
        if refusal.sent_on is not None:
            self._letter_event(refusal.letter_key, received_on=msg.received_on)
        deadline = calendar_bound(rules_of.appeal_deadline, msg.received_on, rules)
        refusal.appeal = AppealRecord(gracieux_deadline=deadline, direct_contentieux_deadline=deadline)
        if not refusal.final:
            campaign = rules_of.campaign_year(self.state.first_filed_on or refusal.decided_on)
            earliest = rules_of.earliest_reapplication(msg.received_on, campaign, rules)
            self.state.moratorium = MoratoriumRecord(
                earliest_reapplication=earliest, closes_on=rules_of.moratorium_closes_on(earliest, rules),
            )
        self._touch()
        return self.state.stage

    @acknowledge_receipt.validator
    @unless_seen
    def _validate_receipt(self, msg: ReceiptAcknowledged) -> None:
        refusal = self._refusal()
        if refusal is None or refusal.letter_key != msg.letter_key:
            reject(f"no registered letter {msg.letter_key} awaiting its acknowledgement of receipt")
        if refusal.notified_on is not None:
            reject(f"letter {msg.letter_key} already acknowledged on {refusal.notified_on.isoformat()}")
        self._check_date(msg.received_on, refusal.sent_on or refusal.decided_on, "acknowledgement date")

    @workflow.update(name=A.RECORD_LETTER_SENT)
    @once
    async def record_letter_sent(self, msg: LetterSent) -> LabelStage:
        """The refusal letter was posted: the receipt reminder runs from ``sent_on`` (L9)."""
        refusal = self._refusal()
        assert refusal is not None
        refusal.sent_on, refusal.registered_number = msg.sent_on, msg.registered_number
        refusal.receipt_reminder_sent = False  # the receipt reminder now runs from the posting
        self._letter_event(refusal.letter_key, registered_number=msg.registered_number, sent_on=msg.sent_on)
        self._touch()
        return self.state.stage

    @record_letter_sent.validator
    @unless_seen
    def _validate_letter_sent(self, msg: LetterSent) -> None:
        refusal = self._refusal()
        if refusal is None or refusal.letter_key != msg.letter_key:
            reject(f"no registered letter {msg.letter_key} to post")
        if refusal.sent_on is not None or refusal.notified_on is not None:
            reject(f"letter {msg.letter_key} is already posted or acknowledged")
        self._check_date(msg.sent_on, refusal.decided_on, "posting date")

    # --- moratorium (L6 / L7) ------------------------------------------------------------------------------

    @workflow.update(name=A.RECORD_MORATORIUM_SHEET)
    @once
    async def record_moratorium_sheet(self, msg: MoratoriumSheet) -> LabelStage:
        assert self.state.moratorium is not None
        self.state.moratorium.sheet = msg
        self._touch()
        return self.state.stage

    @record_moratorium_sheet.validator
    @unless_seen
    def _validate_sheet(self, msg: MoratoriumSheet) -> None:
        if self.state.base_stage is not LabelStage.MORATORIUM or self.state.moratorium is None:
            reject("the Annexe 4 sheet belongs to a notified moratorium")
        self._check_date(msg.meeting_on, self._refusal().decided_on, "meeting date")

    @workflow.update(name=A.REAPPLY)
    @once
    async def reapply(self, msg: Reapplication) -> LabelStage:
        if self.state.moratorium is not None and self.state.moratorium.reminder_sent:
            self._close_tasks([("label_moratorium_end", "reminder")], "REAPPLIED")
        self._start_instruction(2, self._date_or_today(msg.filed_on))
        return self.state.stage

    @reapply.validator
    @unless_seen
    def _validate_reapply(self, msg: Reapplication) -> None:
        m = self.state.moratorium
        if self.state.base_stage is not LabelStage.MORATORIUM or m is None:
            reject(f"no notified moratorium to reapply after (the application is at {self.state.stage.value})")
        filed_on = self._check_date(msg.filed_on, None, "reapplication date")
        if filed_on < m.earliest_reapplication:
            reject(f"the moratorium runs until {rules_of.day_start(m.earliest_reapplication).isoformat()}: "
                    f"reapplication possible from {m.earliest_reapplication.isoformat()}", "MoratoriumNotOver")

    @workflow.signal(name=A.SUPERSEDED)
    def superseded(self, msg: Superseded) -> None:
        """The registry accepted a new application after this moratorium: that one is the reapplication."""
        if self._seen(msg.event_id) or self.state.base_stage is not LabelStage.MORATORIUM:
            return
        self._mark(msg.event_id)
        self.state.closing_reason = f"reapplied as {msg.by_application}"
        self._touch()

    # --- queries -----------------------------------------------------------------------------------------

    @workflow.query(name=A.STATE)
    def get_state(self) -> LabelApplicationState:
        return self.state
