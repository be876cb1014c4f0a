"""The state of one Label référent RSA application (L1–L14) and the rules read from it, pure.

``LabelApplicationState`` is the ``LabelApplication`` workflow's input and state (its JSON shape is part of
the recorded histories: fields are only added, with defaults); the aggregate
``domain.label_application_rules.LabelApplication`` changes it and asks it what to publish
(``displayed_stage``), whether the case still holds the structure (``holds_structure``, for the registry) and
whether it is over (``finished``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

from domain.label import LabelStage
from domain.label_appeal import AppealRecord
from domain.label_contract import RegisteredLetter
from domain.label_evaluation import LabelProposal
from domain.label_messages import AdminEvaluation, JointReview, MoratoriumSheet, SlaiOpinion, TerritoryOpinion


class DecisionRecord(BaseModel):
    round: int
    outcome: Literal["grant", "refuse"]
    decided_on: date
    reasons: list[str]
    origin: Literal["instruction", "recours_gracieux", "judgment"] = "instruction"


class RefusalRecord(BaseModel):
    round: int
    final: bool
    decided_on: date
    reasons: list[str]
    letter_key: str
    registered_number: str | None = None
    sent_on: date | None = None  # posted by LRAR (recorded by the DPID)
    posting_clock: bool = False  # a reminder also when the posting is not recorded (letters since the patch)
    receipt_reminder_sent: bool = False
    notified_on: date | None = None  # the LRAR acknowledgement-of-receipt date
    appeal: AppealRecord | None = None


class MoratoriumRecord(BaseModel):
    earliest_reapplication: date
    closes_on: date
    reminder_sent: bool = False
    sheet: MoratoriumSheet | None = None


class LabelApplicationState(BaseModel):
    """The whole state of an application; also the workflow's input."""

    structure_id: str
    application_no: int
    territory: str
    rule_set_version: str | None = None
    after_moratorium_of: str | None = None  # filed after that application's moratorium: its refusal is final (L9)
    other_territories: list[str] = []  # G-L22: the lead SLAI (``territory``) consults these SLAIs
    territory_opinions: list[TerritoryOpinion] = []  # of the current round

    stage: LabelStage = LabelStage.DRAFT  # as published (appeals shown over the base stage)
    base_stage: LabelStage = LabelStage.DRAFT
    round: int = 0  # 1: first study, 2: study of the reapplication
    step: LabelStage | None = None  # DPID_ADMIN_EVALUATION / SLAI_CONSOLIDATION / JOINT_REVIEW_BELOW_80
    first_filed_on: date | None = None
    filed_on: date | None = None  # filing of the current round
    instruction_due: date | None = None
    alerts_sent: list[int] = []
    instruction_breaches: list[int] = []  # rounds whose 6 months were exceeded (no tacit grant)
    admin_evaluation: AdminEvaluation | None = None
    evaluation: LabelProposal | None = None  # computed from the submitted file (coverage, sample, averages)
    slai_opinion: SlaiOpinion | None = None
    joint_review: JointReview | None = None
    decisions: list[DecisionRecord] = []
    refusals: list[RefusalRecord] = []
    moratorium: MoratoriumRecord | None = None
    label_workflow_id: str | None = None
    closing_reason: str | None = None
    anomalies: list[str] = []
    documents: list[RegisteredLetter] = []  # every letter of the case, as written (rendered on demand)
    posted_letters: list[str] = []  # letters without a clock (grant, answers) recorded as posted
    seen_event_ids: list[str] = []
    version: int = 0

    def last_refusal(self) -> RefusalRecord | None:
        return self.refusals[-1] if self.refusals else None

    def displayed_stage(self) -> LabelStage:
        """The published stage: a pending appeal shows over the base stage."""
        refusal = self.last_refusal()
        pending = refusal.appeal.pending() if refusal and refusal.appeal else None
        if pending == "gracieux":
            return LabelStage.APPEAL_GRACIEUX
        if pending == "contentieux" and self.base_stage in (LabelStage.MORATORIUM, LabelStage.REFUSED_FINAL):
            return LabelStage.APPEAL_CONTENTIEUX
        return self.base_stage

    def holds_structure(self) -> bool | None:
        """For the structure registry: None in DRAFT (never filed), else whether the case still holds it."""
        if self.base_stage is LabelStage.DRAFT:
            return None
        return self.closing_reason is None and self.base_stage not in (
            LabelStage.GRANTED, LabelStage.LABELLED, LabelStage.REFUSED_FINAL)

    def finished(self, today: date) -> bool:
        """Granted and its label started; or refused (or superseded) with no appeal pending nor window open."""
        if self.base_stage is LabelStage.LABELLED:
            return True
        refusal = self.last_refusal()
        superseded = self.base_stage is LabelStage.MORATORIUM and (self.closing_reason or "").startswith(
            "reapplied as ")
        if not superseded and self.base_stage is not LabelStage.REFUSED_FINAL:
            return False
        if self.closing_reason == "no_reapplication" or superseded:
            return refusal is None or refusal.appeal is None or refusal.appeal.pending() is None
        if refusal is None or refusal.notified_on is None or refusal.appeal is None:
            return False
        return refusal.appeal.settled(today)


class LabelApplicationResult(BaseModel):
    stage: LabelStage
    closing_reason: str | None
    label_workflow_id: str | None
