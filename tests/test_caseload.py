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
from domain.pathway import DeadlineKind, Stage

FIXTURES = Path(__file__).parent / "fixtures" / "caseload"
TODAY = date(2026, 12, 6)
NOW = datetime.combine(TODAY, time(12), PARIS)
SECRET = b"test-secret"


def _d(text: str | None) -> date | None:
    return datetime.strptime(text, "%d/%m/%Y").date() if text else None


def expected_next_due(row: dict[str, str]) -> date:
    """What the rules compute from the row's dates (domain.md §2: 1 month, 14 days, 2 months, 15 days, 6 months)."""
    stage = Stage(row["stage"])
    oriented = _d(row.get("orientation_notified_on"))
    if stage is Stage.AWAITING_ORIENTATION:
        return service_deadline(_d(row["caf_transmission_date"]), months=1)
    if stage is Stage.ORIENTED_TO_PLATFORM:
        return min(service_deadline(oriented, days=14), service_deadline(oriented, months=2))
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
    assert rejected == {8: "CER_TOO_LONG", 9: "REFERENT_WITHOUT_ORIENTATION"}
    stages = [adopt(j, NOW, TODAY, source="CSV", file_digest="f").stage for j in judged if isinstance(j, CaseloadCase)]
    assert stages == list(ADOPTABLE_STAGES)


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


@pytest.mark.parametrize("change, code", [
    ({"cer_end": "2027-06-30"}, "CER_TOO_LONG"),
    ({"orientation_target": ""}, "FIELD_MISSING"),
    ({"cer_start": "2026-12-20"}, "DATE_IN_FUTURE"),
    ({"cer_start": "2001-01-01"}, "DATE_IMPLAUSIBLE"),
    ({"cer_start": "31/31/2026"}, "DATE_INVALID"),
    ({"stage": "SOMEWHERE"}, "UNKNOWN_STAGE"),
    ({"stage": "SANCTION_PROCEDURE"}, "STAGE_NOT_ADOPTABLE"),
    ({"stage": "BILAN"}, "STAGE_MISMATCH"),
    ({"nir": "1850575123499"[:12]}, "NIR_INVALID"),
    ({"nir": "", "matricule": ""}, "IDENTITY_MISSING"),
    ({"rule_set": "1999.9"}, "UNKNOWN_RULE_SET"),
    ({"orientation_target": "CAF"}, "CAF_ROUTE_NOT_ADOPTABLE"),
    ({"orientation_target": "PLATFORM"}, "TARGET_MISMATCH"),
    ({"territory": "a b"}, "TERRITORY_INVALID"),
    ({"end_of_payment": "2026-11-01"}, "EXIT_NOT_IN_STAGE"),
])
def test_rejected_rows_carry_their_reason(change, code):
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
