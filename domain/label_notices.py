"""Letters and appeal windows of a granted label (W1–W3, renewal), pure: the ``Label`` aggregate's notices.

A mixin of :class:`domain.label_rules.Label`: every notified decision produces a letter (``_notify``, behind the
``label-letters`` patch); the DPID records its posting (LRAR number, date) and its acknowledgement of receipt;
no receipt ``letter_ar_reminder_days`` after posting makes a reminder task. A decision against the structure (W2
or W3 withdrawal, renewal refusal) opens, from its receipt, the same appeal windows as a refused application
(``domain.label_appeal``); the case stays open until they are settled, and a successful appeal calls
``_appeal_granted`` (reinstatement or renewal).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from domain import label as rules_of
from domain import label_appeal as windows
from domain.deadlines import deadline_instant
from domain.label_appeal import AppealRecord
from domain.label_contract import LetterDates
from domain.label_letters import APPEALABLE, LetterKind
from domain.label_messages import AppealFiled, GracieuxAnswer, Judgment, LetterSent, ReceiptAcknowledged
from domain.label_outbox import LETTERS, LabelCaseRules, Timed, refuse
from domain.label_state import LabelState, NoticeLetter


class LabelNotices(LabelCaseRules):
    """Needs ``_appeal_granted`` from the aggregate."""

    s: LabelState

    def _appeal_granted(self, on: date) -> None:
        raise NotImplementedError

    def _notify(self, kind: LetterKind, decided_on: date, reasons: list[str], dates: LetterDates | None = None,
                *, appeal_of: Literal["withdrawal", "renewal_refusal"] | None = None) -> None:
        if not self._patched(LETTERS):
            return
        s = self.s
        key = f"{self.workflow_id}:{kind.value}:{decided_on.isoformat()}"
        s.letters = s.letters + [NoticeLetter(letter_key=key, kind=kind.value, decided_on=decided_on,
                                              posting_clock=True)]
        if kind in APPEALABLE:
            s.appeal_letter_key, s.appeal, s.appeal_of = key, None, appeal_of
        self._letter(key, kind.value, decided_on, reasons, dates)

    def _find_letter(self, key: str) -> NoticeLetter:
        for letter in self.s.letters:
            if letter.letter_key == key:
                return letter
        refuse(f"no letter {key} in this case")
        raise AssertionError  # unreachable: refuse raises

    def notices_settled(self) -> bool:
        """No decision letter waiting for its receipt, no appeal pending and every window closed."""
        s = self.s
        if s.appeal_letter_key is None:
            return True
        if s.appeal is None:
            return False
        return s.appeal.settled(self.today())

    def notice_timed(self) -> Timed:
        s = self.s
        events: Timed = []
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
        self._task(kind, "DPID", key, None, letter_key=key, registered_number=letter.registered_number,
                   sent_on=letter.sent_on)
        self.touch()

    def _implicit_rejection(self) -> None:
        appeal = self.s.appeal
        assert appeal is not None and appeal.gracieux_answer_due is not None
        appeal.gracieux_outcome, appeal.gracieux_implicit = "rejected", True
        appeal.rejection_on = appeal.gracieux_answer_due
        appeal.contentieux_deadline_after_rejection = rules_of.appeal_deadline(appeal.rejection_on, self.rules)
        self.touch()

    def _open_appeal(self) -> AppealRecord:
        if self.s.appeal is None:
            refuse("no notified decision to appeal against")
        return self.s.appeal

    # --- posting and receipt ---------------------------------------------------------------------------

    def check_letter_sent(self, msg: LetterSent) -> None:
        letter = self._find_letter(msg.letter_key)
        if letter.sent_on is not None or letter.received_on is not None:
            refuse(f"letter {msg.letter_key} is already posted or acknowledged")
        self._check_date(msg.sent_on, letter.decided_on, "posting date")

    def record_letter_sent(self, msg: LetterSent) -> None:
        letter = self._find_letter(msg.letter_key)
        letter.sent_on, letter.registered_number = msg.sent_on, msg.registered_number
        letter.receipt_reminder_sent = False  # the receipt reminder now runs from the posting
        self._letter_event(letter.letter_key, registered_number=msg.registered_number, sent_on=msg.sent_on)

    def check_receipt(self, msg: ReceiptAcknowledged) -> None:
        letter = self._find_letter(msg.letter_key)
        if letter.received_on is not None:
            refuse(f"letter {msg.letter_key} already acknowledged on {letter.received_on.isoformat()}")
        self._check_date(msg.received_on, letter.sent_on or letter.decided_on, "acknowledgement date")

    def acknowledge_receipt(self, msg: ReceiptAcknowledged) -> None:
        s = self.s
        letter = self._find_letter(msg.letter_key)
        letter.received_on = msg.received_on
        self._letter_event(letter.letter_key, received_on=msg.received_on)
        if letter.letter_key == s.appeal_letter_key:
            deadline = rules_of.appeal_deadline(msg.received_on, self.rules)
            s.appeal = AppealRecord(gracieux_deadline=deadline, direct_contentieux_deadline=deadline)
        self.touch()

    # --- appeals (L10–L13 applied to withdrawals and renewal refusals) ---------------------------------

    def check_recours_gracieux(self, msg: AppealFiled) -> None:
        appeal = self._open_appeal()
        letter = self._find_letter(self.s.appeal_letter_key or "")
        windows.check_gracieux(appeal, self._check_date(msg.filed_on, letter.received_on, "recours gracieux date"))

    def file_recours_gracieux(self, msg: AppealFiled) -> None:
        appeal = self._open_appeal()
        appeal.gracieux_filed_on = self._date_or_today(msg.filed_on)
        appeal.gracieux_evidence = list(msg.evidence)
        appeal.gracieux_answer_due = rules_of.gracieux_answer_due(appeal.gracieux_filed_on, self.rules)
        self._task("label_recours_gracieux", "DPID", f"answer:{self.s.appeal_letter_key}",
                   appeal.gracieux_answer_due, evidence=[e.document_id for e in msg.evidence])
        self.touch()

    def check_gracieux_answer(self, msg: GracieuxAnswer) -> None:
        appeal = self._open_appeal()
        windows.check_gracieux_answer(appeal)
        self._check_date(msg.answered_on, appeal.gracieux_filed_on, "answer date")

    def answer_recours_gracieux(self, msg: GracieuxAnswer) -> None:
        appeal = self._open_appeal()
        answered_on = self._date_or_today(msg.answered_on)
        appeal.gracieux_outcome = msg.outcome
        self._close_tasks([("label_recours_gracieux", f"answer:{self.s.appeal_letter_key}")],
                          "RECOURS_GRACIEUX_ANSWERED")
        if msg.outcome == "granted":
            self._notify(LetterKind.GRACIEUX_GRANTED, answered_on, msg.reasons)
            self._appeal_granted(answered_on)
        else:
            appeal.rejection_on = answered_on
            appeal.contentieux_deadline_after_rejection = rules_of.appeal_deadline(answered_on, self.rules)
            self._notify(LetterKind.GRACIEUX_REJECTED, answered_on, msg.reasons,
                         LetterDates(contentieux_deadline=appeal.contentieux_deadline_after_rejection))
        self.touch()

    def check_recours_contentieux(self, msg: AppealFiled) -> None:
        appeal = self._open_appeal()
        windows.check_contentieux(appeal)
        letter = self._find_letter(self.s.appeal_letter_key or "")
        filed_on = self._check_date(msg.filed_on, appeal.rejection_on or letter.received_on, "recours contentieux date")
        windows.check_contentieux(appeal, filed_on)

    def file_recours_contentieux(self, msg: AppealFiled) -> None:
        self._open_appeal().contentieux_filed_on = self._date_or_today(msg.filed_on)
        self.touch()

    def check_judgment(self, msg: Judgment) -> None:
        appeal = self._open_appeal()
        windows.check_judgment(appeal)
        self._check_date(msg.judged_on, appeal.contentieux_filed_on, "judgment date")

    def record_judgment(self, msg: Judgment) -> None:
        appeal = self._open_appeal()
        appeal.judgment, appeal.judged_on = msg.outcome, self._date_or_today(msg.judged_on)
        if msg.outcome == "annulled":
            self._appeal_granted(appeal.judged_on)
        self.touch()
