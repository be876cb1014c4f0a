"""Caseload adoption, pure (issue 19): rows validated against the pathway rules, each pathway built at its stage
with the next deadline the rules compute from the row's own dates, past deadlines as breaches dated when due."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from activities.caseload_file import caseload_rows as read_rows
from activities.caseload_file import load_caseload_mapping
from activities.caseload_generator import caseload_row, caseload_rows
from domain.caseload import ADOPTABLE_STAGES, CaseloadCase, CaseloadRejection, judge_row
from domain.caseload_adoption import adopt, next_due
from domain.deadlines import PARIS, add_days, service_deadline
from domain.pathway import DeadlineKind, DeadlineStatus, Stage
from domain.pathway_constants import add_working_days

FIXTURES = Path(__file__).parent / "fixtures" / "caseload"
TODAY = date(2026, 12, 6)
NOW = datetime.combine(TODAY, time(12), PARIS)
SECRET = b"test-secret"


def _d(text: str | None) -> date | None:
    return datetime.strptime(text, "%d/%m/%Y").date() if text else None


def expected_next_due(row: dict[str, str]) -> date | None:
    """What the rules compute from the row's dates (domain.md §2: 1 month, 14 days, 2 months, 15 days, 6 months)."""
    stage = Stage(row["stage"])
    if stage is Stage.NOT_SUBJECT:  # T24: the service levels paused; a CER's end runs (R13)
        return _d(row["cer_end"]) if row.get("held_stage") in ("CER_ACTIVE", "BILAN") else None
    if row.get("held_stage"):  # a reorientation request, an EP referral or procedure: the held stage's clocks run
        return expected_next_due(dict(row, stage=row["held_stage"], held_stage=""))
    if stage is Stage.CLOSED:  # the re-entry window: 6 months from the end of payment (T25)
        return service_deadline(_d(row["end_of_payment"]), months=6)
    oriented = _d(row.get("orientation_notified_on"))
    if stage in (Stage.AWAITING_ORIENTATION, Stage.CAF_SAISINE):
        return service_deadline(_d(row["caf_transmission_date"]), months=1)
    if stage in (Stage.ORIENTED_TO_PLATFORM, Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER):
        first_cer = service_deadline(oriented, months=2)
        appointment = _d(row.get("first_appointment_on"))
        if appointment is not None and appointment <= service_deadline(oriented, days=14):
            return first_cer  # the 14-day clock met by an appointment within it (G-B4)
        return min(service_deadline(oriented, days=14), first_cer)
    if stage is Stage.PERSONAL_SITUATION_REVIEW:  # 3 months (G-B17); the other clocks paused, a CER's end runs
        review = service_deadline(_d(row["personal_review_requested_on"]), months=3)
        return min(review, _d(row["cer_end"])) if row.get("cer_end") else review
    if stage in (Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING):  # the CAF referent's CER clock (G-B6)
        return service_deadline(oriented, months=2)
    if stage is Stage.AWAITING_SLAI_VALIDATION:  # 10 working days from the préconisation (G-B6)
        return add_working_days(_d(row["preconisation_on"]), 10)
    if stage is Stage.REFERENT_DESIGNATED:
        designated = _d(row.get("referent_designated_on")) or oriented
        dues = [service_deadline(oriented, months=2)]
        if designated > oriented:
            dues.append(service_deadline(designated, months=2))
        return min(dues)
    if stage is Stage.CER_ACTIVE:
        return _d(row["cer_end"])
    if stage is Stage.BILAN:
        return add_days(_d(row["cer_end"]), 15)
    if stage is Stage.EXIT_CHOICE_PENDING:
        return service_deadline(_d(row["end_of_payment"]), days=15)
    return service_deadline(_d(row["end_of_payment"]), months=6)


def _iso(row: dict[str, str]) -> dict[str, str]:
    """The generator writes French dates; the mapping reader gives ISO text."""
    return {k: (_d(v).isoformat() if v and "/" in v and k not in ("territory", "stage") else v)
            for k, v in row.items()}


def _case(row: dict[str, str], number: int = 1) -> CaseloadCase:
    case = judge_row(_iso(row), number, TODAY, SECRET)
    assert isinstance(case, CaseloadCase), case
    return case


def test_a_thousand_generated_cases_each_at_its_stage_with_the_next_deadline_of_the_rules():
    rows = caseload_rows(1000, TODAY, seed=7)
    assert {r["stage"] for r in rows} == {s.value for s in ADOPTABLE_STAGES}
    for number, row in enumerate(rows, start=1):
        state = adopt(_case(row, number), NOW, TODAY, source="CSV", file_digest="f")
        assert state.stage.value == row["stage"], (number, row)
        assert next_due(state) == expected_next_due(row), (number, row)
        assert not state.breaches and not state.outbox.pushes
        assert state.adoption.row == number and state.stage_history[-1].cause == "ADOPTED"
        assert not state.referent_designated  # no continue-as-new at the first loop


def test_example_file_reads_through_its_mapping():
    mapping = load_caseload_mapping(FIXTURES / "mapping.toml")
    judged = [judge_row(raw, n, TODAY, SECRET) for n, raw in read_rows(FIXTURES / "example.csv", mapping)]
    rejected = {j.row: j.code for j in judged if isinstance(j, CaseloadRejection)}
    assert rejected == {8: "CER_TOO_LONG", 9: "REFERENT_WITHOUT_ORIENTATION", 13: "APPOINTMENT_NOT_IN_STAGE",
                        25: "STAGE_NOT_ADOPTABLE", 26: "REORIENTATION_AUTRE_NOT_IN_A_ROW"}
    states = [adopt(j, NOW, TODAY, source="CSV", file_digest="f") for j in judged if isinstance(j, CaseloadCase)]
    assert list(dict.fromkeys(s.stage for s in states)) == list(ADOPTABLE_STAGES)
    caf_cer, sanctioned, remobilised = states[-3:]  # a CER on the CAF route; a suspension in force during a CER;
    # a 2025 suspension-remobilisation, settled by a repayment
    [ssr] = remobilised.plein_emploi.sanctions
    assert (remobilised.rule_set_version, ssr.share_percent, ssr.months, ssr.remobilised_on, ssr.repayment) == \
        ("2025.1", 50, 2, date(2026, 12, 1), True)
    assert (caf_cer.stage, caf_cer.referent.type.value, caf_cer.cer.end) == (Stage.CER_ACTIVE, "CAF", date(2027, 4, 14))
    [sanction] = sanctioned.sanctions
    assert (sanction.outcome.value, sanction.decided_on, sanction.share_percent, sanction.months) == \
        ("SUSPENSION", date(2026, 11, 10), 100, 2)
    assert sanctioned.stage is Stage.CER_ACTIVE and "APPLY_RSA_SANCTION" not in _kinds(sanctioned)


def test_a_deadline_already_past_is_a_breach_dated_when_it_fell_due():
    row = {"nir": "1850575123456", "territory": "T1", "stage": "AWAITING_ORIENTATION",
           "caf_transmission_date": "2026-08-20"}
    due = service_deadline(date(2026, 8, 20), months=1)
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    [breach] = state.breaches
    assert (breach.kind, breach.due, breach.breached_on) == (DeadlineKind.ORIENTATION, due, add_days(due, 1))
    assert [t.kind for t in state.outbox.tasks] == ["ESCALATION_ORIENTATION"]

    quiet = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f", past_breaches=False)
    assert not quiet.breaches and not quiet.outbox.breaches and not quiet.outbox.tasks
    assert [(p.kind, p.due) for p in quiet.adoption.past_due] == [(DeadlineKind.ORIENTATION, due)]


def test_a_late_orientation_is_a_breach_of_its_known_dates():
    row = {"matricule": "123", "rank": "1", "territory": "T1", "stage": "ORIENTED_TO_PLATFORM",
           "caf_transmission_date": "2026-10-01", "orientation_notified_on": "2026-11-30",
           "orientation_target": "PLATFORM", "referent_structure": "PF1"}
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert [b.kind for b in state.breaches] == [DeadlineKind.ORIENTATION]


#: A 2025 suspension-remobilisation during the CER of the rows below (a case entered in 2025: rule set 2025.1).
SSR = {"non_compliance_kind": "NON_ADHESION", "ep_referral_on": "2026-11-01", "sanction_outcome":
       "SUSPENSION_REMOBILISATION", "sanction_failure": "FIRST", "sanction_decided_on": "2026-11-10",
       "sanction_share_percent": "50", "sanction_months": "2"}
#: A repeated failure: its first suspension-remobilisation, decided during the same CER before the second referral.
REPEATED = {"sanction_failure": "REPEATED", "sanction_months": "4", "first_sanction_decided_on": "2026-10-15",
            "first_sanction_share_percent": "30", "first_sanction_months": "1"}


@pytest.mark.parametrize("change, code", [
    ({"cer_end": "2027-06-30"}, "CER_TOO_LONG"),
    ({"orientation_target": ""}, "FIELD_MISSING"),
    ({"cer_start": "2026-12-20"}, "DATE_IN_FUTURE"),
    ({"cer_start": "2001-01-01"}, "DATE_IMPLAUSIBLE"),
    ({"cer_start": "31/31/2026"}, "DATE_INVALID"),
    ({"stage": "SOMEWHERE"}, "UNKNOWN_STAGE"),
    ({"stage": "DETECTED"}, "STAGE_NOT_ADOPTABLE"),
    ({"stage": "SANCTION_PROCEDURE"}, "FIELD_MISSING"),  # held_stage
    ({"held_stage": "REFERENT_DESIGNATED"}, "HELD_STAGE_NOT_IN_STAGE"),
    ({"stage": "NON_COMPLIANCE_EP", "held_stage": "CAF_SAISINE"}, "HELD_STAGE_INVALID"),
    ({"stage": "NON_COMPLIANCE_EP", "held_stage": "CER_ACTIVE", "ep_referral_on": "2026-11-20"}, "FIELD_MISSING"),
    ({"stage": "NON_COMPLIANCE_EP", "held_stage": "CER_ACTIVE", "ep_referral_on": "2026-09-20",
      "non_compliance_kind": "NON_ADHESION"}, "DATES_OUT_OF_ORDER"),
    ({"stage": "REORIENTATION_REQUESTED", "held_stage": "CER_ACTIVE", "reorientation_requested_on": "2026-11-20",
      "reorientation_reason": "EPUISEMENT"}, "REORIENTATION_SAME_SPHERE_ONLY_AT_CER_END"),
    ({"stage": "REORIENTATION_REQUESTED", "held_stage": "CER_ACTIVE", "reorientation_requested_on": "2026-11-20",
      "reorientation_reason": "AUTRE"}, "REORIENTATION_AUTRE_NOT_IN_A_ROW"),
    ({"stage": "REORIENTATION_REQUESTED", "held_stage": "BILAN", "reorientation_requested_on": "2026-11-20",
      "reorientation_reason": "REPRISE_VIE_MARITALE"}, "STAGE_MISMATCH"),  # the CER still runs: CER_ACTIVE is held
    ({"reorientation_reason": "EPUISEMENT"}, "REORIENTATION_NOT_IN_STAGE"),
    ({"non_compliance_kind": "NON_ADHESION", "ep_referral_on": "2026-11-01", "sanction_outcome": "RADIATION"},
     "SANCTION_OUTCOME_INVALID"),
    ({"non_compliance_kind": "NON_ADHESION", "ep_referral_on": "2026-11-01", "sanction_outcome": "REDUCTION",
      "sanction_decided_on": "2026-11-10", "sanction_months": "2", "sanction_share_percent": "100"},
     "EP_SANCTION_TERMS"),
    ({"non_compliance_kind": "NON_ADHESION", "ep_referral_on": "2026-11-01", "sanction_outcome": "SUSPENSION",
      "sanction_decided_on": "2026-10-10", "sanction_months": "2"}, "DATES_OUT_OF_ORDER"),
    ({"sanction_months": "two"}, "NUMBER_INVALID"),
    ({"non_compliance_kind": "NON_ADHESION"}, "EP_NOT_IN_STAGE"),
    ({"stage": "NOT_SUBJECT", "not_subject_since": "2026-11-01", "cer_start": "", "cer_end": ""},
     "ORIENTATION_NOT_IN_STAGE"),  # never subject
    ({"not_subject_since": "2026-11-01"}, "NOT_SUBJECT_NOT_IN_STAGE"),
    ({"stage": "CLOSED", "cer_start": "", "cer_end": "", "end_of_payment": "2025-12-01"}, "CLOSED_FOR_GOOD"),
    ({"stage": "CLOSED", "cer_start": "", "cer_end": "", "end_of_payment": "2026-11-01", "exit_choice": "CONTINUE",
      "exit_choice_on": "2026-11-05"}, "EXIT_CHOICE_CONTINUE"),
    ({"stage": "REFERENT_DESIGNATED", "orientation_target": "CAF", "caf_saisine_on": "2025-10-10",
      "caf_saisine_mode": "M1", "cer_start": "", "cer_end": ""}, "TARGET_MISMATCH"),
    ({"stage": "BILAN"}, "STAGE_MISMATCH"),
    ({"nir": "1850575123499"[:12]}, "NIR_INVALID"),
    ({"nir": "", "matricule": ""}, "IDENTITY_MISSING"),
    ({"rule_set": "1999.9"}, "UNKNOWN_RULE_SET"),
    ({"orientation_target": "CAF"}, "FIELD_MISSING"),  # the CAF route's saisine
    ({"caf_saisine_on": "2025-10-10"}, "CAF_SAISINE_NOT_IN_STAGE"),
    ({"stage": "CAF_FIRST_INTERVIEW", "orientation_target": "CAF", "cer_start": "", "cer_end": ""}, "FIELD_MISSING"),
    ({"orientation_target": "PLATFORM"}, "TARGET_MISMATCH"),
    ({"territory": "a b"}, "TERRITORY_INVALID"),
    ({"end_of_payment": "2026-11-01"}, "EXIT_NOT_IN_STAGE"),
    ({"first_appointment_on": "2026-11-01"}, "APPOINTMENT_NOT_IN_STAGE"),
    ({"preconisation_on": "2026-11-01"}, "PRECONISATION_NOT_IN_STAGE"),
    ({"personal_review_requested_on": "2026-11-01"}, "REVIEW_NOT_IN_STAGE"),
    ({"stage": "AWAITING_SLAI_VALIDATION", "orientation_target": "PLATFORM", "cer_start": "", "cer_end": ""},
     "FIELD_MISSING"),
    ({**SSR, "rule_set": "2023.1"}, "SANCTION_2025_NOT_IN_RULE_SET"),  # the 2025 suspension-remobilisation
    ({**SSR, "sanction_share_percent": "20"}, "SANCTION_2025_SHARE"),
    ({**SSR, "sanction_months": "3"}, "SANCTION_2025_MONTHS"),
    ({**SSR, "sanction_failure": "REPEATED"}, "SANCTION_2025_NOT_REPEATED"),  # no first one in the row
    ({**SSR, **REPEATED, "first_sanction_months": ""}, "FIELD_MISSING"),
    ({**SSR, **REPEATED, "sanction_failure": "FIRST"}, "FIRST_SANCTION_NOT_IN_ROW"),
    ({**SSR, **REPEATED, "first_sanction_decided_on": "2026-11-01"}, "DATES_OUT_OF_ORDER"),  # not before the referral
    ({**SSR, **REPEATED, "first_sanction_decided_on": "2025-09-01"}, "DATES_OUT_OF_ORDER"),  # before the transmission
    ({**SSR, **REPEATED, "first_sanction_months": "3"}, "SANCTION_2025_MONTHS"),  # a first failure: 1–2 months
    ({**SSR, **REPEATED, "first_sanction_share_percent": "20"}, "SANCTION_2025_SHARE"),
    ({**SSR, **REPEATED, "first_sanction_months": "13"}, "NUMBER_INVALID"),
    ({**SSR, **REPEATED, "sanction_months": "5"}, "SANCTION_2025_MONTHS"),  # a repeated failure: up to 4 months
    ({**SSR, "sanction_failure": ""}, "FIELD_MISSING"),
    ({**SSR, "sanction_failure": "THIRD"}, "UNKNOWN_FAILURE"),
    ({**SSR, "sanction_outcome": "SUSPENSION", "sanction_share_percent": "100"}, "SANCTION_FAILURE_NOT_IN_ROW"),
    ({**SSR, "remobilised_on": "2026-12-01"}, "FIELD_MISSING"),
    ({**SSR, "remobilised_on": "2026-11-05", "remobilisation": "REPAYMENT"}, "DATES_OUT_OF_ORDER"),
    ({**SSR, "remobilised_on": "2026-12-01", "remobilisation": "MAYBE"}, "REMOBILISATION_INVALID"),
    ({**SSR, "stage": "NON_COMPLIANCE_EP", "held_stage": "CER_ACTIVE"}, "SANCTION_NOT_IN_STAGE"),
])
def test_rejected_rows_carry_their_reason(change, code):
    """Each refusal with its code: the row's own rules, then the pathway's (a suspension-remobilisation's too)."""
    row = {"nir": "1850575123456", "territory": "T1", "stage": "CER_ACTIVE", "caf_transmission_date": "2025-10-01",
           "orientation_notified_on": "2025-10-20", "orientation_target": "REFERENT_SOCIOPRO",
           "referent_structure": "S1", "cer_start": "2026-10-01", "cer_end": "2027-03-31", **change}
    judged = judge_row(row, 4, TODAY, SECRET)
    if isinstance(judged, CaseloadCase):
        with pytest.raises(ValueError) as refused:
            adopt(judged, NOW, TODAY, source="CSV", file_digest="f")
        assert refused.value.code == code
        return
    assert (judged.row, judged.code) == (4, code)
    assert "1850575123456" not in judged.reason


def test_a_referent_without_an_orientation_is_refused():
    row = {"nir": "1850575123456", "territory": "T1", "stage": "AWAITING_ORIENTATION",
           "caf_transmission_date": "2026-11-20", "referent_structure": "S1"}
    assert judge_row(row, 1, TODAY, SECRET).code == "REFERENT_WITHOUT_ORIENTATION"


def test_an_exit_choice_overdue_closes_the_case_so_the_stage_is_refused():
    row = caseload_row(Stage.EXIT_CHOICE_PENDING, 1, TODAY, random.Random(1))
    row["end_of_payment"] = (TODAY - timedelta(days=40)).strftime("%d/%m/%Y")
    with pytest.raises(ValueError) as refused:
        adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert refused.value.code == "STAGE_MISMATCH" and "CLOSED" in str(refused.value)


def test_same_person_same_id_whatever_the_nir_key_and_the_digest_follows_the_values():
    row = {"nir": "1850575123456", "territory": "T1", "stage": "AWAITING_ORIENTATION",
           "caf_transmission_date": "2026-11-20"}
    keyed = dict(row, nir="1850575123456" + "%02d" % (97 - 1850575123456 % 97))
    assert _case(row).person_id == _case(keyed).person_id
    assert _case(row).row_digest == _case(dict(row)).row_digest != _case(dict(row, territory="T2")).row_digest


def test_a_reason_never_repeats_a_cell_a_misplaced_nir_included():
    nir = "1850575123456"
    for field in ("stage", "orientation_target", "caf_transmission_date", "exit_choice"):
        row = {"matricule": "1", "rank": "1", "territory": "T1", "stage": "AWAITING_ORIENTATION",
               "caf_transmission_date": "2026-11-20", field: nir}
        judged = judge_row(row, 1, TODAY, SECRET)
        assert isinstance(judged, CaseloadRejection) and nir not in judged.reason, (field, judged)


PLATFORM_ROW = {"nir": "1850575123456", "territory": "T1", "caf_transmission_date": "2026-10-20",
                "orientation_notified_on": "2026-11-02", "orientation_target": "PLATFORM", "referent_structure": "PF1"}


def _status(state, kind: DeadlineKind) -> DeadlineStatus:
    [deadline] = [d for d in state.deadlines if d.kind is kind]
    return deadline.status


def test_a_first_appointment_fixed_ahead_meets_the_14_days_and_leaves_the_first_cer_clock():
    row = dict(PLATFORM_ROW, stage="PLATFORM_FIRST_APPOINTMENT", first_appointment_on="2026-11-13")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.PLATFORM_FIRST_APPOINTMENT and state.first_appointment_on == date(2026, 11, 13)
    assert _status(state, DeadlineKind.FIRST_APPOINTMENT) is DeadlineStatus.MET
    assert next_due(state) == service_deadline(date(2026, 11, 2), months=2) and not state.breaches

    late = adopt(_case(dict(row, first_appointment_on="2026-12-20")), NOW, TODAY, source="CSV", file_digest="f")
    assert late.stage is Stage.PLATFORM_FIRST_APPOINTMENT
    [breach] = late.breaches  # fixed after the 14 days: the clock fell due (G-B4)
    assert (breach.kind, breach.due) == (DeadlineKind.FIRST_APPOINTMENT, service_deadline(date(2026, 11, 2), days=14))


def test_a_held_first_appointment_is_the_diagnostic_and_first_cer_stage():
    row = dict(PLATFORM_ROW, stage="PLATFORM_DIAGNOSTIC_AND_FIRST_CER", first_appointment_on="2026-11-10")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER
    assert next_due(state) == service_deadline(date(2026, 11, 2), months=2) and not state.breaches
    ahead = judge_row(dict(row, first_appointment_on="2026-12-10"), 1, TODAY, SECRET)
    assert ahead.code == "DATE_IN_FUTURE"  # held: not after the import day


def test_a_preconisation_awaits_the_slai_for_10_working_days():
    row = dict(PLATFORM_ROW, stage="AWAITING_SLAI_VALIDATION", preconisation_on="2026-12-01",
               preconisation_target="REFERENT_SOCIOPRO", preconisation_structure="S1")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.AWAITING_SLAI_VALIDATION and state.preconisation.value == "REFERENT_SOCIOPRO"
    assert next_due(state) == add_working_days(date(2026, 12, 1), 10) and not state.breaches
    assert _status(state, DeadlineKind.FIRST_CER) is DeadlineStatus.MET
    assert _status(state, DeadlineKind.FIRST_APPOINTMENT) is DeadlineStatus.CANCELLED  # unknown, not judged
    assert [t.kind for t in state.outbox.tasks] == ["VALIDATE_PRECONISATION"]
    assert judge_row(dict(row, preconisation_target="PLATFORM"), 1, TODAY, SECRET).code == "TARGET_MISMATCH"


CAF_ROW = {"nir": "1850575123456", "territory": "T1", "caf_transmission_date": "2026-11-10",
           "caf_saisine_on": "2026-11-15", "caf_saisine_mode": "M2", "orientation_target": "CAF",
           "referent_structure": "CAF62"}


def test_a_caf_saisine_awaiting_its_decision_keeps_the_orientation_clock():
    state = adopt(_case(dict(CAF_ROW, stage="CAF_SAISINE")), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.CAF_SAISINE and state.held_stages == [Stage.AWAITING_ORIENTATION]
    assert next_due(state) == service_deadline(date(2026, 11, 10), months=1) and not state.breaches
    assert "VALIDATE_CAF_SAISINE" in [t.kind for t in state.outbox.tasks]  # the SLAI decides it
    oriented = judge_row(dict(CAF_ROW, stage="CAF_SAISINE", orientation_notified_on="2026-11-20"), 1, TODAY, SECRET)
    assert oriented.code == "ORIENTATION_NOT_IN_STAGE"


def test_an_accepted_saisine_awaits_the_caf_first_interview_with_the_referent_cer_clock():
    row = dict(CAF_ROW, stage="CAF_FIRST_INTERVIEW", orientation_notified_on="2026-11-20")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.CAF_FIRST_INTERVIEW and state.referent.type.value == "CAF"
    assert _status(state, DeadlineKind.ORIENTATION) is DeadlineStatus.MET and not state.breaches
    assert next_due(state) == service_deadline(date(2026, 11, 20), months=2)


def test_the_caf_first_interview_held_is_the_cer_drafting_stage():
    row = dict(CAF_ROW, stage="CER_DRAFTING", orientation_notified_on="2026-11-20", first_appointment_on="2026-11-27")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.CER_DRAFTING and not state.breaches
    assert next_due(state) == service_deadline(date(2026, 11, 20), months=2)
    assert judge_row(dict(row, orientation_target="PLIE"), 1, TODAY, SECRET).code == "TARGET_MISMATCH"


def test_a_personal_review_pauses_the_referent_clocks_and_runs_its_3_months():
    row = {"nir": "1850575123456", "territory": "T1", "stage": "PERSONAL_SITUATION_REVIEW",
           "caf_transmission_date": "2026-09-20", "orientation_notified_on": "2026-10-01",
           "orientation_target": "REFERENT_SOLIDARITE", "referent_structure": "S1",
           "personal_review_requested_on": "2026-11-16"}
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert state.stage is Stage.PERSONAL_SITUATION_REVIEW and state.held_stages == [Stage.REFERENT_DESIGNATED]
    [first_cer] = [d for d in state.deadlines if d.kind is DeadlineKind.FIRST_CER]
    assert first_cer.paused_by and first_cer.paused_since == date(2026, 11, 16) and not state.breaches
    assert next_due(state) == service_deadline(date(2026, 11, 16), months=3)
    with_cer = adopt(_case(dict(row, cer_start="2026-10-15", cer_end="2027-01-10")), NOW, TODAY, source="CSV",
                     file_digest="f")
    assert with_cer.held_stages == [Stage.CER_ACTIVE] and next_due(with_cer) == date(2027, 1, 10)
    assert judge_row(dict(row, personal_review_requested_on="2026-09-25"), 1, TODAY, SECRET).code == \
        "DATES_OUT_OF_ORDER"


def test_a_file_without_the_platform_columns_keeps_its_row_digests():
    from domain.caseload import row_digest
    row = {"nir": "1850575123456", "territory": "T1", "stage": "AWAITING_ORIENTATION",
           "caf_transmission_date": "2026-11-20"}
    assert row_digest(row) == row_digest(dict(row, first_appointment_on=None, preconisation_on=""))


REFERENT_ROW = {"nir": "1850575123456", "territory": "T1", "caf_transmission_date": "2026-09-20",
                "orientation_notified_on": "2026-10-20", "orientation_target": "REFERENT_SOLIDARITE",
                "referent_structure": "S1"}


def _kinds(state) -> list[str]:
    return [t.kind for t in state.outbox.tasks]


def test_a_case_closed_after_leaving_rsa_is_adopted_within_its_reentry_window():
    row = dict(REFERENT_ROW, stage="CLOSED", end_of_payment="2026-11-01", exit_choice="CLOSE",
               exit_choice_on="2026-11-05")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert (state.stage, state.exit_reason.value, state.finished) == (Stage.CLOSED, "SORTIE_RSA", False)
    assert next_due(state) == service_deadline(date(2026, 11, 1), months=6)
    unanswered = adopt(_case({k: v for k, v in row.items() if not k.startswith("exit_choice")}), NOW, TODAY,
                       source="CSV", file_digest="f")
    assert unanswered.stage is Stage.CLOSED and not unanswered.breaches  # the choice's 15 days are a step
    early = judge_row(dict(row, end_of_payment="2026-10-10", exit_choice_on="2026-10-12"), 1, TODAY, SECRET)
    assert early.code == "DATES_OUT_OF_ORDER"  # left RSA before the orientation: the orientation never happened
