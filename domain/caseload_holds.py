"""Caseload rows at a stage that holds another (issue 19, third pass): a reorientation request, an EP referral, a
sanction procedure, a personal-situation review, a person not subject to duties; sanctions in force; a case closed
within its re-entry window.

A held stage is where the case returns when the decision ends (``held_stage``): the row's other dates are validated
as that stage's (:func:`domain.caseload.validate_row`), the hold's own fields here. The replay
(:mod:`domain.caseload_adoption`) applies the held stage's facts, then the hold's, through the pathway's rules.
"""

from __future__ import annotations

from domain.pathway import EpOutcome, NonComplianceKind, ReorientationReason, Stage
from domain.plein_emploi_state import FailureKind

#: The rules' own sets (domain.pathway_reorientation): a reorientation or review is asked from a referent's stage;
#: non-compliance is reported from a referent's stage, the platform's or before the orientation (T20).
REFERENT_HELD = frozenset({Stage.REFERENT_DESIGNATED, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING,
                           Stage.CER_ACTIVE, Stage.BILAN})
EP_HELD = REFERENT_HELD | {Stage.AWAITING_ORIENTATION, Stage.ORIENTED_TO_PLATFORM, Stage.PLATFORM_FIRST_APPOINTMENT,
                           Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER}
NOT_SUBJECT_HELD = EP_HELD | {Stage.DETECTED, Stage.CAF_SAISINE, Stage.AWAITING_SLAI_VALIDATION}
HELD = {Stage.PERSONAL_SITUATION_REVIEW: REFERENT_HELD, Stage.REORIENTATION_REQUESTED: REFERENT_HELD,
        Stage.NON_COMPLIANCE_EP: EP_HELD, Stage.SANCTION_PROCEDURE: EP_HELD, Stage.NOT_SUBJECT: NOT_SUBJECT_HELD}
HOLD_STAGES = frozenset(HELD)
#: Sanctions a row records as in force (decided by the Département president after the EP, G-B14); a radiation
#: or an exit closes the case, which is then not adopted.
SANCTIONS_IN_FORCE = {"REDUCTION": EpOutcome.REDUCTION, "SUSPENSION": EpOutcome.SUSPENSION}
REORIENTATION_KINDS = {"REORIENTATION": False, "EXIT": True}
#: The 2025 rules' sanction (§8.3): decided by the Département's president after the EP referral, then the
#: person's remobilisation with the suspended amounts paid back, or not (suppression).
SUSPENSION_REMOBILISATION = "SUSPENSION_REMOBILISATION"
REMOBILISATIONS = {"REPAYMENT": True, "SUPPRESSION": False}
#: A REPEATED suspension-remobilisation follows a first one recorded on the case (§8.3): the row gives that first
#: one's day, share and months, replayed before it (its EP referral confirmed on its day) through the same checks.
FIRST_SANCTION_FIELDS = ("first_sanction_decided_on", "first_sanction_share_percent", "first_sanction_months")
#: The hold's own dates, each after every date of the held stage (else a fact of the held stage would be applied
#: during the hold).
HOLD_DATES = {Stage.PERSONAL_SITUATION_REVIEW: "personal_review_requested_on",
              Stage.REORIENTATION_REQUESTED: "reorientation_requested_on", Stage.NON_COMPLIANCE_EP: "ep_referral_on",
              Stage.SANCTION_PROCEDURE: "ep_referral_on", Stage.NOT_SUBJECT: "not_subject_since"}
BASE_DATES = ("caf_transmission_date", "caf_saisine_on", "orientation_notified_on", "referent_designated_on",
              "cer_start", "preconisation_on")
_REORIENTATION = ("reorientation_requested_on", "reorientation_reason")
_EP = ("non_compliance_kind", "ep_referral_on")
_SANCTION = ("sanction_outcome", "sanction_decided_on", "sanction_share_percent", "sanction_months",
             "sanction_failure", "remobilised_on", "remobilisation_repayment")


class RowRejected(ValueError):
    """A row broken by a rule; ``code`` is stable, the message names the field and rule, never a cell's text (a
    misplaced column could hold a NIR): reasons are stored and shown. (Re-exported by :mod:`domain.caseload`.)"""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def require(case: dict, names: tuple[str, ...], stage: Stage) -> None:
    missing = [n for n in names if case.get(n) is None]
    if missing:
        raise RowRejected("FIELD_MISSING", f"stage {stage.value} needs {', '.join(missing)}")


def base_stage(case: dict) -> Stage:
    """The stage whose rules the row's other dates follow: the held stage of a hold, else the row's stage. A review
    without ``held_stage`` holds a CER's stage when it gives one, else a designation's (the second pass's rule); a
    person not subject without one was never subject (``DETECTED``)."""
    stage, held = case["stage"], case.get("held_stage")
    if stage not in HOLD_STAGES:
        return stage
    if held is not None:
        if held not in HELD[stage]:
            names = ", ".join(sorted(s.value for s in HELD[stage]))
            raise RowRejected("HELD_STAGE_INVALID", f"stage {stage.value} holds one of: {names}")
        return held
    if stage is Stage.PERSONAL_SITUATION_REVIEW:
        return Stage.CER_ACTIVE if case.get("cer_start") or case.get("cer_end") else Stage.REFERENT_DESIGNATED
    if stage is Stage.NOT_SUBJECT:
        return Stage.DETECTED
    raise RowRejected("FIELD_MISSING", f"stage {stage.value} needs held_stage (the stage the case returns to)")


def hold_rules(case: dict, stage: Stage, base: Stage) -> None:
    """What each hold needs and what it cannot have; its date after the held stage's dates."""
    if stage is not Stage.PERSONAL_SITUATION_REVIEW and case.get("personal_review_requested_on"):
        raise RowRejected("REVIEW_NOT_IN_STAGE", f"stage {stage.value} has no personal-situation review")
    if stage not in HOLD_STAGES and case.get("held_stage") is not None:
        raise RowRejected("HELD_STAGE_NOT_IN_STAGE", f"stage {stage.value} holds no other stage")
    if stage is Stage.REORIENTATION_REQUESTED:
        require(case, ("reorientation_requested_on", "reorientation_reason"), stage)
        if case["reorientation_reason"] is ReorientationReason.AUTRE:
            raise RowRejected("REORIENTATION_AUTRE_NOT_IN_A_ROW",
                            "« autre motif » needs its written justification (G-B16), free text a caseload row does "
                            "not carry: adopt the case at its held stage and file the request again")
    elif any(case.get(n) is not None for n in _REORIENTATION) or case.get("reorientation_exit"):
        raise RowRejected("REORIENTATION_NOT_IN_STAGE", f"stage {stage.value} has no reorientation request")
    _ep_rules(case, stage)
    if stage is Stage.NOT_SUBJECT:
        require(case, ("not_subject_since",), stage)
        if base is Stage.DETECTED:
            if any(case.get(n) for n in BASE_DATES[1:]) or case.get("orientation_target"):
                raise RowRejected("ORIENTATION_NOT_IN_STAGE", "a person never subject to duties has not been oriented")
            if case["not_subject_since"] != case["caf_transmission_date"]:
                raise RowRejected("DATES_OUT_OF_ORDER", "never subject: not_subject_since is the CAF transmission day "
                                                      "(the first flow said « non soumis »)")
    elif case.get("not_subject_since"):
        raise RowRejected("NOT_SUBJECT_NOT_IN_STAGE",
                          f"stage {stage.value} is not « non soumis aux droits et devoirs »")
    name = HOLD_DATES.get(stage)
    if name is not None and case.get(name) is not None and base is not Stage.DETECTED:
        held_appointment = ("first_appointment_on",) if base is not Stage.PLATFORM_FIRST_APPOINTMENT else ()
        for before in (*BASE_DATES, *held_appointment):
            if case.get(before) is not None and case[name] < case[before]:
                raise RowRejected("DATES_OUT_OF_ORDER", f"{name} is before {before} (the held stage's own date)")


def _ep_rules(case: dict, stage: Stage) -> None:
    """T20: the referral confirmed (kind, day), the EP's opinion opening the sanction procedure, a sanction decided
    (reduction or suspension, with its share and months: in force or past, recorded)."""
    sanction = any(case.get(n) is not None for n in _SANCTION)
    ep_stage = stage in (Stage.NON_COMPLIANCE_EP, Stage.SANCTION_PROCEDURE)
    if ep_stage or sanction:
        require(case, _EP, stage)
    elif any(case.get(n) is not None for n in _EP):
        raise RowRejected("EP_NOT_IN_STAGE", f"stage {stage.value} has no EP referral (a sanction would say it)")
    if stage is Stage.SANCTION_PROCEDURE:
        require(case, ("ep_decided_on",), stage)
    elif case.get("ep_decided_on") is not None and not sanction:
        raise RowRejected("EP_DECISION_NOT_IN_STAGE", f"stage {stage.value} has no EP opinion opening a procedure")
    if sanction:
        if stage in (Stage.NON_COMPLIANCE_EP, Stage.SANCTION_PROCEDURE):
            raise RowRejected("SANCTION_NOT_IN_STAGE", "a sanction decided ends the EP stage: give the stage the case "
                                                     "returned to")
        kind = "sanction_failure" if case.get("sanction_failure") is not None else "sanction_outcome"
        require(case, (kind, "sanction_decided_on", "sanction_months"), stage)
    chain = [n for n in ("ep_referral_on", "ep_decided_on", "sanction_decided_on", "remobilised_on")
             if case.get(n) is not None]
    for before, after in zip(chain, chain[1:]):
        if case[after] < case[before]:
            raise RowRejected("DATES_OUT_OF_ORDER", f"{after} is before {before}")


def sanction_2025_rules(case: dict, suspension_remobilisation: bool) -> None:
    """A 2025 suspension-remobilisation (``sanction_outcome`` SUSPENSION_REMOBILISATION) needs its failure and share;
    its remobilisation, day and outcome together, only follows one. Its bounds and rule set are the pathway's own
    checks, applied by the replay (domain.plein_emploi.check_sanction_terms)."""
    if suspension_remobilisation:
        missing = [n for n in ("sanction_failure", "sanction_share_percent") if case.get(n) is None]
        if missing:
            raise RowRejected("FIELD_MISSING", f"a {SUSPENSION_REMOBILISATION} needs {', '.join(missing)}")
    elif case.get("sanction_failure") is not None:
        raise RowRejected("SANCTION_FAILURE_NOT_IN_ROW", "sanction_failure is the failure of a "
                                                         "SUSPENSION_REMOBILISATION (2025 rules) only")
    _first_sanction_rules(case)
    remobilisation = (case.get("remobilised_on"), case.get("remobilisation_repayment"))
    if any(v is not None for v in remobilisation) and not suspension_remobilisation:
        raise RowRejected("REMOBILISATION_NOT_IN_ROW", "a remobilisation follows a SUSPENSION_REMOBILISATION only")
    if (remobilisation[0] is None) != (remobilisation[1] is None):
        raise RowRejected("FIELD_MISSING", "a remobilisation needs both remobilised_on and remobilisation")


def _first_sanction_rules(case: dict) -> None:
    """A REPEATED suspension-remobilisation needs its first one (day, share, months), decided before the repeated
    failure's EP referral; the first one's fields belong to a REPEATED one only."""
    given = [n for n in FIRST_SANCTION_FIELDS if case.get(n) is not None]
    if case.get("sanction_failure") is not FailureKind.REPEATED:
        if given:
            raise RowRejected("FIRST_SANCTION_NOT_IN_ROW", "first_sanction_* describe the first suspension-"
                                                           "remobilisation of a REPEATED one only")
        return
    missing = [n for n in FIRST_SANCTION_FIELDS if n not in given]
    if missing:  # the live pathway's own refusal when none is given
        raise RowRejected("FIELD_MISSING" if given else "SANCTION_2025_NOT_REPEATED",
                          "a REPEATED suspension-remobilisation follows a first one recorded on the case: the row "
                          f"needs {', '.join(missing)}")
    first = case["first_sanction_decided_on"]
    if first < case["caf_transmission_date"]:
        raise RowRejected("DATES_OUT_OF_ORDER", "first_sanction_decided_on is before caf_transmission_date")
    if case.get("ep_referral_on") is not None and case["ep_referral_on"] <= first:
        raise RowRejected("DATES_OUT_OF_ORDER", "ep_referral_on (the repeated failure's referral) is not after "
                                                "first_sanction_decided_on")
