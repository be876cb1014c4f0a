"""Beneficiary pathway (parcours du bénéficiaire, domain.md §2–§3): stages, state and messages.

Everything a ``BeneficiaryPathway`` workflow keeps lives in :class:`PathwayState` (also its continue-as-new
input). Messages carry an ``event_id`` so a re-sent event is ignored. Only ids, dates and categories are
stored: no names, no NIR, no CER text (the CER document stays in the referent's tool).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from domain.actor import Actor
from domain.deadlines import deadline_instant, add_days
from domain.tasks import OpenTask, TaskClosure


class PathwayRuleError(ValueError):
    """A command refused by a rule; ``rule`` is a stable code, the message names the rule and its source."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class Stage(str, Enum):
    """States of domain.md §2.2 (plus ``EXIT_CHOICE_PENDING``: left RSA, referent's choice awaited, G-B15)."""

    DETECTED = "DETECTED"
    NOT_SUBJECT = "NOT_SUBJECT"
    AWAITING_ORIENTATION = "AWAITING_ORIENTATION"
    CAF_SAISINE = "CAF_SAISINE"
    ORIENTED_TO_PLATFORM = "ORIENTED_TO_PLATFORM"
    PLATFORM_FIRST_APPOINTMENT = "PLATFORM_FIRST_APPOINTMENT"
    PLATFORM_DIAGNOSTIC_AND_FIRST_CER = "PLATFORM_DIAGNOSTIC_AND_FIRST_CER"
    AWAITING_SLAI_VALIDATION = "AWAITING_SLAI_VALIDATION"
    REFERENT_DESIGNATED = "REFERENT_DESIGNATED"
    CAF_FIRST_INTERVIEW = "CAF_FIRST_INTERVIEW"
    CER_DRAFTING = "CER_DRAFTING"
    CER_ACTIVE = "CER_ACTIVE"
    BILAN = "BILAN"
    REORIENTATION_REQUESTED = "REORIENTATION_REQUESTED"
    PERSONAL_SITUATION_REVIEW = "PERSONAL_SITUATION_REVIEW"
    NON_COMPLIANCE_EP = "NON_COMPLIANCE_EP"
    SANCTION_PROCEDURE = "SANCTION_PROCEDURE"
    EXIT_CHOICE_PENDING = "EXIT_CHOICE_PENDING"
    POST_EXIT_ACCOMPANIMENT = "POST_EXIT_ACCOMPANIMENT"
    CLOSED = "CLOSED"


PRE_REFERENT_STAGES = frozenset(
    {
        Stage.DETECTED,
        Stage.AWAITING_ORIENTATION,
        Stage.ORIENTED_TO_PLATFORM,
        Stage.PLATFORM_FIRST_APPOINTMENT,
        Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER,
        Stage.AWAITING_SLAI_VALIDATION,
    }
)
EXIT_STAGES = frozenset({Stage.EXIT_CHOICE_PENDING, Stage.POST_EXIT_ACCOMPANIMENT, Stage.CLOSED})


class OrientationTarget(str, Enum):
    """Who accompanies the person (G-B9)."""

    PLATFORM = "PLATFORM"
    REFERENT_SOLIDARITE = "REFERENT_SOLIDARITE"
    REFERENT_SOCIOPRO = "REFERENT_SOCIOPRO"
    PLIE = "PLIE"
    POLE_EMPLOI_AG = "POLE_EMPLOI_AG"  # France Travail, accompagnement global
    CAF = "CAF"


class CerType(str, Enum):
    SOLIDARITE = "SOLIDARITE"
    SOCIOPROFESSIONNEL = "SOCIOPROFESSIONNEL"
    PROFESSIONNEL = "PROFESSIONNEL"  # PLIE [002:828]


class ReorientationReason(str, Enum):
    """domain.md §3.5. The first three are "same-sphere" reasons, allowed only at CER end [000:228-232]."""

    EVOLUTION_BLOQUEE = "EVOLUTION_BLOQUEE"  # l'accompagnement ne permet plus l'évolution de la situation
    PROBLEMATIQUE_RELATIONNELLE = "PROBLEMATIQUE_RELATIONNELLE"
    EPUISEMENT = "EPUISEMENT"  # épuisement face à la situation
    REPRISE_VIE_MARITALE = "REPRISE_VIE_MARITALE"  # any time [000:234]
    AUTRE = "AUTRE"  # any time, free-text justification required (G-B16)
    HORS_COMPETENCE_CAF = "HORS_COMPETENCE_CAF"  # after the CAF first interview, before CER [000:214]
    SITUATION_PERSONNELLE = "SITUATION_PERSONNELLE"  # after a personal-situation review [000:236]


SAME_SPHERE_REASONS = frozenset(
    {ReorientationReason.EVOLUTION_BLOQUEE, ReorientationReason.PROBLEMATIQUE_RELATIONNELLE, ReorientationReason.EPUISEMENT}
)
ANY_TIME_REASONS = frozenset({ReorientationReason.REPRISE_VIE_MARITALE, ReorientationReason.AUTRE})


class ExitReason(str, Enum):
    """Exit reasons recorded and pushed to MonJob62 ([000:273], [002:404])."""

    FIN_ACCOMPAGNEMENT = "FIN_ACCOMPAGNEMENT"  # bilan decision "end"
    SORTIE_EMPLOI = "SORTIE_EMPLOI"
    SORTIE_RSA = "SORTIE_RSA"  # left RSA, closed by the referent or for lack of choice
    FIN_POST_SORTIE = "FIN_POST_SORTIE"  # end of the 6 months after end of payment
    NON_RESPECT_OBLIGATIONS = "NON_RESPECT_OBLIGATIONS"
    REPRISE_VIE_MARITALE = "REPRISE_VIE_MARITALE"
    AUTRE = "AUTRE"


class DeadlineKind(str, Enum):
    ORIENTATION = "ORIENTATION"  # 1 month from CAF transmission [002:3707]
    FIRST_APPOINTMENT = "FIRST_APPOINTMENT"  # 14 days from orientation [002:3708]
    FIRST_CER = "FIRST_CER"  # 2 months from orientation notification [002:355][002:3711]
    SLAI_VALIDATION = "SLAI_VALIDATION"  # 10 working days (G-B6)
    REFERENT_CER = "REFERENT_CER"  # 2 months from designation / renewal (G-B6)
    BILAN_REMINDER = "BILAN_REMINDER"  # 30 days before CER end (G-B11)
    ORIENTATION_REMINDER = "ORIENTATION_REMINDER"  # SLAI manager at D+21 from entry, not yet oriented (T4)
    FIRST_APPOINTMENT_REMINDER = "FIRST_APPOINTMENT_REMINDER"  # platform at D+10, no appointment fixed (T7)
    CER_END = "CER_END"  # CER end: bilan due
    BILAN = "BILAN"  # bilan overdue 15 days after CER end (T17)
    PERSONAL_REVIEW = "PERSONAL_REVIEW"  # SLAI decides within 3 months (G-B17)
    EXIT_CHOICE = "EXIT_CHOICE"  # referent chooses within 15 days (G-B15)
    POST_EXIT_END = "POST_EXIT_END"  # 6 months after end of payment [000:238]
    REENTRY_WINDOW = "REENTRY_WINDOW"  # re-entry keeps the referent until then (T25)


#: Deadlines whose passing is a breach of a service level; the others are scheduled steps.
SLA_KINDS = frozenset(
    {
        DeadlineKind.ORIENTATION,
        DeadlineKind.FIRST_APPOINTMENT,
        DeadlineKind.FIRST_CER,
        DeadlineKind.SLAI_VALIDATION,
        DeadlineKind.REFERENT_CER,
        DeadlineKind.BILAN,
        DeadlineKind.PERSONAL_REVIEW,
    }
)
#: Reminders: a task for a person on their day, never a breach, not "the next deadline".
REMINDER_KINDS = frozenset(
    {DeadlineKind.BILAN_REMINDER, DeadlineKind.ORIENTATION_REMINDER, DeadlineKind.FIRST_APPOINTMENT_REMINDER}
)
#: Clocks of the exit itself, never paused by leaving RSA.
EXIT_KINDS = frozenset({DeadlineKind.EXIT_CHOICE, DeadlineKind.POST_EXIT_END, DeadlineKind.REENTRY_WINDOW})


class DeadlineStatus(str, Enum):
    PENDING = "PENDING"
    MET = "MET"
    BREACHED = "BREACHED"
    FIRED = "FIRED"  # a scheduled step that happened
    CANCELLED = "CANCELLED"


class Deadline(BaseModel):
    """One clock. ``due`` is the last allowed day; it fires at the start of the next day (Europe/Paris)."""

    id: str
    kind: DeadlineKind
    started_on: date
    due: date
    status: DeadlineStatus = DeadlineStatus.PENDING
    closed_on: date | None = None
    responsible: str = ""
    paused_by: list[str] = Field(default_factory=list)
    paused_since: date | None = None
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status is DeadlineStatus.PENDING and not self.paused_by

    def fires_at(self) -> datetime:
        if self.kind in REMINDER_KINDS:
            return deadline_instant(add_days(self.due, -1))  # a reminder fires on its day
        return deadline_instant(self.due)


class Breach(BaseModel):
    """A deadline passed with nothing known. Withdrawn (kept, with the day and why) when a fact dated on or before
    its due day is recorded later: the indicators run to the fact's own date ([002:3707])."""

    deadline_id: str
    kind: DeadlineKind
    due: date
    breached_on: date
    responsible: str
    started_on: date | None = None
    withdrawn_on: date | None = None
    withdrawal_reason: str | None = None


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


class MonJob62Push(BaseModel):
    kind: str  # CER | BILAN | EXIT
    idempotency_key: str
    data: dict[str, str | int | bool | None | list[dict[str, str]]] = Field(default_factory=dict)


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
    seen_event_ids: list[str] = Field(default_factory=list)
    outbox: Outbox = Field(default_factory=Outbox)
    #: Set when the pathway was adopted from a caseload file (issue 19), carried across runs.
    adoption: Adoption | None = None


# ---------------------------------------------------------------- inbound messages (one model each)


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


class AppointmentKind(str, Enum):
    SCHEDULED = "SCHEDULED"
    HELD = "HELD"
    MISSED = "MISSED"


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


class BilanDecision(str, Enum):
    CONTINUE = "CONTINUE"
    REORIENT = "REORIENT"
    END = "END"


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


class EpOutcome(str, Enum):
    """The EP's opinion and, after the CASF procedure, the Département president's sanction (G-B14, [002:520])."""

    MAINTAIN = "MAINTAIN"  # maintien: accompaniment goes on, no sanction
    SANCTION_PROCEDURE = "SANCTION_PROCEDURE"  # Département's CASF procedure (outside the system)
    EXIT = "EXIT"  # exit for non-respect des obligations
    REDUCTION = "REDUCTION"  # part of the allowance reduced for a time; accompaniment goes on
    SUSPENSION = "SUSPENSION"  # allowance suspended (in whole or part) for a time; accompaniment goes on
    RADIATION = "RADIATION"  # struck off the scheme: exit for non-respect des obligations


#: Outcomes that change the person's rights: the system records them and asks the service that applies them.
SANCTION_OUTCOMES = frozenset({EpOutcome.REDUCTION, EpOutcome.SUSPENSION, EpOutcome.RADIATION})


class EpDecision(PathwayMessage):
    """``share_percent`` and ``months`` describe a reduction or suspension (categories and numbers only)."""

    outcome: EpOutcome
    decided_on: date
    share_percent: int | None = Field(default=None, ge=1, le=100)
    months: int | None = Field(default=None, ge=1, le=12)


class Sanction(BaseModel):
    """A sanction decided on the pathway, as recorded (never applied by the system: rights are the CAF's)."""

    outcome: EpOutcome
    decided_on: date
    share_percent: int | None = None
    months: int | None = None
    recorded_on: date


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


# ---------------------------------------------------------------- results and views


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
    decisions: list[DecisionRecord] = Field(default_factory=list)


Outbox.model_rebuild()
PathwayState.model_rebuild()
PathwayView.model_rebuild()
