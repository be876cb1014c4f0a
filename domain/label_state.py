"""The state of a granted Label référent RSA (L15–L20, W1–W3) and the funding rule read from it, pure.

``LabelState`` is the ``Label`` workflow's input, state and continue-as-new input (its JSON shape is part
of the recorded histories: fields are only added, with defaults). ``is_labelled`` answers funding checks
for a day, including past validity periods and the extension while a renewal requested in the window is
being decided (G-L16).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

from domain import label as rules_of
from domain.label import LabelStage
from domain.label_appeal import AppealRecord
from domain.label_contract import RegisteredLetter
from domain.label_messages import LabelInput
from domain.rules import RuleSet


FINAL_STAGES = (LabelStage.LAPSED, LabelStage.WITHDRAWN, LabelStage.EXPIRED)


class ValidityPeriod(BaseModel):
    start: date
    end: date  # first day no longer valid


class NoticeLetter(BaseModel):
    letter_key: str
    kind: str  # a LetterKind value
    decided_on: date
    registered_number: str | None = None
    sent_on: date | None = None
    posting_clock: bool = False  # a reminder also when the posting is not recorded
    received_on: date | None = None
    receipt_reminder_sent: bool = False


class WithdrawalProcedure(BaseModel):
    notified_on: date
    observation_deadline: date
    grounds: list[str]
    observations_on: date | None = None
    decision_task_sent: bool = False


class Remediation(BaseModel):
    started_on: date
    ends_on: date
    study_task_sent: bool = False


class LabelState(BaseModel):
    """The whole state of a label; the workflow input (``LabelState.granted``) and continue-as-new input."""

    structure_id: str
    territory: str
    application_workflow_id: str
    rule_set_version: str
    first_granted_on: date
    decided_on: date  # start of the current 5-year cycle
    expires_on: date  # first day no longer valid, unless a renewal requested in the window is pending
    stage: LabelStage = LabelStage.LABELLED
    past_periods: list[ValidityPeriod] = []
    reviews_requested: list[date] = []
    reviews_received: list[date] = []
    review_reminders_sent: list[date] = []
    renewal_reminders_sent: list[date] = []
    renewal_requested_on: date | None = None
    renewal_refused_on: date | None = None
    ceremony_years: list[int] = []
    withdrawal: WithdrawalProcedure | None = None
    remediation: Remediation | None = None
    ended_on: date | None = None
    end_reason: str | None = None
    letters: list[NoticeLetter] = []
    appeal_letter_key: str | None = None  # the decision against the structure whose appeal windows run
    appeal_of: Literal["withdrawal", "renewal_refusal"] | None = None
    appeal: AppealRecord | None = None  # opened by the receipt of that letter
    documents: list[RegisteredLetter] = []  # every letter of the case, as written (rendered on demand)
    seen_event_ids: list[str] = []
    version: int = 0

    @classmethod
    def granted(cls, data: LabelInput, rules: RuleSet) -> "LabelState":
        return cls(
            structure_id=data.structure_id, territory=data.territory,
            application_workflow_id=data.application_workflow_id, rule_set_version=data.rule_set_version,
            first_granted_on=data.decided_on, decided_on=data.decided_on,
            expires_on=rules_of.label_expires_on(data.decided_on, rules),
        )

    def is_labelled(self, on: date) -> bool:
        if any(p.start <= on < p.end for p in self.past_periods):
            return True
        if on < self.decided_on:
            return False
        if self.ended_on is not None:
            return on < self.ended_on
        if self.renewal_requested_on is not None:
            return True  # kept valid until the renewal decision (G-L16)
        return on < self.expires_on
