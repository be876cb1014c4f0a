"""What a ``BeneficiaryPathway`` keeps (:class:`PathwayState`, also its continue-as-new input) and its parts.

Only ids, dates and categories: no names, no NIR, no CER text. Re-exported by :mod:`domain.pathway`.
"""

from __future__ import annotations

from datetime import date
from enum import Enum

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.pathway_stages import (
    AppointmentKind,
    BilanDecision,
    Breach,
    CerType,
    Deadline,
    DeadlineKind,
    EpOutcome,
    ExitReason,
    OrientationTarget,
    ReorientationReason,
    Stage,
)
from domain.plein_emploi_state import HoursReason, PleinEmploiState
from domain.rules import ContractKind
from domain.set_fields import SetFieldsOnly
from domain.tasks import OpenTask, TaskClosure


class StageChange(BaseModel):
    seq: int
    from_stage: Stage | None
    to_stage: Stage
    on: date
    cause: str


class Referent(BaseModel):
    """The accompanying structure (platform or referent): type and structure id only."""

    type: OrientationTarget
    structure_id: str
    designated_on: date


class CerAction(BaseModel):
    """An action of a CER: dates and whether it aims at professional insertion (no free text)."""

    start: date
    end: date
    professional_insertion: bool = False


class Cer(BaseModel):
    cer_id: str
    type: CerType
    start: date
    end: date
    signed_on: date
    action_count: int
    renewal: bool
    structure_id: str
    referent_type: OrientationTarget
    physical_appointments: int = 0
    missed_unexcused: int = 0
    gesica_domain: str | None = None
    gesica_objectives: list[str] = Field(default_factory=list)
    contract_kind: ContractKind = ContractKind.CER  # the case's rule set names it (§8.3)
    weekly_hours: int | None = None  # contrat d'engagement: hours of activity a week
    hours_reason: HoursReason | None = None  # why they are below the minimum


class GesicaOutcome(BaseModel):
    domain: str
    outcome: str


class EpReferral(BaseModel):
    kind: str
    proposed_on: date
    confirmed: bool = False


class ExitInfo(BaseModel):
    end_of_payment: date
    reason: str
    noticed_on: date
    continue_accompaniment: bool | None = None


class Outbox(BaseModel):
    """Effects decided by the rules, not yet written by activities (drained by the workflow's main loop).

    ``decisions`` are not written: the workflow counts them as business metrics.
    """

    stage_changes: list[StageChange] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    breaches: list[Breach] = Field(default_factory=list)
    tasks: list["HumanTask"] = Field(default_factory=list)
    pushes: list["MonJob62Push"] = Field(default_factory=list)
    cers: list[Cer] = Field(default_factory=list)
    appointments: list["AppointmentFact"] = Field(default_factory=list)
    convocations: list["Convocation"] = Field(default_factory=list)
    decisions: list["DecisionTaken"] = Field(default_factory=list)
    decision_records: list["DecisionRecord"] = Field(default_factory=list)
    task_closures: list[TaskClosure] = Field(default_factory=list)
    anomalies: list["Anomaly"] = Field(default_factory=list)

    def empty(self) -> bool:
        return not (self.stage_changes or self.deadlines or self.breaches or self.tasks or self.pushes or self.cers
                    or self.appointments or self.convocations or self.decisions or self.task_closures
                    or self.decision_records or self.anomalies)


class DecisionKind(str, Enum):
    """Decisions taken by people on a pathway, counted by kind and outcome (metric ``parcours_decisions``)."""

    ORIENTATION = "ORIENTATION"
    PRECONISATION = "PRECONISATION"
    REORIENTATION = "REORIENTATION"
    PERSONAL_REVIEW = "PERSONAL_REVIEW"
    EP_REFERRAL = "EP_REFERRAL"
    EP = "EP"
    BILAN = "BILAN"
    POST_EXIT = "POST_EXIT"
    CAF_SAISINE = "CAF_SAISINE"
    CAF_FIRST_INTERVIEW = "CAF_FIRST_INTERVIEW"


class DecisionTaken(BaseModel):
    kind: DecisionKind
    outcome: str  # a category (an enum value), never free text


class DecisionRecord(BaseModel):
    """A person's command applied to the case (table ``pathway_decisions``, ``GET /v1/pathways/{id}``): which
    command, the pathway's day, the stage after it and who sent it (ids only)."""

    seq: int
    command: str  # the workflow update's name
    on: date
    stage: Stage
    service: str | None
    actor: str | None  # the person's opaque id (``agent:<id>``)


class AppointmentFact(BaseModel):
    """One accepted appointment (table ``pathway_appointments``): its own date and the pathway's day when the
    event arrived, i.e. when it was fixed (G-B4). The CAF first interview is written as a HELD appointment."""

    event_id: str
    kind: "AppointmentKind"
    appointment_date: date
    recorded_on: date
    physical: bool = True
    excused: bool = False


class ConvocationOutcome(str, Enum):
    ATTENDED = "ATTENDED"
    MISSED = "MISSED"
    EXCUSED = "EXCUSED"


class Convocation(BaseModel):
    """A « perdus de vue » convocation (T26; table ``lost_from_view_convocations``, upserted by ``version``)."""

    convocation_id: str
    convoked_on: date
    appointment_date: date | None = None
    outcome: ConvocationOutcome | None = None
    version: int = 0


class HouseholdChange(str, Enum):
    PRESENT = "PRESENT"  # already in the household when this person entered
    ENTERED = "ENTERED"  # entered the RSA (new entrant, re-entry)
    LEFT = "LEFT"  # the right ended


class HouseholdMember(BaseModel):
    """Another person of the same CAF/MSA file (G-B20): the opaque pathway id and the RSA role code only."""

    pathway_id: str
    role: str | None = None
    status: HouseholdChange
    since: date


class PaymentSuspensionInfo(BaseModel):
    """The RSA payment is suspended: MOTISUSVERSRSA codes only (categories), no amount, no personal data."""

    reasons: list[str]
    since: date | None = None
    right_questioned: bool = False
    noticed_on: date


class Anomaly(BaseModel):
    """A message the pathway could not apply (a fact the rules refuse, or data the dates cannot carry): kept in the
    case (view, table ``pathway_anomalies``) with a task for the responsible service, never silently dropped.
    ``code`` is the rule's code (e.g. ``STAGE_NOT_ALLOWED``), ``IMPLAUSIBLE_DATE`` or ``DATA_NOT_APPLICABLE``."""

    anomaly_id: str
    message: str  # the workflow message (signal or update name)
    event_id: str
    code: str
    stage: Stage  # the stage the message found
    received_on: date


class LabelLoss(BaseModel):
    """The accompanying structure lost its « Label référent RSA » (issue 4 item 6)."""

    structure_id: str
    reason: str
    effective_date: date
    noticed_on: date


class HumanTask(BaseModel):
    """A task for a service (table ``human_tasks``); ``task_key`` makes a retried creation a no-op."""

    task_key: str
    kind: str
    assignee: str
    due_date: date | None = None
    details: dict[str, str] = Field(default_factory=dict)


class _PushData(SetFieldsOnly):
    """What one MonJob62 push carries, typed end to end (``activities.monjob`` maps it to the wire). Serialized with
    the fields the pathway set only, in this order: the JSON recorded histories hold."""


class CerPush(_PushData):
    person_id: str
    cer_id: str
    type: CerType
    start: date
    end: date
    structure_id: str | None = None
    renewal: bool = False
    actions: int | None = None
    signed_on: date
    contract_kind: ContractKind = ContractKind.CER
    weekly_hours: int | None = None  # contrat d'engagement only


class BilanPush(_PushData):
    person_id: str
    decision: BilanDecision
    completed_on: date
    global_outcome: str | None = None
    domain_outcomes: list[GesicaOutcome] = Field(default_factory=list)
    cer_id: str | None = None
    physical_appointments: int | None = None
    caf_min_physical_appointments_met: bool | None = None  # CAF route only (T16 / G-B12)
    ref: str | None = None  # the bilan id; else the key's business reference


class ExitPush(_PushData):
    person_id: str
    ref: str | None = None  # the exit id; else the key's business reference
    reason: ExitReason
    closed_on: date
    structure_id: str | None = None


PUSH_DATA: dict[str, type[_PushData]] = {"CER": CerPush, "BILAN": BilanPush, "EXIT": ExitPush}


class MonJob62Push(BaseModel):
    kind: str  # CER | BILAN | EXIT
    idempotency_key: str
    data: CerPush | BilanPush | ExitPush

    @model_validator(mode="before")
    @classmethod
    def _data_of_its_kind(cls, value: Any) -> Any:
        """Decode ``data`` as the model of ``kind`` (not whichever model of the union happens to fit)."""
        if isinstance(value, dict) and isinstance(value.get("data"), dict) and value.get("kind") in PUSH_DATA:
            value = {**value, "data": PUSH_DATA[value["kind"]].model_validate(value["data"])}
        return value


class PastDue(BaseModel):
    """A clock that fell due before the pathway was adopted, kept as a migration fact (no breach, no escalation)."""

    kind: DeadlineKind
    due: date


class Adoption(BaseModel):
    """The pathway was brought in mid-flight from a département's caseload (``parcours caseload import``): where
    from (source, file digest, data row), so an auditor tells a migrated case from one that lived here."""

    source: str
    file_digest: str
    row: int
    row_digest: str
    adopted_on: date
    past_breaches: bool = True
    past_due: list[PastDue] = Field(default_factory=list)


class Sanction(BaseModel):
    """A sanction decided on the pathway, as recorded (never applied by the system: rights are the CAF's)."""

    outcome: EpOutcome
    decided_on: date
    share_percent: int | None = None
    months: int | None = None
    recorded_on: date


class PathwayState(BaseModel):
    """The whole state of one person's pathway (continue-as-new input)."""

    person_id: str
    territory: str
    rule_set_version: str
    stage: Stage = Stage.DETECTED
    held_stages: list[Stage] = Field(default_factory=list)
    subject_to_duties: bool | None = None
    entry_date: date | None = None
    rsa_entry_date: date | None = None  # G-B2: the RSA right's own entry date, when a flow gave it
    rsa_majore: bool = False
    orientation_target: OrientationTarget | None = None
    orientation_notified_on: date | None = None
    orientation_bypass_reason: str | None = None
    platform: Referent | None = None
    referent: Referent | None = None
    preconisation: OrientationTarget | None = None
    preconisation_structure_id: str | None = None
    diagnostic_completed_on: date | None = None
    first_cer_signed: bool = False
    first_appointment_on: date | None = None
    reconvocations: int = 0
    platform_missed_unexcused: int = 0
    cer: Cer | None = None
    cer_count: int = 0
    caf_saisine_mode: str | None = None
    caf_structure_id: str | None = None
    personal_review_requested_on: date | None = None
    reorientation_reason: ReorientationReason | None = None
    reorientation_is_exit: bool = False
    ep: EpReferral | None = None
    exit: ExitInfo | None = None
    exit_reason: ExitReason | None = None
    closed_on: date | None = None
    finished: bool = False
    payment_suspension: PaymentSuspensionInfo | None = None
    not_subject_confirmed_since: date | None = None
    convocations: list[Convocation] = Field(default_factory=list)
    label_losses: list[LabelLoss] = Field(default_factory=list)
    anomalies: list[Anomaly] = Field(default_factory=list)
    sanctions: list["Sanction"] = Field(default_factory=list)
    household: list[HouseholdMember] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    breaches: list[Breach] = Field(default_factory=list)
    stage_history: list[StageChange] = Field(default_factory=list)
    #: The last people's commands with their actor (bounded), for the case's decision list.
    decision_log: list[DecisionRecord] = Field(default_factory=list)
    seq: int = 0
    #: The sequence this pathway counted from: above a finished former pathway's under the same id (T25), whose
    #: rows in the read model (its anomalies…) are not this one's.
    seq_base: int = 0
    run: int = 1
    cycle_completed: bool = False
    #: A referent was designated in this run: a business boundary where the workflow starts a new run, so the
    #: orientation phase and the referent's CER cycles are replayed separately.
    referent_designated: bool = False
    #: The T4/T7 reminders are kept for this pathway: set by the workflow at the start of a pathway opened since
    #: they exist (runs opened before do not have their timers in their history), carried across runs.
    reminders: bool = False
    #: The workflow closes this pathway's tasks when the event they wait for arrives: set at the start of each run
    #: opened since it does (earlier runs' histories hold no such closures); ``open_tasks`` are those it may close.
    closes_tasks: bool = False
    open_tasks: list[OpenTask] = Field(default_factory=list)
    #: GESICA entry domain and objectives are required at a CAF CER's signature (§3.8): set by the workflow at the
    #: start of a pathway opened since the check exists (validators cannot ask ``workflow.patched``), carried on.
    gesica_at_cer: bool = False
    #: The rule set follows the case's entry date (issue 18): set by the workflow at the start of a pathway opened
    #: since the 2025 rules exist; a pathway opened before keeps the 2023 rules it started with.
    rules_by_entry_date: bool = False
    plein_emploi: PleinEmploiState = Field(default_factory=PleinEmploiState)
    seen_event_ids: list[str] = Field(default_factory=list)
    outbox: Outbox = Field(default_factory=Outbox)
    #: Set when the pathway was adopted from a caseload file (issue 19), carried across runs.
    adoption: Adoption | None = None
