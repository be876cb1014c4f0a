"""A département's running caseload, one row per person: validated against the pathway rules (issue 19).

A row's texts (read through a column mapping, ``activities.caseload_file``) become a :class:`CaseloadCase` or a
:class:`CaseloadRejection` naming the rule it breaks. Nothing personal survives validation: the NIR (or the CAF
matricule and rank) becomes the opaque person id, and the row's digest is taken over its normalised values.
Building the pathway at its stage is :func:`domain.caseload_adoption.adopt`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date

from pydantic import BaseModel

from domain.caseload_cells import cell_date, cell_enum, cell_number, cell_text
from domain.caseload_holds import (
    FIRST_SANCTION_FIELDS,
    HOLD_STAGES,
    REMOBILISATIONS,
    REORIENTATION_KINDS,
    SANCTIONS_IN_FORCE,
    SUSPENSION_REMOBILISATION,
    RowRejected,
    base_stage,
    hold_rules,
    require,
    sanction_2025_rules,
)
from domain.deadlines import add_months
from domain.identity import NirError, caf_person_id, normalize_nir, person_id, validate_nir
from domain.pathway import CafSaisineMode, EpOutcome, NonComplianceKind, OrientationTarget, ReorientationReason, Stage
from domain.plein_emploi_state import FailureKind
from domain.rules import rule_set, rule_set_for

IDENTITY_FIELDS = ("nir", "matricule", "rank")
#: The optional fields added after the first pass (issue 19): left out of a row's digest when empty, so a file
#: written before them keeps its digest (a re-import stays ``unchanged``).
ADDED_FIELDS = ("first_appointment_on", "preconisation_on", "preconisation_target", "preconisation_structure",
                "caf_saisine_on", "caf_saisine_mode", "personal_review_requested_on", "held_stage",
                "reorientation_requested_on", "reorientation_reason", "reorientation_kind", "non_compliance_kind",
                "ep_referral_on", "ep_decided_on", "sanction_outcome", "sanction_decided_on", "sanction_share_percent",
                "sanction_months", "not_subject_since", "sanction_failure", "remobilised_on", "remobilisation",
                *FIRST_SANCTION_FIELDS)
DATE_FIELDS = ("caf_transmission_date", "orientation_notified_on", "referent_designated_on", "cer_start", "cer_end",
               "end_of_payment", "exit_choice_on", "first_appointment_on", "preconisation_on", "caf_saisine_on",
               "personal_review_requested_on", "reorientation_requested_on", "ep_referral_on", "ep_decided_on",
               "sanction_decided_on", "not_subject_since", "remobilised_on", "first_sanction_decided_on")
CASELOAD_FIELDS = (*IDENTITY_FIELDS, "territory", "stage", *DATE_FIELDS[:7], "exit_choice", "orientation_target",
                   "referent_structure", "rule_set", *ADDED_FIELDS)
#: Stages a running case can be adopted at (docs/caseload.md); ``DETECTED`` is only the instant before the first
#: flow says whether the person is subject, and is refused with that reason.
ADOPTABLE_STAGES = (Stage.AWAITING_ORIENTATION, Stage.ORIENTED_TO_PLATFORM, Stage.REFERENT_DESIGNATED,
                    Stage.CER_ACTIVE, Stage.BILAN, Stage.EXIT_CHOICE_PENDING, Stage.POST_EXIT_ACCOMPANIMENT,
                    Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER,
                    Stage.AWAITING_SLAI_VALIDATION, Stage.CAF_SAISINE, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING,
                    Stage.PERSONAL_SITUATION_REVIEW, Stage.REORIENTATION_REQUESTED, Stage.NON_COMPLIANCE_EP,
                    Stage.SANCTION_PROCEDURE, Stage.NOT_SUBJECT, Stage.CLOSED)
NOT_ADOPTABLE = {Stage.DETECTED: "DETECTED is only the instant before the first flow says whether the person is "
                                 "subject to duties: adopt a person not subject as NOT_SUBJECT, one subject as "
                                 "AWAITING_ORIENTATION"}
#: The CAF route (§3.2): a saisine awaiting its decision, accepted (the CAF's first interview), the interview held;
#: then the stages any referent's case reaches (a CER, its bilan, a review, an exit).
CAF_STAGES = frozenset({Stage.CAF_SAISINE, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING})
CAF_LATER_STAGES = frozenset({Stage.CER_ACTIVE, Stage.BILAN, Stage.EXIT_CHOICE_PENDING,
                              Stage.POST_EXIT_ACCOMPANIMENT, Stage.CLOSED})
ORIENTED_STAGES = frozenset({Stage.ORIENTED_TO_PLATFORM, Stage.REFERENT_DESIGNATED, Stage.CER_ACTIVE, Stage.BILAN,
                             Stage.EXIT_CHOICE_PENDING, Stage.POST_EXIT_ACCOMPANIMENT,
                             Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER,
                             Stage.AWAITING_SLAI_VALIDATION, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING})
PLATFORM_STAGES = frozenset({Stage.ORIENTED_TO_PLATFORM, Stage.PLATFORM_FIRST_APPOINTMENT,
                             Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER, Stage.AWAITING_SLAI_VALIDATION})
APPOINTMENT_STAGES = frozenset({Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER})
REFERENT_STAGES = frozenset({Stage.REFERENT_DESIGNATED, Stage.CER_ACTIVE, Stage.BILAN})
CER_STAGES = frozenset({Stage.CER_ACTIVE, Stage.BILAN})
EXIT_STAGES = frozenset({Stage.EXIT_CHOICE_PENDING, Stage.POST_EXIT_ACCOMPANIMENT, Stage.CLOSED})
EXIT_CHOICES = {"CONTINUE": True, "CLOSE": False}
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
_MATRICULE = re.compile(r"^[0-9A-Za-z]{1,15}$")
_RANK = re.compile(r"^[0-9]{1,2}$")


class CaseloadCase(BaseModel):
    """One valid row: the opaque person id and the dates that drive the clocks (ids, dates and categories only)."""

    row: int
    row_digest: str
    person_id: str
    caf_key: str | None = None  # the CAF matricule and rank's key (domain.identity.caf_person_id), if given
    territory: str
    stage: Stage
    rule_set: str
    caf_transmission_date: date
    orientation_notified_on: date | None = None
    orientation_target: OrientationTarget | None = None
    referent_structure: str | None = None
    referent_designated_on: date | None = None
    cer_start: date | None = None
    cer_end: date | None = None
    end_of_payment: date | None = None
    exit_choice: bool | None = None
    exit_choice_on: date | None = None
    first_appointment_on: date | None = None
    preconisation_on: date | None = None
    preconisation_target: OrientationTarget | None = None
    preconisation_structure: str | None = None
    caf_saisine_on: date | None = None
    caf_saisine_mode: CafSaisineMode | None = None
    personal_review_requested_on: date | None = None
    held_stage: Stage | None = None  # the stage a hold returns to (domain.caseload_holds)
    reorientation_requested_on: date | None = None
    reorientation_reason: ReorientationReason | None = None
    reorientation_exit: bool = False
    non_compliance_kind: NonComplianceKind | None = None
    ep_referral_on: date | None = None
    ep_decided_on: date | None = None
    sanction_outcome: EpOutcome | None = None
    sanction_decided_on: date | None = None
    sanction_share_percent: int | None = None
    sanction_months: int | None = None
    sanction_failure: FailureKind | None = None  # a 2025 suspension-remobilisation (its failure), not an EP outcome
    remobilised_on: date | None = None
    remobilisation_repayment: bool | None = None
    #: A REPEATED suspension-remobilisation's first one (domain.caseload_holds): its day, share and months.
    first_sanction_decided_on: date | None = None
    first_sanction_share_percent: int | None = None
    first_sanction_months: int | None = None
    not_subject_since: date | None = None

    @property
    def base_stage(self) -> Stage:
        """The stage whose facts the row's dates give (the held stage of a hold)."""
        return base_stage({"stage": self.stage, "held_stage": self.held_stage, "cer_start": self.cer_start,
                           "cer_end": self.cer_end})


class CaseloadRejection(BaseModel):
    row: int
    code: str
    reason: str


def _person(raw: dict[str, str | None], secret: bytes) -> tuple[str, str | None]:
    """The person id (the NIR's when the row has one) and the key of the CAF matricule and rank when it has them."""
    matricule, rank = cell_text(raw, "matricule"), cell_text(raw, "rank")
    caf_key = None
    if matricule is not None and rank is not None:
        if not _MATRICULE.match(matricule) or not _RANK.match(rank) or int(rank) == 0:
            raise RowRejected("IDENTITY_INVALID", "the CAF matricule has 1–15 letters or digits and the rank 1–99")
        caf_key = caf_person_id(matricule, rank, secret)
    nir = cell_text(raw, "nir")
    if nir is not None:
        try:
            if len(normalize_nir(nir)) == 15:
                validate_nir(nir)
            return person_id(nir, secret), caf_key
        except NirError as exc:
            raise RowRejected("NIR_INVALID", str(exc)) from None
    if caf_key is None:
        raise RowRejected("IDENTITY_MISSING", "a row needs a NIR (13 or 15 characters) or a CAF matricule and rank")
    return caf_key, caf_key


def _in_order(case: dict) -> None:
    chain = [n for n in ("caf_transmission_date", "caf_saisine_on", "orientation_notified_on", "referent_designated_on", "cer_start")
             if case.get(n) is not None]
    for before, after in zip(chain, chain[1:]):
        if case[after] < case[before]:
            raise RowRejected("DATES_OUT_OF_ORDER", f"{after} is before {before}")
    if case.get("cer_end") is not None and case.get("cer_start") is not None and case["cer_end"] < case["cer_start"]:
        raise RowRejected("CER_END_BEFORE_START", "cer_end is before cer_start")
    exit_ = case.get("end_of_payment")
    for name in chain:
        if exit_ is not None and exit_ < case[name]:
            raise RowRejected("DATES_OUT_OF_ORDER", f"end_of_payment is before {name}")
    if case.get("exit_choice_on") is not None and (exit_ is None or case["exit_choice_on"] < exit_):
        raise RowRejected("DATES_OUT_OF_ORDER", "exit_choice_on is before end_of_payment")
    for name in ("first_appointment_on", "preconisation_on", "personal_review_requested_on"):
        oriented = case.get("orientation_notified_on")
        if case.get(name) is not None and oriented is not None and case[name] < oriented:
            raise RowRejected("DATES_OUT_OF_ORDER", f"{name} is before orientation_notified_on")


def _stage_rules(case: dict) -> None:
    """What each stage needs and what it cannot have (domain.md §2: a referent needs an orientation, R13...); a
    hold's row is checked here as its held stage (``case["stage"]``), its own fields by ``hold_rules``."""
    stage: Stage = case["stage"]
    structure = case.get("referent_structure") if stage is not Stage.CAF_SAISINE else None  # the CAF's, there
    if (case.get("referent_designated_on") or structure) and not case.get("orientation_notified_on"):
        raise RowRejected("REFERENT_WITHOUT_ORIENTATION", "a referent (designation or structure) needs an orientation")
    target = case.get("orientation_target")
    if stage in REFERENT_STAGES and not case.get("referent_designated_on") and target is not OrientationTarget.CAF:
        case["referent_designated_on"] = case.get("orientation_notified_on")  # a direct orientation designates
    if stage in ORIENTED_STAGES:
        require(case, ("orientation_notified_on", "orientation_target", "referent_structure"), stage)
    _caf_rules(case, stage)
    if stage in PLATFORM_STAGES and target is not OrientationTarget.PLATFORM:
        raise RowRejected("TARGET_MISMATCH", f"stage {stage.value} needs orientation_target PLATFORM")
    _platform_rules(case, stage)
    if stage in REFERENT_STAGES and target is OrientationTarget.PLATFORM:
        raise RowRejected("TARGET_MISMATCH", f"stage {stage.value} needs a referent, not the platform")
    if stage in CER_STAGES:
        require(case, ("cer_start", "cer_end"), stage)
        limit = add_months(case["cer_start"], rule_set(case["rule_set"]).cer_max_months)
        if case["cer_end"] > limit:
            raise RowRejected("CER_TOO_LONG", f"R13: a CER lasts 6 months at most; it would end after {limit.isoformat()}")
    elif case.get("cer_start") or case.get("cer_end"):
        raise RowRejected("CER_NOT_IN_STAGE", f"stage {stage.value} has no current CER")
    if stage in EXIT_STAGES:
        require(case, ("end_of_payment",), stage)
    elif case.get("end_of_payment") or case.get("exit_choice") is not None:
        raise RowRejected("EXIT_NOT_IN_STAGE", f"stage {stage.value} is not after an exit from RSA")
    if stage is Stage.POST_EXIT_ACCOMPANIMENT:
        require(case, ("exit_choice", "exit_choice_on"), stage)
        if not case["exit_choice"]:
            raise RowRejected("EXIT_CHOICE_CLOSE", "the referent chose to close: the case is CLOSED, not followed")
    elif stage is Stage.CLOSED:
        if case.get("exit_choice") is True:
            raise RowRejected("EXIT_CHOICE_CONTINUE", "the referent chose to continue: the case is in "
                                                      "POST_EXIT_ACCOMPANIMENT until its window ends")
        if (case.get("exit_choice") is None) != (case.get("exit_choice_on") is None):
            require(case, ("exit_choice", "exit_choice_on"), stage)
    elif case.get("exit_choice") is not None or case.get("exit_choice_on"):
        raise RowRejected("EXIT_CHOICE_NOT_IN_STAGE", f"stage {stage.value} has no referent's choice yet")


def _platform_rules(case: dict, stage: Stage) -> None:
    """The platform phase (domain.md §2, T7–T11): a first appointment fixed (it may lie ahead) or held, then the
    préconisation the SLAI validates, naming a referent's structure. On the CAF route past its first interview, the
    interview (held) may be given."""
    caf_later = case.get("orientation_target") is OrientationTarget.CAF and stage in CAF_LATER_STAGES
    if stage in APPOINTMENT_STAGES or stage is Stage.CER_DRAFTING or (caf_later and case.get("first_appointment_on")):
        require(case, ("first_appointment_on",), stage)
        if stage is not Stage.PLATFORM_FIRST_APPOINTMENT and case["first_appointment_on"] > case["today"]:
            raise RowRejected("DATE_IN_FUTURE", "first_appointment_on: a held appointment is not after the import day")
        if case.get("cer_start") is not None and case["first_appointment_on"] > case["cer_start"]:
            raise RowRejected("DATES_OUT_OF_ORDER", "first_appointment_on (the CAF's first interview) is after cer_start")
    elif case.get("first_appointment_on"):
        raise RowRejected("APPOINTMENT_NOT_IN_STAGE", f"stage {stage.value} has no first appointment of the row")
    if stage is Stage.AWAITING_SLAI_VALIDATION:
        require(case, ("preconisation_on", "preconisation_target", "preconisation_structure"), stage)
        if case["preconisation_target"] in (OrientationTarget.PLATFORM, OrientationTarget.CAF):
            raise RowRejected("TARGET_MISMATCH", "preconisation_target names a referent, not the platform nor the CAF")
    elif any(case.get(n) for n in ("preconisation_on", "preconisation_target", "preconisation_structure")):
        raise RowRejected("PRECONISATION_NOT_IN_STAGE", f"stage {stage.value} has no préconisation awaiting the SLAI")


def _caf_rules(case: dict, stage: Stage) -> None:
    """The CAF route (§3.2): the saisine (day, mode M1–M3) and the CAF's structure; its acceptance is the
    orientation notification; the CAF's first interview is the row's ``first_appointment_on``. A CAF case is
    adopted on the route's stages and at the stages a referent's case reaches after it (CER, bilan, exits)."""
    caf = case.get("orientation_target") is OrientationTarget.CAF
    if stage not in CAF_STAGES and not caf:
        if case.get("caf_saisine_on") or case.get("caf_saisine_mode"):
            raise RowRejected("CAF_SAISINE_NOT_IN_STAGE", f"stage {stage.value} is not on the CAF route "
                                                          "(orientation_target CAF)")
        return
    if caf and stage not in CAF_STAGES | CAF_LATER_STAGES:
        names = ", ".join(sorted(s.value for s in CAF_STAGES | CAF_LATER_STAGES))
        raise RowRejected("TARGET_MISMATCH", f"a CAF orientation is at one of: {names} (the saisine's acceptance "
                                             "designates the CAF, whose first interview follows)")
    require(case, ("caf_saisine_on", "caf_saisine_mode", "orientation_target", "referent_structure"), stage)
    if not caf:
        raise RowRejected("TARGET_MISMATCH", f"stage {stage.value} needs orientation_target CAF")
    if case.get("referent_designated_on"):
        raise RowRejected("DESIGNATION_NOT_IN_STAGE", "on the CAF route the saisine's acceptance designates the CAF")
    if stage is Stage.CAF_SAISINE and case.get("orientation_notified_on"):
        raise RowRejected("ORIENTATION_NOT_IN_STAGE", "a saisine awaiting its decision has no orientation yet")


def row_digest(raw: dict[str, str | None]) -> str:
    """The digest of a row's mapped values (idempotency: the same row again changes nothing)."""
    values = {name: cell_text(raw, name) for name in CASELOAD_FIELDS}
    values = {k: v for k, v in values.items() if v is not None or k not in ADDED_FIELDS}
    return hashlib.sha256(json.dumps(values, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _hold_fields(raw: dict[str, str | None], case: dict) -> None:
    """The categories and numbers of holds and sanctions (domain.caseload_holds)."""
    case["held_stage"] = cell_enum(Stage, raw, "held_stage", "UNKNOWN_STAGE")
    case["reorientation_reason"] = cell_enum(ReorientationReason, raw, "reorientation_reason", "UNKNOWN_REASON")
    kind = cell_text(raw, "reorientation_kind")
    if kind is not None and kind.upper() not in REORIENTATION_KINDS:
        raise RowRejected("REORIENTATION_KIND_INVALID", "reorientation_kind is REORIENTATION or EXIT")
    case["reorientation_exit"] = REORIENTATION_KINDS[kind.upper()] if kind is not None else False
    case["non_compliance_kind"] = cell_enum(NonComplianceKind, raw, "non_compliance_kind", "UNKNOWN_NON_COMPLIANCE")
    outcome = cell_text(raw, "sanction_outcome")
    if outcome is not None and outcome.upper() not in (*SANCTIONS_IN_FORCE, SUSPENSION_REMOBILISATION):
        raise RowRejected("SANCTION_OUTCOME_INVALID", "sanction_outcome is REDUCTION, SUSPENSION or (2025 rules) "
                                                      "SUSPENSION_REMOBILISATION (a radiation closes the case, which "
                                                      "is not adopted)")
    case["sanction_outcome"] = SANCTIONS_IN_FORCE.get(outcome.upper()) if outcome is not None else None
    case["sanction_failure"] = cell_enum(FailureKind, raw, "sanction_failure", "UNKNOWN_FAILURE")
    remobilisation = cell_text(raw, "remobilisation")
    if remobilisation is not None and remobilisation.upper() not in REMOBILISATIONS:
        raise RowRejected("REMOBILISATION_INVALID", "remobilisation is REPAYMENT or SUPPRESSION")
    case["remobilisation_repayment"] = REMOBILISATIONS[remobilisation.upper()] if remobilisation is not None else None
    case["sanction_share_percent"] = cell_number(raw, "sanction_share_percent", 1, 100)
    case["sanction_months"] = cell_number(raw, "sanction_months", 1, 12)
    case["first_sanction_share_percent"] = cell_number(raw, "first_sanction_share_percent", 1, 100)
    case["first_sanction_months"] = cell_number(raw, "first_sanction_months", 1, 12)
    sanction_2025_rules(case, outcome is not None and outcome.upper() == SUSPENSION_REMOBILISATION)


def validate_row(raw: dict[str, str | None], row: int, today: date, secret: bytes) -> CaseloadCase:
    """A row's texts (ISO dates, as the mapping reader normalises them) as a case; raises :class:`RowRejected`."""
    pid, caf_key = _person(raw, secret)
    territory = cell_text(raw, "territory")
    if territory is None or not _CODE.match(territory):
        raise RowRejected("TERRITORY_INVALID", "territory is required: 1–32 letters, digits, '_', '-', '.' or ':'")
    stage_text = cell_text(raw, "stage")
    if stage_text is None:
        raise RowRejected("FIELD_MISSING", "stage is required")
    stage = cell_enum(Stage, raw, "stage", "UNKNOWN_STAGE")
    if stage in NOT_ADOPTABLE:
        raise RowRejected("STAGE_NOT_ADOPTABLE", NOT_ADOPTABLE[stage])
    if stage not in ADOPTABLE_STAGES:
        names = ", ".join(s.value for s in ADOPTABLE_STAGES)
        raise RowRejected("STAGE_NOT_ADOPTABLE", f"stage {stage.value} cannot be adopted (adoptable: {names})")
    case: dict = {name: cell_date(raw, name, today) for name in DATE_FIELDS}
    if case["caf_transmission_date"] is None:
        raise RowRejected("FIELD_MISSING", "caf_transmission_date is required (it starts the orientation clock)")
    version = cell_text(raw, "rule_set")
    try:
        case["rule_set"] = rule_set(version).version if version else rule_set_for(case["caf_transmission_date"]).version
    except ValueError as exc:
        raise RowRejected("UNKNOWN_RULE_SET", str(exc)) from None
    case["orientation_target"] = cell_enum(OrientationTarget, raw, "orientation_target", "UNKNOWN_TARGET")
    structure = cell_text(raw, "referent_structure")
    if structure is not None and not _CODE.match(structure):
        raise RowRejected("STRUCTURE_INVALID", "referent_structure is a structure id of 1–32 letters, digits, '_-.:'")
    case["referent_structure"] = structure
    case["preconisation_target"] = cell_enum(OrientationTarget, raw, "preconisation_target", "UNKNOWN_TARGET")
    preco_structure = cell_text(raw, "preconisation_structure")
    if preco_structure is not None and not _CODE.match(preco_structure):
        raise RowRejected("STRUCTURE_INVALID", "preconisation_structure is a structure id of 1–32 letters, digits, '_-.:'")
    case["preconisation_structure"] = preco_structure
    case["caf_saisine_mode"] = cell_enum(CafSaisineMode, raw, "caf_saisine_mode", "UNKNOWN_SAISINE_MODE")
    choice = cell_text(raw, "exit_choice")
    if choice is not None and choice.upper() not in EXIT_CHOICES:
        raise RowRejected("EXIT_CHOICE_INVALID", "exit_choice is CONTINUE or CLOSE")
    case["exit_choice"] = EXIT_CHOICES[choice.upper()] if choice is not None else None
    _hold_fields(raw, case)
    case["stage"], case["today"] = stage, today
    _in_order(case)
    base = base_stage(case)
    case["stage"] = base
    _stage_rules(case)
    case["stage"] = stage
    hold_rules(case, stage, base)
    del case["today"]
    return CaseloadCase(row=row, row_digest=row_digest(raw), person_id=pid, caf_key=caf_key, territory=territory,
                        **case)


def judge_row(raw: dict[str, str | None], row: int, today: date, secret: bytes) -> CaseloadCase | CaseloadRejection:
    try:
        return validate_row(raw, row, today, secret)
    except RowRejected as exc:
        return CaseloadRejection(row=row, code=exc.code, reason=str(exc))
