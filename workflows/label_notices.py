"""Letters and appeal windows of a granted label (W1–W3, renewal): the ``Label`` workflow's notices.

A mixin of ``LabelWorkflow``: every notified decision produces a letter (``_notify``, behind
``workflow.patched("label-letters")``); the DPID records its posting (LRAR number, date) and its
acknowledgement of receipt; no receipt ``letter_ar_reminder_days`` after posting makes a reminder task. A
decision against the structure (W2 or W3 withdrawal, renewal refusal) opens, from its receipt, the same
appeal windows as a refused application (``domain.label_appeal``); the workflow stays open until they
are settled, and a successful appeal calls ``_appeal_granted`` (reinstatement or renewal).
"""

from datetime import date, datetime
from typing import Callable, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import label as rules_of
    from domain.deadlines import deadline_instant
    from domain.label import LabelStage
    from domain.label_appeal import (
        AppealRecord,
        check_contentieux,
        check_gracieux,
        check_gracieux_answer,
        check_judgment,
    )
    from domain.label_contract import ApplicationMessages as A
    from domain.label_letters import APPEALABLE, LetterKind
    from domain.label_state import NoticeLetter
    from domain.label_messages import AppealFiled, GracieuxAnswer, Judgment, LetterSent, ReceiptAcknowledged

from workflows.label_case import LabelCase, calendar_bound, checked, once, reject, unless_seen


class LabelNotices(LabelCase):
    """Needs ``state.letters``, ``state.appeal``, ``state.appeal_letter_key``, ``state.appeal_of``."""

    def _appeal_granted(self, on: date) -> None:
        raise NotImplementedError

    def _notify(self, kind: LetterKind, decided_on: date, reasons: list[str], dates: dict[str, date] | None = None,
                *, appeal_of: Literal["withdrawal", "renewal_refusal"] | None = None) -> None:
        if not workflow.patched("label-letters"):
            return
        s = self.state
        key = f"{self._wid()}:{kind.value}:{decided_on.isoformat()}"
        s.letters = s.letters + [NoticeLetter(letter_key=key, kind=kind.value, decided_on=decided_on,
                                              posting_clock=True)]
        if kind in APPEALABLE:
            s.appeal_letter_key, s.appeal, s.appeal_of = key, None, appeal_of
        self._letter(key, kind.value, decided_on, reasons, dates)

    def _find_letter(self, key: str) -> NoticeLetter:
        for letter in self.state.letters:
            if letter.letter_key == key:
                return letter
        reject(f"no letter {key} in this case")
        raise AssertionError  # unreachable: reject raises

    def _notices_settled(self) -> bool:
        """No decision letter waiting for its receipt, no appeal pending and every window closed."""
        s = self.state
        if s.appeal_letter_key is None:
            return True
        if s.appeal is None:
            return False
        return s.appeal.settled(self._today())

    def _notice_timed(self) -> list[tuple[datetime, Callable[[], None]]]:
        s = self.state
        events: list[tuple[datetime, Callable[[], None]]] = []
        for letter in s.letters:
            if letter.received_on is not None or letter.receipt_reminder_sent:
                continue
            reminder = rules_of.letter_reminder(letter.decided_on, letter.sent_on, letter.posting_clock, self.rules)
            if reminder is not None:
                events.append((deadline_instant(rules_of.day_start(reminder[0])),
                               lambda k=letter.letter_key, kind=reminder[1]: self._no_receipt(k, kind)))
        if s.appeal is not None:
            if s.appeal.pending() == "gracieux" and s.appeal.gracieux_answer_due is not None:
                events.append((deadline_instant(s.appeal.gracieux_answer_due), self._implicit_rejection))
            if s.appeal.last_window_day() is not None:
                events.append((deadline_instant(s.appeal.last_window_day()), lambda: None))
        return events

    def _no_receipt(self, key: str, kind: str) -> None:
        letter = self._find_letter(key)
        letter.receipt_reminder_sent = True
        self._task(kind, "DPID", key, None, letter_key=key,
                   registered_number=letter.registered_number, sent_on=letter.sent_on.isoformat() if letter.sent_on else None)
        self._touch()

    def _implicit_rejection(self) -> None:
        appeal = self.state.appeal
        assert appeal is not None and appeal.gracieux_answer_due is not None
        appeal.gracieux_outcome, appeal.gracieux_implicit = "rejected", True
        appeal.rejection_on = appeal.gracieux_answer_due
        appeal.contentieux_deadline_after_rejection = calendar_bound(rules_of.appeal_deadline, appeal.rejection_on,
                                                                     self.rules)
        self._touch()

    def _open_appeal(self) -> AppealRecord:
        if self.state.appeal is None:
            reject("no notified decision to appeal against")
        return self.state.appeal

    # --- posting and receipt ---------------------------------------------------------------------------

    @workflow.update(name=A.RECORD_LETTER_SENT)
    @once
    async def record_letter_sent(self, msg: LetterSent) -> LabelStage:
        letter = self._find_letter(msg.letter_key)
        letter.sent_on, letter.registered_number = msg.sent_on, msg.registered_number
        letter.receipt_reminder_sent = False  # the receipt reminder now runs from the posting
        self._letter_event(letter.letter_key, registered_number=msg.registered_number, sent_on=msg.sent_on)
        return self.state.stage

    @record_letter_sent.validator
    @unless_seen
    def _validate_letter_sent(self, msg: LetterSent) -> None:
        letter = self._find_letter(msg.letter_key)
        if letter.sent_on is not None or letter.received_on is not None:
            reject(f"letter {msg.letter_key} is already posted or acknowledged")
        self._check_date(msg.sent_on, letter.decided_on, "posting date")

    @workflow.update(name=A.ACKNOWLEDGE_RECEIPT)
    @once
    async def acknowledge_receipt(self, msg: ReceiptAcknowledged) -> LabelStage:
        s = self.state
        letter = self._find_letter(msg.letter_key)
        letter.received_on = msg.received_on
        self._letter_event(letter.letter_key, received_on=msg.received_on)
        if letter.letter_key == s.appeal_letter_key:
            deadline = calendar_bound(rules_of.appeal_deadline, msg.received_on, self.rules)
            s.appeal = AppealRecord(gracieux_deadline=deadline, direct_contentieux_deadline=deadline)
        self._touch()
        return self.state.stage

    @acknowledge_receipt.validator
    @unless_seen
    def _validate_receipt(self, msg: ReceiptAcknowledged) -> None:
        letter = self._find_letter(msg.letter_key)
        if letter.received_on is not None:
            reject(f"letter {msg.letter_key} already acknowledged on {letter.received_on.isoformat()}")
        self._check_date(msg.received_on, letter.sent_on or letter.decided_on, "acknowledgement date")

    # --- appeals (L10–L13 applied to withdrawals and renewal refusals) ----------------------------------

    @workflow.update(name=A.FILE_RECOURS_GRACIEUX)
    @once
    async def file_recours_gracieux(self, msg: AppealFiled) -> LabelStage:
        appeal = self._open_appeal()
        appeal.gracieux_filed_on = self._date_or_today(msg.filed_on)
        appeal.gracieux_evidence = list(msg.evidence)
        appeal.gracieux_answer_due = rules_of.gracieux_answer_due(appeal.gracieux_filed_on, self.rules)
        self._task("label_recours_gracieux", "DPID", f"answer:{self.state.appeal_letter_key}",
                   appeal.gracieux_answer_due, evidence=[e.document_id for e in msg.evidence])
        self._touch()
        return self.state.stage

    @file_recours_gracieux.validator
    @unless_seen
    def _validate_gracieux(self, msg: AppealFiled) -> None:
        appeal = self._open_appeal()
        letter = self._find_letter(self.state.appeal_letter_key or "")
        checked(check_gracieux, appeal, self._check_date(msg.filed_on, letter.received_on, "recours gracieux date"))

    @workflow.update(name=A.ANSWER_RECOURS_GRACIEUX)
    @once
    async def answer_recours_gracieux(self, msg: GracieuxAnswer) -> LabelStage:
        appeal = self._open_appeal()
        answered_on = self._date_or_today(msg.answered_on)
        appeal.gracieux_outcome = msg.outcome
        self._close_tasks([("label_recours_gracieux", f"answer:{self.state.appeal_letter_key}")],
                          "RECOURS_GRACIEUX_ANSWERED")
        if msg.outcome == "granted":
            self._notify(LetterKind.GRACIEUX_GRANTED, answered_on, msg.reasons)
            self._appeal_granted(answered_on)
        else:
            appeal.rejection_on = answered_on
            appeal.contentieux_deadline_after_rejection = calendar_bound(rules_of.appeal_deadline, answered_on,
                                                                         self.rules)
            self._notify(LetterKind.GRACIEUX_REJECTED, answered_on, msg.reasons,
                         {"contentieux_deadline": appeal.contentieux_deadline_after_rejection})
        self._touch()
        return self.state.stage

    @answer_recours_gracieux.validator
    @unless_seen
    def _validate_answer(self, msg: GracieuxAnswer) -> None:
        appeal = self._open_appeal()
        checked(check_gracieux_answer, appeal)
        self._check_date(msg.answered_on, appeal.gracieux_filed_on, "answer date")

    @workflow.update(name=A.FILE_RECOURS_CONTENTIEUX)
    @once
    async def file_recours_contentieux(self, msg: AppealFiled) -> LabelStage:
        self._open_appeal().contentieux_filed_on = self._date_or_today(msg.filed_on)
        self._touch()
        return self.state.stage

    @file_recours_contentieux.validator
    @unless_seen
    def _validate_contentieux(self, msg: AppealFiled) -> None:
        appeal = self._open_appeal()
        checked(check_contentieux, appeal)
        letter = self._find_letter(self.state.appeal_letter_key or "")
        filed_on = self._check_date(msg.filed_on, appeal.rejection_on or letter.received_on, "recours contentieux date")
        checked(check_contentieux, appeal, filed_on)

    @workflow.update(name=A.RECORD_JUDGMENT)
    @once
    async def record_judgment(self, msg: Judgment) -> LabelStage:
        appeal = self._open_appeal()
        appeal.judgment, appeal.judged_on = msg.outcome, self._date_or_today(msg.judged_on)
        if msg.outcome == "annulled":
            self._appeal_granted(appeal.judged_on)
        self._touch()
        return self.state.stage

    @record_judgment.validator
    @unless_seen
    def _validate_judgment(self, msg: Judgment) -> None:
        appeal = self._open_appeal()
        checked(check_judgment, appeal)
        self._check_date(msg.judged_on, appeal.contentieux_filed_on, "judgment date")
