"""Messages of the label application and label workflows (one pydantic model per message).

Every message carries an ``event_id``; a workflow ignores an id it has already seen. Dates are civil
dates (Europe/Paris); a ``None`` date means "today" for the workflow receiving it. No personal data:
structures and CER are opaque ids; signatures are recorded as dates, not names.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.label_appeal import EvidenceReference
from domain.label_evaluation import ProfessionalFile

from domain.actor import ACTOR_PATTERN, Actor


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=200)
    actor: Actor | None = None  # who sent it (calling service, person's opaque id); None before it existed


# --- application workflow ----------------------------------------------------------------------------


class LabelApplicationInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    structure_id: str
    application_no: int = Field(ge=1)
    territory: str  # the lead SLAI's territory (G-L22): coarse, not personal
    rule_set_version: str | None = None  # default: the rule set in force when the workflow starts


class Superseded(_Message):
    """A new application filed after this one's moratorium (the registry accepted it): it is the reapplication."""

    by_application: str = Field(min_length=1, max_length=100)


class ApplicationSubmitted(_Message):
    """L1: the file arrived on epartenaires."""

    filed_on: date | None = None


class AdminEvaluation(_Message):
    """L3: the DPID's administrative evaluation, with its recorded CER sample (seed and drawn ids)."""

    training_ok: bool
    cer_average: float = Field(ge=0, le=10)
    seed: str
    sampled_cer_ids: list[str] = []
    reasons: list[str] = []


class EvaluationSubmitted(_Message):
    """L3 from the file itself: the DPID submits each professional's training attestations and CER evaluations
    (the Annexe 2 grid input of ``parcours cer score``); the case computes the training coverage, the seeded
    sample of CER per professional and the averages, and proposes the decision (``domain.label_evaluation``)."""

    professionals: list[ProfessionalFile] = Field(min_length=1, max_length=500)
    seed: str | None = Field(None, min_length=1, max_length=200)  # default "<structure id>:<evaluation date>"
    evaluation_date: date | None = None


class TerritoryOpinion(_Message):
    """G-L22: the opinion of a SLAI the lead SLAI consulted (a structure working on several territories)."""

    territory: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
    agrees: bool
    remarks: list[str] = Field(default=[], max_length=20)


class SlaiOpinion(_Message):
    """The SLAI confirms or reworks the DPID opinion [001:281]; a confirmation may omit the figures
    (the DPID's are kept), a reworked opinion gives both."""

    confirmed: bool
    training_ok: bool | None = None
    cer_average: float | None = Field(None, ge=0, le=10)
    reasons: list[str] = []

    @model_validator(mode="after")
    def _reworked_figures(self) -> "SlaiOpinion":
        if not self.confirmed and (self.training_ok is None or self.cer_average is None):
            raise ValueError("a reworked opinion gives training_ok and cer_average")
        return self


class JointReview(_Message):
    """L4: siège–SLAI work session below 80 %: confirms or revises the evaluation [001:255]."""

    training_ok: bool
    cer_average: float = Field(ge=0, le=10)
    reasons: list[str] = []


class Decision(_Message):
    outcome: Literal["grant", "refuse"]
    decided_on: date | None = None
    reasons: list[str] = []  # a refusal is "motivé en fait et en droit" [001:300]


class ReceiptAcknowledged(_Message):
    """The registered letter's acknowledgement of receipt: its date is the notification date (G-L19)."""

    letter_key: str
    received_on: date


class LetterSent(_Message):
    """The DPID posted a letter by LRAR: its number and the posting date start the wait for the receipt."""

    letter_key: str = Field(min_length=1, max_length=300)
    registered_number: str = Field(pattern=r"^[A-Z0-9][A-Z0-9 ]{5,29}$")
    sent_on: date


def letter_sent_by_task(task_id: int, letter_key: str | None, registered_letter_number: str, sent_on: date,
                        service: str, person: str | None) -> LetterSent:
    """The ``record_letter_sent`` message a completed ``LETTER_TO_SEND`` task carries to the case that wrote the
    letter; its event id is the task's, so a retried completion is a duplicate the case ignores. The task inbox
    takes ``service:<name>`` actors too: the message then names the service alone (the task keeps who closed
    it). ValueError (a pydantic ValidationError) when the task names no letter or the number is not a
    registered-letter number."""
    actor = Actor(service=service, person=person if person and re.match(ACTOR_PATTERN, person) else None)
    return LetterSent(event_id=f"task-{task_id}:letter-sent", actor=actor, letter_key=letter_key or "",
                      registered_number=registered_letter_number, sent_on=sent_on)


class MoratoriumRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    unmet_criterion: str
    objectives: str
    means: str
    timing: str


class MoratoriumSheet(_Message):
    """Annexe 4 "Fiche de suivi moratoire labélisation" [001:452-469]."""

    meeting_on: date
    rows: list[MoratoriumRow] = Field(min_length=1)
    structure_signed_on: date | None = None
    slai_animator_signed_on: date | None = None
    siege_signed_on: date | None = None


class Reapplication(_Message):
    """L7: new application after the moratorium."""

    filed_on: date | None = None


class AppealFiled(_Message):
    filed_on: date | None = None
    evidence: list[EvidenceReference] = Field(default=[], max_length=50)  # L10 (recours gracieux)


class GracieuxAnswer(_Message):
    outcome: Literal["granted", "rejected"]
    answered_on: date | None = None
    reasons: list[str] = []


class Judgment(_Message):
    """Tribunal administratif de Lille: ``annulled`` grants the label, ``dismissed`` confirms the refusal."""

    outcome: Literal["annulled", "dismissed"]
    judged_on: date | None = None


# --- label workflow ----------------------------------------------------------------------------------


class LabelInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    structure_id: str
    territory: str
    decided_on: date
    application_workflow_id: str
    rule_set_version: str


class AnnualReview(_Message):
    """L15: yearly charte qualité and training status (G-L17)."""

    anniversary: date
    charte_ok: bool
    training_ok: bool
    cer_quality_ok: bool
    reasons: list[str] = []


class RenewalRequest(_Message):
    requested_on: date | None = None


class RenewalDecision(_Message):
    outcome: Literal["grant", "refuse"]
    decided_on: date | None = None
    reasons: list[str] = []


class MissionEnded(_Message):
    """W1: the structure stops accompanying the RSA public."""

    ended_on: date | None = None


class CommitmentBreach(_Message):
    """W2: commitments not respected; the prior notice opens 1 month of observations."""

    notified_on: date | None = None
    grounds: list[str] = Field(min_length=1)


class ObservationsReceived(_Message):
    received_on: date | None = None


class WithdrawalDecision(_Message):
    outcome: Literal["withdraw", "maintain"]
    decided_on: date | None = None
    reasons: list[str] = []


class QualityIssue(_Message):
    """W3: CER quality no longer assured; the procedure is re-triggered with 6 months of SLAI support."""

    reported_on: date | None = None
    reasons: list[str] = []


class RemediationOutcome(_Message):
    quality_assured: bool
    decided_on: date | None = None
    reasons: list[str] = []


class IsLabelledQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    structure_id: str
    on: date
