"""What the pathway answers: read-model rows, command results and the view of a case.

Re-exported by :mod:`domain.pathway`.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from domain.pathway_stages import Breach, CerType, DeadlineKind, ExitReason, OrientationTarget, Stage
from domain.pathway_state import (
    Anomaly,
    Convocation,
    DecisionRecord,
    HouseholdMember,
    LabelLoss,
    Outbox,
    PathwayState,
    PaymentSuspensionInfo,
    Sanction,
    StageChange,
)
from domain.plein_emploi_state import PleinEmploiState
from domain.rules import ContractKind


class PathwayRow(BaseModel):
    """The pathway's row in the read model (table ``pathways``), written with a growing ``version``."""

    pathway_id: str
    person_id: str
    territory: str
    rule_set: str
    stage: Stage
    subject_to_duties: bool | None
    referent_type: OrientationTarget | None
    referent_structure_id: str | None
    entry_date: date | None
    rsa_entry_date: date | None = None
    orientation_target: OrientationTarget | None
    orientation_notified_on: date | None
    caf_saisine_mode: str | None
    next_deadline: date | None
    breach_count: int
    cer_count: int
    closed_on: date | None
    exit_reason: ExitReason | None
    version: int
    seq_base: int = 0  # the pathway's first sequence: rows below it are a former pathway's


class PathwayEffects(BaseModel):
    """One batch of read-model writes and tasks (one activity call, one transaction)."""

    row: PathwayRow
    outbox: Outbox


class CommandResult(BaseModel):
    """What an update returns: the stage after it, and whether the event was a duplicate."""

    stage: Stage
    duplicate: bool = False


class CerView(BaseModel):
    cer_id: str
    type: CerType
    start: date
    end: date
    renewal: bool
    physical_appointments: int


class DeadlineView(BaseModel):
    id: str
    kind: DeadlineKind
    due: date
    status: str  # PENDING, PAUSED, MET, BREACHED, FIRED, CANCELLED


class PathwayView(BaseModel):
    """Query result: ids, dates and categories only."""

    person_id: str
    stage: Stage
    entry_date: date | None = None  # CAF transmission date of the first « soumis » flow (orientation clock)
    rsa_entry_date: date | None = None  # G-B2
    rule_set_version: str
    subject_to_duties: bool | None
    referent_type: OrientationTarget | None
    referent_structure_id: str | None
    active_cer: CerView | None
    deadlines: list[DeadlineView]
    breaches: list[Breach]
    stage_history: list[StageChange]
    run: int
    exit_reason: ExitReason | None
    payment_suspension: PaymentSuspensionInfo | None = None
    not_subject_confirmed_since: date | None = None
    convocations: list[Convocation] = Field(default_factory=list)
    label_losses: list[LabelLoss] = Field(default_factory=list)
    anomalies: list[Anomaly] = Field(default_factory=list)
    sanctions: list["Sanction"] = Field(default_factory=list)
    household: list[HouseholdMember] = Field(default_factory=list)
    contract_kind: ContractKind | None = None  # the active contract's kind
    plein_emploi: PleinEmploiState = Field(default_factory=PleinEmploiState)
    decisions: list[DecisionRecord] = Field(default_factory=list)


Outbox.model_rebuild()
PathwayState.model_rebuild()
PathwayView.model_rebuild()
