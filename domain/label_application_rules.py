"""One Label référent RSA application (L1–L14 of domain.md §4.5) as a pure aggregate.

:class:`LabelApplication` wraps a :class:`LabelApplicationState`: ``check_*`` methods only read and refuse
(``PathwayRuleError``, its ``rule`` the refusal's code); the other methods apply a message or a deadline and
append the effects (tasks, letters, letter events, task closures, the label's start, the superseding of the
previous application) to ``outbox``. Every deadline is a date computed once in ``domain.label`` and stored in
the state; ``timed()`` lists them, ``fire(now)`` applies those due. The instruction (L2–L4, G-L22) and the
appeals (L10–L13) are mixins.
"""

from __future__ import annotations

from datetime import date, datetime

from domain import label as rules_of
from domain.deadlines import deadline_instant, paris_date
from domain.label import LabelStage
from domain.label_appeal import AppealRecord
from domain.label_application import DecisionRecord, LabelApplicationState, MoratoriumRecord, RefusalRecord
from domain.label_application_appeals import ApplicationAppeals
from domain.label_application_instruction import ApplicationInstruction
from domain.label_contract import ApplicationSnapshot, LetterDates
from domain.label_messages import (
    ApplicationSubmitted,
    Decision,
    LabelInput,
    LetterSent,
    MoratoriumSheet,
    Reapplication,
    ReceiptAcknowledged,
    Superseded,
)
from domain.label_outbox import LETTERS, POSTING_CLOCK, StartLabel, SupersedeApplication, Timed, refuse
from domain.label_state import LabelState


class LabelApplication(ApplicationInstruction, ApplicationAppeals):
    """The rules applied to one application's state (mutated in place)."""

    s: LabelApplicationState

    def _on_touch(self) -> None:
        self.s.stage = self.s.displayed_stage()

    def _in_instruction(self) -> bool:
        return self.s.step is not None

    def start(self) -> None:
        """The run begins: an application filed after a moratorium supersedes that application."""
        if self.s.after_moratorium_of is not None:
            message = Superseded(event_id=f"{self.workflow_id}:supersedes", by_application=self.workflow_id)
            self.outbox.append(SupersedeApplication(workflow_id=self.s.after_moratorium_of, message=message))
        self.touch()

    def finished(self) -> bool:
        return self.s.finished(self.today())

    # --- deadlines -------------------------------------------------------------------------------------

    def timed(self) -> Timed:
        s, rules = self.s, self.rules
        events: Timed = []
        if self._in_instruction() and s.filed_on is not None:
            for months, day in rules_of.instruction_alert_days(s.filed_on, rules):
                if months not in s.alerts_sent:
                    events.append((deadline_instant(rules_of.day_start(day)), lambda m=months: self._alert(m)))
            if s.round not in s.instruction_breaches and s.instruction_due is not None:
                events.append((deadline_instant(s.instruction_due), self._breach))
        refusal = s.last_refusal()
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

    def fire(self, now: datetime) -> None:
        self.fire_due(self.timed(), now)

    def _alert(self, months: int) -> None:
        s = self.s
        s.alerts_sent = s.alerts_sent + [months]
        self._task("label_instruction_alert", "DPID", f"r{s.round}-{months}m", s.instruction_due, months=months)
        self.touch()

    def _breach(self) -> None:
        s = self.s
        s.instruction_breaches = s.instruction_breaches + [s.round]
        self._task("label_instruction_breach", "DPID", f"r{s.round}", s.instruction_due,
                   note="6-month instruction exceeded; no tacit grant")
        self.touch()

    def _moratorium_reminder(self) -> None:
        m = self.s.moratorium
        assert m is not None
        m.reminder_sent = True
        self._task("label_moratorium_end", self._slai(), "reminder", m.closes_on,
                   earliest_reapplication=m.earliest_reapplication)
        self.touch()

    def _receipt_missing(self, kind: str) -> None:
        refusal = self.s.last_refusal()
        assert refusal is not None
        refusal.receipt_reminder_sent = True
        self._task(kind, "DPID", refusal.letter_key, None, letter_key=refusal.letter_key,
                   registered_number=refusal.registered_number,
                   sent_on=refusal.sent_on)
        self.touch()

    def _close_without_reapplication(self) -> None:
        self.s.base_stage = LabelStage.REFUSED_FINAL
        self.s.closing_reason = "no_reapplication"
        self.touch()

    # --- L1 submission ---------------------------------------------------------------------------------

    def check_submit(self, msg: ApplicationSubmitted) -> None:
        if self.s.base_stage is not LabelStage.DRAFT:
            refuse(f"the application is already {self.s.stage.value}")
        opening = self.rules.campaign_opening
        filed_on = self._check_date(msg.filed_on, None, "filing date")
        if filed_on < opening:
            refuse(f"applications open on {opening.isoformat()}; filing date {filed_on.isoformat()} refused",
                   "CampaignNotOpen")

    def submit(self, msg: ApplicationSubmitted) -> None:
        filed_on = self._date_or_today(msg.filed_on)
        self.s.first_filed_on = filed_on
        self.s.base_stage = LabelStage.SUBMITTED
        self.touch()
        self._start_instruction(1, filed_on)

    # --- L5 / L6 / L8 / L9 decision --------------------------------------------------------------------

    def check_decide(self, msg: Decision) -> None:
        proposal = self._consolidated()
        if proposal is None:
            refuse(f"no consolidated evaluation to decide on (the application is at {self.s.stage.value})")
        self._check_date(msg.decided_on, self.s.filed_on, "decision date")
        if msg.outcome == "grant":
            computed = self.s.evaluation
            if computed is not None and not computed.cer_quality.passed and proposal is self.s.slai_opinion \
                    and proposal.confirmed:
                refuse("the computed evaluation proposes a refusal (" + "; ".join(computed.reasons[-2:]) + ")",
                       "CriteriaNotMet")
            if not proposal.training_ok or proposal.cer_average < self.rules.cer_quality_threshold:
                refuse("both criteria are required to grant the label (G-L1): training "
                       f"{'met' if proposal.training_ok else 'not met'}, CER average {proposal.cer_average}",
                       "CriteriaNotMet")
        elif not msg.reasons:
            refuse("a refusal must state its reasons in fact and in law")

    def decide(self, msg: Decision) -> None:
        s = self.s
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

    def _grant(self, decided_on: date, kind: str = "grant") -> None:
        s = self.s
        s.base_stage = LabelStage.GRANTED
        s.step = None
        s.moratorium = None
        label = LabelState.granted(LabelInput(
            structure_id=s.structure_id, territory=s.territory, decided_on=decided_on,
            application_workflow_id=self.workflow_id, rule_set_version=s.rule_set_version or ""), self.rules)
        self.outbox.append(StartLabel(workflow_id=rules_of.label_workflow_id(s.structure_id), label=label))
        if self._patched(LETTERS):
            expires_on = rules_of.label_expires_on(decided_on, self.rules)
            first, last = rules_of.renewal_window(expires_on, self.rules)
            self._letter(f"{self.workflow_id}:{kind}:{decided_on.isoformat()}", kind, decided_on, [],
                         LetterDates(valid_until=rules_of.day_start(expires_on), renewal_window_first=first,
                                     renewal_window_last=last))
        self.touch()

    def label_started(self, label_workflow_id: str, *, already_running: bool) -> None:
        """The label's workflow started (or one was already running: an anomaly for the DPID)."""
        s = self.s
        if already_running:
            s.anomalies = s.anomalies + [f"label workflow {label_workflow_id} already running"]
            self._task("label_already_running", "DPID", "start", None, label_workflow_id=label_workflow_id)
        s.label_workflow_id = label_workflow_id
        s.base_stage = LabelStage.LABELLED
        self.touch()

    def _refuse(self, decided_on: date, reasons: list[str], *, final: bool) -> None:
        s = self.s
        letter_key = f"{self.workflow_id}:refusal:{s.round}"
        s.refusals = s.refusals + [RefusalRecord(round=s.round, final=final, decided_on=decided_on, reasons=reasons,
                                                 letter_key=letter_key, posting_clock=self._patched(POSTING_CLOCK))]
        s.base_stage = LabelStage.REFUSED_FINAL if final else LabelStage.MORATORIUM
        dates = LetterDates()
        campaign = rules_of.campaign_year(s.first_filed_on or decided_on)
        if not final and campaign == self.rules.first_campaign_year:
            dates = LetterDates(moratorium_floor=self.rules.first_campaign_reapplication_floor)
        self._letter(letter_key, "final_refusal" if final else "refusal", decided_on, reasons, dates)
        if not final:
            self._task("label_moratorium_meeting", self._slai(), "annexe4", None,
                       note="meeting structure + SLAI + siège; Annexe 4 follow-up sheet")
        self.touch()

    # --- the refusal letter: posting and receipt -------------------------------------------------------

    def check_receipt(self, msg: ReceiptAcknowledged) -> None:
        refusal = self.s.last_refusal()
        if refusal is None or refusal.letter_key != msg.letter_key:
            refuse(f"no registered letter {msg.letter_key} awaiting its acknowledgement of receipt")
        if refusal.notified_on is not None:
            refuse(f"letter {msg.letter_key} already acknowledged on {refusal.notified_on.isoformat()}")
        self._check_date(msg.received_on, refusal.sent_on or refusal.decided_on, "acknowledgement date")

    def acknowledge_receipt(self, msg: ReceiptAcknowledged) -> None:
        refusal = self.s.last_refusal()
        assert refusal is not None
        rules = self.rules
        refusal.notified_on = msg.received_on
        if refusal.sent_on is not None:
            self._letter_event(refusal.letter_key, received_on=msg.received_on)
        deadline = rules_of.appeal_deadline(msg.received_on, rules)
        refusal.appeal = AppealRecord(gracieux_deadline=deadline, direct_contentieux_deadline=deadline)
        if not refusal.final:
            campaign = rules_of.campaign_year(self.s.first_filed_on or refusal.decided_on)
            earliest = rules_of.earliest_reapplication(msg.received_on, campaign, rules)
            self.s.moratorium = MoratoriumRecord(earliest_reapplication=earliest,
                                                 closes_on=rules_of.moratorium_closes_on(earliest, rules))
        self.touch()

    def _letter_without_clock(self, letter_key: str) -> bool:
        """A letter of the case other than the last refusal's (a grant, an answer to an appeal): no clock runs
        from its posting. (Asked of the document keys, not of the refusal's, which a replay rebuilds with its
        own workflow id: a message the refusal took when recorded goes to the refusal again.)"""
        refusal = self.s.last_refusal()
        return refusal is None or (letter_key != refusal.letter_key and self.document(letter_key) is not None)

    def check_letter_sent(self, msg: LetterSent) -> None:
        """The refusal letter's posting starts its receipt clock; another letter's posting is recorded, once."""
        refusal = self.s.last_refusal()
        if self._letter_without_clock(msg.letter_key):
            letter = self.document(msg.letter_key)
            if letter is None:
                refuse(f"no registered letter {msg.letter_key} to post")
            if msg.letter_key in self.s.posted_letters:
                refuse(f"letter {msg.letter_key} is already posted")
            self._check_date(msg.sent_on, letter.decided_on, "posting date")
            return
        assert refusal is not None
        if refusal.letter_key != msg.letter_key:
            refuse(f"no registered letter {msg.letter_key} to post")
        if refusal.sent_on is not None or refusal.notified_on is not None:
            refuse(f"letter {msg.letter_key} is already posted or acknowledged")
        self._check_date(msg.sent_on, refusal.decided_on, "posting date")

    def record_letter_sent(self, msg: LetterSent) -> None:
        refusal = self.s.last_refusal()
        if self._letter_without_clock(msg.letter_key):
            self.s.posted_letters = self.s.posted_letters + [msg.letter_key]
            self._letter_event(msg.letter_key, registered_number=msg.registered_number, sent_on=msg.sent_on)
        else:
            assert refusal is not None
            refusal.sent_on, refusal.registered_number = msg.sent_on, msg.registered_number
            refusal.receipt_reminder_sent = False  # the receipt reminder now runs from the posting
            self._letter_event(refusal.letter_key, registered_number=msg.registered_number, sent_on=msg.sent_on)
        self.touch()

    # --- moratorium (L6 / L7) --------------------------------------------------------------------------

    def check_moratorium_sheet(self, msg: MoratoriumSheet) -> None:
        refusal = self.s.last_refusal()
        if self.s.base_stage is not LabelStage.MORATORIUM or self.s.moratorium is None or refusal is None:
            refuse("the Annexe 4 sheet belongs to a notified moratorium")
        self._check_date(msg.meeting_on, refusal.decided_on, "meeting date")

    def record_moratorium_sheet(self, msg: MoratoriumSheet) -> None:
        assert self.s.moratorium is not None
        self.s.moratorium.sheet = msg
        self.touch()

    def check_reapply(self, msg: Reapplication) -> None:
        m = self.s.moratorium
        if self.s.base_stage is not LabelStage.MORATORIUM or m is None:
            refuse(f"no notified moratorium to reapply after (the application is at {self.s.stage.value})")
        filed_on = self._check_date(msg.filed_on, None, "reapplication date")
        if filed_on < m.earliest_reapplication:
            refuse(f"the moratorium runs until {rules_of.day_start(m.earliest_reapplication).isoformat()}: "
                   f"reapplication possible from {m.earliest_reapplication.isoformat()}", "MoratoriumNotOver")

    def reapply(self, msg: Reapplication) -> None:
        if self.s.moratorium is not None and self.s.moratorium.reminder_sent:
            self._close_tasks([("label_moratorium_end", "reminder")], "REAPPLIED")
        self._start_instruction(2, self._date_or_today(msg.filed_on))

    def check_superseded(self, msg: Superseded) -> None:
        if self.s.base_stage is not LabelStage.MORATORIUM:
            refuse("only an application in its moratorium is superseded by a new one")

    def superseded(self, msg: Superseded) -> None:
        """The registry accepted a new application after this moratorium: that one is the reapplication."""
        self.s.closing_reason = f"reapplied as {msg.by_application}"
        self.touch()

    # --- the read model --------------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> ApplicationSnapshot:
        s = self.s
        last = s.decisions[-1] if s.decisions else None
        wake = self.next_wake(now)
        in_moratorium = s.base_stage is LabelStage.MORATORIUM and s.closing_reason is None
        return ApplicationSnapshot(
            workflow_id=self.workflow_id, structure_id=s.structure_id, application_no=s.application_no,
            territory=s.territory, stage=s.stage.value, filed_on=s.first_filed_on,
            decided_on=last.decided_on if last else None, outcome=last.outcome if last else None,
            next_deadline=paris_date(wake) if wake else None, instruction_breached=bool(s.instruction_breaches),
            funding_blocked=s.base_stage is LabelStage.REFUSED_FINAL, version=s.version,
            is_open=s.holds_structure(), in_moratorium=in_moratorium,
            moratorium_until=s.moratorium.earliest_reapplication if in_moratorium and s.moratorium else None,
        )
