"""Criterion 1 of the Label référent RSA: training coverage of every professional (domain.md §4.2.1).

A professional is covered when each of the four named mandatory modules and at least one optional module
is attested. Three ways to cover a module other than a Département attestation exist:

* an equivalent external training — accepted, but flagged for the DPID's equivalence review (G-L7); a
  refusal recorded by the DPID (``equivalence_accepted: false``) does not count;
* a justified absence (sick leave, annual leave) with a rebooking on a later session [001:207-211];
* for a new arrival, during the first 12 months after arrival (G-L8), a training plan scheduling every
  missing module within those 12 months [001:213-217].

Professionals are pseudonymous ids: no names in label files.
"""

from __future__ import annotations

from datetime import date
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from domain.cer_grid import IsoDate
from domain.deadlines import add_months
from domain.rules import RuleSet


class Module(str, Enum):
    """The modules of Annexe 1; the first four are mandatory for every referent [001:160-166]."""

    PREMIERS_SECOURS_SANTE_MENTALE = "premiers_secours_sante_mentale"
    DEVELOPPEMENT_DES_POTENTIELS = "developpement_des_potentiels"
    PUBLIC_FEMININ = "public_feminin"
    SECRET_PROFESSIONNEL = "secret_professionnel"
    RETRAITE = "retraite"
    MDPH_HANDICAP_TRAVAIL = "mdph_handicap_travail"
    GESTION_AGRESSIVITE = "gestion_agressivite"
    SANTE_CPAM = "sante_cpam"
    BUDGET_LOGEMENT = "budget_logement"
    ENFANCE_FAMILLE = "enfance_famille"


MANDATORY_MODULES: tuple[Module, ...] = (
    Module.PREMIERS_SECOURS_SANTE_MENTALE,
    Module.DEVELOPPEMENT_DES_POTENTIELS,
    Module.PUBLIC_FEMININ,
    Module.SECRET_PROFESSIONNEL,
)
OPTIONAL_MODULES: tuple[Module, ...] = tuple(m for m in Module if m not in MANDATORY_MODULES)
ANY_OPTIONAL = "one_optional_module"  # how the fifth requirement is named in reasons


class AbsenceReason(str, Enum):
    SICK_LEAVE = "sick_leave"
    ANNUAL_LEAVE = "annual_leave"
    OTHER = "other"


JUSTIFIED_ABSENCES = (AbsenceReason.SICK_LEAVE, AbsenceReason.ANNUAL_LEAVE)


class Attestation(BaseModel):
    """An attendance certificate; ``external`` for a training followed outside the Département's plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: Module
    attended_on: IsoDate
    external: StrictBool = False
    equivalence_accepted: StrictBool | None = None  # DPID ruling on an external training; None = pending


class Absence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    module: Module
    reason: AbsenceReason
    rebooked_on: IsoDate | None = None  # date of the new session the professional is booked on


class PlannedTraining(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    module: Module
    planned_on: IsoDate


class ProfessionalTraining(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    professional_id: StrictStr = Field(min_length=1)
    arrival_date: IsoDate | None = None  # None: present before the label's training plan
    attestations: list[Attestation] = []
    absences: list[Absence] = []
    training_plan: list[PlannedTraining] | None = None  # sent for a new arrival [001:215]


class CoverageStatus(str, Enum):
    TRAINED = "trained"
    COVERED_PENDING = "covered_pending"  # covered thanks to a rebooking after a justified absence
    IN_TRAINING_PLAN = "in_training_plan"  # new arrival within 12 months, plan provided
    NOT_COVERED = "not_covered"


class TrainingCoverage(BaseModel):
    model_config = ConfigDict(frozen=True)

    professional_id: str
    covered: bool
    status: CoverageStatus
    missing: list[str]  # module names (or ``one_optional_module``) still lacking
    reasons: list[str]  # why, one sentence each
    review_flags: list[str]  # items the DPID must review (external equivalences)


def _counts(attestation: Attestation) -> bool:
    return not attestation.external or attestation.equivalence_accepted is not False


def evaluate_training(
    professional: ProfessionalTraining, on: date, rules: RuleSet
) -> TrainingCoverage:
    """Coverage of one professional on ``on`` (the filing or evaluation date)."""
    pid = professional.professional_id
    reasons: list[str] = []
    flags: list[str] = []

    attested: set[Module] = set()
    for att in professional.attestations:
        if att.attended_on > on:
            reasons.append(f"{att.module.value}: attestation dated {att.attended_on} is after {on}, ignored")
            continue
        if not _counts(att):
            reasons.append(f"{att.module.value}: external training refused as equivalent by the DPID")
            continue
        if att.external and att.equivalence_accepted is None:
            flags.append(f"{pid}: external training for {att.module.value} to be reviewed for equivalence")
        attested.add(att.module)

    missing_mandatory = [m for m in MANDATORY_MODULES if m not in attested]
    optional_ok = any(m in attested for m in OPTIONAL_MODULES)
    missing: list[str] = [m.value for m in missing_mandatory] + ([] if optional_ok else [ANY_OPTIONAL])

    if not missing:
        reasons.append("all four mandatory modules and one optional module attested")
        return TrainingCoverage(
            professional_id=pid, covered=True, status=CoverageStatus.TRAINED, missing=[],
            reasons=reasons, review_flags=flags,
        )

    # A new arrival is covered during the first 12 months by a plan scheduling every missing module in time.
    if professional.arrival_date is not None:
        trained_by = add_months(professional.arrival_date, rules.training_within_months_of_arrival)
        if professional.arrival_date <= on <= trained_by:
            plan = professional.training_plan
            if plan is None:
                reasons.append(f"new arrival on {professional.arrival_date}: no training plan sent")
            else:
                planned = {p.module for p in plan if p.planned_on <= trained_by}
                late = sorted({p.module.value for p in plan if p.planned_on > trained_by})
                unplanned = [m.value for m in missing_mandatory if m not in planned]
                if not optional_ok and not any(m in planned for m in OPTIONAL_MODULES):
                    unplanned.append(ANY_OPTIONAL)
                if not unplanned:
                    reasons.append(
                        f"new arrival on {professional.arrival_date}: training plan covers "
                        f"{', '.join(missing)} by {trained_by}"
                    )
                    return TrainingCoverage(
                        professional_id=pid, covered=True, status=CoverageStatus.IN_TRAINING_PLAN,
                        missing=missing, reasons=reasons, review_flags=flags,
                    )
                reasons.append(
                    f"new arrival on {professional.arrival_date}: training plan misses "
                    f"{', '.join(unplanned)} before {trained_by}"
                    + (f" (planned too late: {', '.join(late)})" if late else "")
                )
        elif on > trained_by:
            reasons.append(
                f"arrived on {professional.arrival_date}: had to be trained by {trained_by} (12 months)"
            )

    # Justified absences with a rebooking cover the modules they concern.
    excused: set[str] = set()
    for absence in professional.absences:
        name = absence.module.value
        if absence.reason not in JUSTIFIED_ABSENCES:
            reasons.append(f"{name}: absence reason '{absence.reason.value}' is not a justified absence")
        elif absence.rebooked_on is None:
            reasons.append(f"{name}: justified absence ({absence.reason.value}) without a rebooking")
        else:
            excused.add(name)
            if absence.module in OPTIONAL_MODULES:
                excused.add(ANY_OPTIONAL)
            reasons.append(f"{name}: justified absence ({absence.reason.value}), rebooked on {absence.rebooked_on}")

    still_missing = [m for m in missing if m not in excused]
    if not still_missing:
        return TrainingCoverage(
            professional_id=pid, covered=True, status=CoverageStatus.COVERED_PENDING, missing=missing,
            reasons=reasons, review_flags=flags,
        )
    reasons.append(f"not covered: missing {', '.join(still_missing)}")
    return TrainingCoverage(
        professional_id=pid, covered=False, status=CoverageStatus.NOT_COVERED, missing=still_missing,
        reasons=reasons, review_flags=flags,
    )
