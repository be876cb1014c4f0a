"""Inbound pathway messages, one model each; ``event_id`` makes a re-sent event a no-op.

Re-exported by :mod:`domain.pathway`; model names and fields are in recorded payloads: never rename them.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from domain.actor import Actor
from domain.pathway_stages import (
    BilanDecision,
    AppointmentKind,
    CerType,
    EpOutcome,
    ExitReason,
    OrientationTarget,
    ReorientationReason,
)
from domain.pathway_state import CerAction, ConvocationOutcome, GesicaOutcome, HouseholdChange, PathwayState


class PathwayMessage(BaseModel):
    """Every message to a pathway: its ``event_id`` (a re-sent id is ignored) and who sent it (``actor``: the
    calling service and, for a person's decision, their opaque id; None on messages recorded before it)."""

    event_id: str
    actor: Actor | None = None


class PathwayInput(BaseModel):
    """Workflow input: the opaque person id and territory; ``state`` when continuing as new."""

    person_id: str
    territory: str
    state: PathwayState | None = None
    #: A first run that adopts a running case (``domain.caseload.adopt``): its state at its stage, clocks included.
    adoption: PathwayState | None = None
    #: A new pathway of a person whose former one has finished (same id): its changes numbered from here, above
    #: the former's, so the read model (one row per pathway id, guarded by version) takes them.
    seq_base: int = Field(0, ge=0)


class FlowRecord(PathwayMessage):
    """A CAF/MSA flow record about the person (T1–T3, T24, T25); signal and signal-with-start.

    ``rsa_entry_date`` (G-B2) is the RSA right's own entry date when the flow gives it (prime d'activité cases
    resume with the earlier entry date [002:412]); the orientation clock still starts at the CAF transmission date
    of the first flow where the person is soumis ([002:3707])."""

    transmission_date: date
    subject_to_duties: bool
    rights_open: bool = True
    rsa_majore: bool = False
    rsa_entry_date: date | None = None

    @model_validator(mode="after")
    def _entry_not_after_transmission(self) -> "FlowRecord":
        if self.rsa_entry_date is not None and self.rsa_entry_date > self.transmission_date:
            raise ValueError("rsa_entry_date cannot be after the transmission date")
        return self


class OrientationDecision(PathwayMessage):
    """Orientation notified by the Département services (T4, T5); bypassing the platform needs a reason."""

    target: OrientationTarget
    structure_id: str
    notified_on: date
    bypass_reason: str | None = None


class AppointmentEvent(PathwayMessage):
    kind: AppointmentKind
    appointment_date: date
    physical: bool = True
    excused: bool = False


class DiagnosticCompleted(PathwayMessage):
    completed_on: date


class PreconisationSubmitted(PathwayMessage):
    target: OrientationTarget
    structure_id: str
    submitted_on: date


class SlaiPreconisationDecision(PathwayMessage):
    """SLAI validation (T11) — it may change the target (T12)."""

    decided_on: date
    target: OrientationTarget | None = None  # None: the préconisation as submitted
    structure_id: str | None = None


class SignCer(PathwayMessage):
    cer_id: str
    type: CerType
    start: date
    end: date
    signed_on: date
    actions: list[CerAction]
    #: CAF route (§3.8, [000:222]): the GESICA entry domain and its objectives, required when the CAF signs.
    gesica_domain: str | None = Field(default=None, max_length=64)
    gesica_objectives: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=10)


class AmendCer(PathwayMessage):
    """An amendment (avenant) to the active CER that moves its end: with a new CER, the only way to change it
    (R13: 6 months at most from its start [000:181])."""

    cer_id: str
    new_end: date
    amended_on: date


class CompleteBilan(PathwayMessage):
    completed_on: date
    decision: BilanDecision
    global_outcome: str | None = None  # GESICA global bilan (required on the CAF route)
    domain_outcomes: list[GesicaOutcome] = Field(default_factory=list)
    reorientation_reason: ReorientationReason | None = None
    justification: str | None = None
    exit_reason: ExitReason | None = None


class RequestReorientation(PathwayMessage):
    """Referent's reasoned request (avis motivé) to the SLAI; ``exit`` asks for an exit instead."""

    reason: ReorientationReason
    requested_on: date
    justification: str | None = None
    exit: bool = False


class DecideReorientation(PathwayMessage):
    decided_on: date
    approved: bool
    target: OrientationTarget | None = None
    structure_id: str | None = None


class PersonalReviewRequest(PathwayMessage):
    requested_on: date


class PersonalReviewOutcome(str, Enum):
    RESUME = "RESUME"
    REORIENT = "REORIENT"


class PersonalReviewDecision(PathwayMessage):
    decided_on: date
    outcome: PersonalReviewOutcome


class NonComplianceKind(str, Enum):
    NON_ADHESION = "NON_ADHESION"
    UNEXCUSED_ABSENCE = "UNEXCUSED_ABSENCE"


class NonComplianceReport(PathwayMessage):
    kind: NonComplianceKind
    reported_on: date


class EpReferralConfirmation(PathwayMessage):
    """A person confirms (or drops) the proposed referral to the équipe pluridisciplinaire."""

    confirmed: bool
    decided_on: date


class EpDecision(PathwayMessage):
    """``share_percent`` and ``months`` describe a reduction or suspension (categories and numbers only)."""

    outcome: EpOutcome
    decided_on: date
    share_percent: int | None = Field(default=None, ge=1, le=100)
    months: int | None = Field(default=None, ge=1, le=12)


class LeftRsa(PathwayMessage):
    end_of_payment_date: date
    reason: str


class PostExitChoice(PathwayMessage):
    continue_accompaniment: bool
    decided_on: date


class CafSaisineMode(str, Enum):
    M1 = "M1"  # CAF saisine: RSA majoré family followed by a CAF social worker, no référent solidarité
    M2 = "M2"  # SLAI orients a family unknown to the CAF: separation, death of spouse, pregnancy/birth
    M3 = "M3"  # widening to other RSA-majoré profiles when below 20 per ETP


class FamilyEvent(str, Enum):
    SEPARATION = "SEPARATION"
    DECES_CONJOINT = "DECES_CONJOINT"
    GROSSESSE_OU_NAISSANCE_PARENT_SEUL = "GROSSESSE_OU_NAISSANCE_PARENT_SEUL"


class CafSaisine(PathwayMessage):
    """CAF route entry (domain.md §3.2) with the facts needed for the exclusions of §3.3."""

    mode: CafSaisineMode
    requested_on: date
    caf_structure_id: str
    rsa_majore: bool
    followed_by_caf_social_worker: bool = False
    has_referent_solidarite: bool = False
    family_event: FamilyEvent | None = None
    widening_authorised_by_slai: bool = False
    age: int | None = None
    gens_du_voyage: bool = False
    accompanied_by_departement_service: bool = False
    hosted_in_structure: bool = False  # CHRS, foyer maternel…


class CafSaisineDecision(PathwayMessage):
    accepted: bool
    decided_on: date


class CafFirstInterview(PathwayMessage):
    held_on: date
    within_caf_competence: bool


class LostFromViewConvocation(PathwayMessage):
    """T26 « perdus de vue » campaign (R18, G-B19): the Département's services convoke a person without
    accompaniment. Sent when the convocation goes out, then again with the same ``convocation_id``, a new
    ``event_id`` and its ``outcome`` once known."""

    convocation_id: str
    convoked_on: date
    appointment_date: date
    outcome: ConvocationOutcome | None = None


class PaymentSuspended(PathwayMessage):
    """Flow: the RSA payment is suspended (ETATDOSRSA 3 or 4). ``reasons`` are MOTISUSVERSRSA codes."""

    flow_date: date
    reasons: list[str]
    since: date | None = None
    right_questioned: bool = False  # ETATDOSRSA 3: the right itself is questioned


class PaymentResumed(PathwayMessage):
    """Flow: the RSA payment is no longer suspended."""

    flow_date: date


class HouseholdMemberChanged(BaseModel):
    """Flow (G-B20): a person of the same matricule entered or left the RSA, or was there when this person
    entered. Opaque ids and codes only: the spouses' pathways know each other, nothing personal travels."""

    event_id: str
    member_pathway_id: str = Field(pattern=r"^pathway-[A-Za-z0-9_-]{8,80}$")
    change: HouseholdChange
    on: date
    role: str | None = Field(default=None, pattern=r"^[A-Z]{2,4}$")


class NotSubjectConfirmed(PathwayMessage):
    """Flow (G-B8): « non soumis aux droits et devoirs » in ``flows`` consecutive flows since ``since``."""

    flow_date: date
    since: date
    flows: int
