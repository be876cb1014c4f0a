"""Pathway vocabulary (domain.md §2): the rule error, stages, orientation targets, reasons and deadlines.

Split from :mod:`domain.pathway`, which re-exports every name.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from pydantic import BaseModel, Field

from domain.deadlines import add_days, deadline_instant


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


class BilanDecision(str, Enum):
    CONTINUE = "CONTINUE"
    REORIENT = "REORIENT"
    END = "END"


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
    FRANCE_TRAVAIL_REGISTRATION = "FRANCE_TRAVAIL_REGISTRATION"  # 2025 rules: registration awaited (§8.3)


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
    {DeadlineKind.BILAN_REMINDER, DeadlineKind.ORIENTATION_REMINDER, DeadlineKind.FIRST_APPOINTMENT_REMINDER,
     DeadlineKind.FRANCE_TRAVAIL_REGISTRATION}
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


class AppointmentKind(str, Enum):
    SCHEDULED = "SCHEDULED"
    HELD = "HELD"
    MISSED = "MISSED"


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
