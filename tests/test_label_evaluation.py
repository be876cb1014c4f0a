"""Criterion 1 (training coverage), criterion 2 (sampled CER average) and the grant/refuse proposal + CLI."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from typer.testing import CliRunner

from domain.label_evaluation import LabelInputError, draw_sample, evaluate_structure, parse_label_file
from domain.rules import RULESET_2023 as R
from domain.training import MANDATORY_MODULES, CoverageStatus, ProfessionalTraining, evaluate_training
from workers.cli.app import app

ON = date(2025, 3, 15)


def attest(module, on="2024-06-01", **extra):
    return {"module": module, "attended_on": on, **extra}


FULL = [attest(m.value) for m in MANDATORY_MODULES] + [attest("gestion_agressivite")]


def professional(pid="P-01", attestations=None, **extra):
    chosen = FULL if attestations is None else attestations
    return {"professional_id": pid, "attestations": copy.deepcopy(chosen), **extra}


def coverage(**kwargs):
    return evaluate_training(ProfessionalTraining.model_validate(professional(**kwargs)), ON, R)


# --- training coverage ---------------------------------------------------------------------------------


def test_four_mandatory_and_one_optional_module_cover():
    result = coverage()
    assert result.covered and result.status is CoverageStatus.TRAINED and result.missing == []


@pytest.mark.parametrize("module", [m.value for m in MANDATORY_MODULES])
def test_each_missing_mandatory_module_blocks(module):
    result = coverage(attestations=[a for a in FULL if a["module"] != module])
    assert not result.covered and result.missing == [module]


def test_an_optional_module_is_required():
    result = coverage(attestations=FULL[:4])
    assert not result.covered and result.missing == ["one_optional_module"]


def test_a_second_mandatory_module_does_not_replace_the_optional_one():
    result = coverage(attestations=FULL[:4] + [attest("secret_professionnel", "2024-09-01")])
    assert not result.covered


def test_attestation_after_the_evaluation_date_does_not_count():
    result = coverage(attestations=FULL[:3] + [attest("secret_professionnel", "2025-03-16"), FULL[4]])
    assert not result.covered and result.missing == ["secret_professionnel"]


def test_external_training_is_accepted_and_flagged_for_dpid_review():
    atts = FULL[:3] + [attest("secret_professionnel", "2020-01-10", external=True), FULL[4]]
    result = coverage(attestations=atts)
    assert result.covered
    assert result.review_flags == ["P-01: external training for secret_professionnel to be reviewed for equivalence"]


def test_external_training_refused_by_dpid_does_not_count_and_accepted_is_not_flagged():
    atts = FULL[:3] + [attest("secret_professionnel", external=True, equivalence_accepted=False), FULL[4]]
    assert not coverage(attestations=atts).covered
    atts = FULL[:3] + [attest("secret_professionnel", external=True, equivalence_accepted=True), FULL[4]]
    result = coverage(attestations=atts)
    assert result.covered and result.review_flags == []


@pytest.mark.parametrize("reason", ["sick_leave", "annual_leave"])
def test_justified_absence_with_rebooking_covers(reason):
    result = coverage(
        attestations=FULL[1:],
        absences=[{"module": FULL[0]["module"], "reason": reason, "rebooked_on": "2025-05-01"}],
    )
    assert result.covered and result.status is CoverageStatus.COVERED_PENDING


def test_justified_absence_without_rebooking_does_not_cover():
    result = coverage(attestations=FULL[1:], absences=[{"module": FULL[0]["module"], "reason": "sick_leave"}])
    assert not result.covered
    assert any("without a rebooking" in r for r in result.reasons)


def test_other_absence_reason_is_not_justified():
    absences = [{"module": FULL[0]["module"], "reason": "other", "rebooked_on": "2025-05-01"}]
    assert not coverage(attestations=FULL[1:], absences=absences).covered


def test_absence_from_an_optional_module_with_rebooking_covers_the_optional_requirement():
    absences = [{"module": "retraite", "reason": "annual_leave", "rebooked_on": "2025-04-01"}]
    assert coverage(attestations=FULL[:4], absences=absences).covered


def test_new_arrival_with_a_plan_within_twelve_months_is_covered():
    plan = [{"module": m.value, "planned_on": "2025-09-01"} for m in MANDATORY_MODULES]
    plan.append({"module": "enfance_famille", "planned_on": "2025-10-01"})
    result = coverage(attestations=[], arrival_date="2024-11-01", training_plan=plan)
    assert result.covered and result.status is CoverageStatus.IN_TRAINING_PLAN


def test_new_arrival_plan_must_schedule_every_module_within_twelve_months():
    plan = [{"module": m.value, "planned_on": "2025-09-01"} for m in MANDATORY_MODULES]
    plan.append({"module": "enfance_famille", "planned_on": "2025-11-02"})  # arrival + 12 months = 2025-11-01
    result = coverage(attestations=[], arrival_date="2024-11-01", training_plan=plan)
    assert not result.covered and "one_optional_module" in result.missing


def test_new_arrival_without_plan_is_not_covered():
    assert not coverage(attestations=[], arrival_date="2024-11-01").covered


def test_arrival_more_than_twelve_months_ago_needs_attestations():
    plan = [{"module": m.value, "planned_on": "2025-01-01"} for m in MANDATORY_MODULES]
    result = coverage(attestations=[], arrival_date="2024-03-14", training_plan=plan)
    assert not result.covered
    assert any("had to be trained by 2025-03-14" in r for r in result.reasons)
    # on the anniversary itself the plan still covers
    assert coverage(attestations=[], arrival_date="2024-03-15", training_plan=plan + [
        {"module": "retraite", "planned_on": "2025-01-01"}]).covered


# --- CER sample and structure average ------------------------------------------------------------------


def cer_eval(total: float) -> dict:
    """A valid CER evaluation whose grid total is ``total`` (10, 8.5, 8, 7.5 or 7)."""
    # (action start, detail, explains situation, explains actions, durations adapted, confidentiality)
    start, detail, situation, positioning, adapted, confidential = {
        10: ("2025-01-06", "d", True, True, True, True),
        8.5: ("2025-01-06", "d", True, True, True, False),
        8: ("2025-01-06", "", False, True, True, True),
        7.5: ("2025-01-05", "", False, True, True, True),
        7: ("2025-01-06", "", False, True, False, True),
    }[total]
    return {
        "kind": "solidarite",
        "edition_date": "2025-01-06",
        "end_date": "2025-07-06",
        "actions": [{"start": start, "end": "2025-07-06", "detail": detail, "professional_insertion": False}],
        "remark": "r",
        "assessment": {
            "durations_adapted": adapted,
            "remark_explains_situation": situation,
            "remark_explains_actions": positioning,
            "confidentiality_respected": confidential,
        },
    }


def cers(pid: str, totals: list[float]) -> list[dict]:
    return [{"cer_id": f"{pid}-c{i}", "evaluation": cer_eval(t)} for i, t in enumerate(totals)]


def label_file(totals_by_professional: dict[str, list[float]], **extra) -> dict:
    return {
        "structure_id": "S-62-0042",
        "evaluation_date": ON.isoformat(),
        "professionals": [professional(pid, cers=cers(pid, t)) for pid, t in totals_by_professional.items()],
        **extra,
    }


def propose(data, **kwargs):
    return evaluate_structure(parse_label_file(data, R), R, **kwargs)


def test_cer_eval_helper_totals():
    from domain.cer_grid import parse_cer_evaluation, score_cer

    for total in (10, 8.5, 8, 7.5, 7):
        assert score_cer(parse_cer_evaluation(cer_eval(total), R), R).total == total


def test_average_of_exactly_eight_grants():
    result = propose(label_file({"P-01": [8] * 5, "P-02": [7, 8.5, 8.5, 8, 8]}))
    assert result.cer_quality.average == 8.0
    assert result.cer_quality.passed and result.proposal == "grant"
    assert not result.cer_quality.joint_review_required


def test_average_of_7_95_refuses_without_rounding():
    # 20 scored CER: 19 x 8 + 1 x 7 = 159 → 7.95
    data = label_file({f"P-0{i}": [8] * 5 for i in range(1, 4)} | {"P-04": [8, 8, 8, 8, 7]})
    result = propose(data)
    assert result.cer_quality.scored == 20
    assert result.cer_quality.average == pytest.approx(7.95)
    assert not result.cer_quality.passed and result.proposal == "refuse"
    assert result.cer_quality.joint_review_required
    assert any("average 7.95/10" in r and "not met" in r for r in result.reasons)


def test_average_is_over_all_cer_not_over_professional_averages():
    # P-01 has 5 CER at 10, P-02 is a new arrival with 1 CER at 7: mean of means = 8.5, true mean = 57/6 = 9.5
    data = label_file({"P-01": [10] * 5, "P-02": [7]})
    data["professionals"][1]["arrival_date"] = "2024-12-01"
    data["professionals"][1]["training_plan"] = []
    result = propose(data)
    assert result.cer_quality.average == pytest.approx(57 / 6)
    per = {p.professional_id: p.average for p in result.cer_quality.professionals}
    assert per == {"P-01": 10, "P-02": 7}


def test_five_cer_drawn_per_professional_reproducibly_and_recorded():
    data = label_file({"P-01": [10, 10, 10, 7, 7, 7, 7, 8]}, seed="campagne-2025")
    first, second = propose(data), propose(data)
    sample = first.cer_quality.professionals[0].sample
    assert len(sample) == 5 and len(set(sample)) == 5
    assert sample == second.cer_quality.professionals[0].sample
    assert first.seed == "campagne-2025"
    assert sample == draw_sample("campagne-2025", "P-01", [f"P-01-c{i}" for i in range(8)], 5)
    # only drawn CER are scored and averaged
    totals = [10, 10, 10, 7, 7, 7, 7, 8]
    expected = sum(totals[int(c.rsplit("c", 1)[1])] for c in sample) / 5
    assert first.cer_quality.average == pytest.approx(expected)
    assert set(first.cer_quality.professionals[0].scores) == set(sample)
    # another seed draws another sample (for this data)
    others = {tuple(propose(label_file({"P-01": totals}, seed=s)).cer_quality.professionals[0].sample)
              for s in ("a", "b", "c", "d")}
    assert len(others) > 1


def test_default_seed_is_recorded():
    assert propose(label_file({"P-01": [10] * 5})).seed == "S-62-0042:2025-03-15"


def test_renewal_uses_the_reduced_sample():
    result = propose(label_file({"P-01": [10] * 6}), renewal=True)
    assert result.cer_per_professional == 2 and len(result.cer_quality.professionals[0].sample) == 2


def test_too_few_cer_fails_the_criterion():
    result = propose(label_file({"P-01": [10] * 5, "P-02": [10] * 4}))
    assert not result.cer_quality.passed and result.proposal == "refuse"
    assert "cer: P-02 submitted 4 CER, 5 required" in result.reasons


def test_training_gate_alone_refuses_even_with_perfect_cer():
    data = label_file({"P-01": [10] * 5, "P-02": [10] * 5})
    data["professionals"][1]["attestations"] = FULL[:4]
    result = propose(data)
    assert result.cer_quality.passed and not result.training.passed
    assert result.proposal == "refuse"
    assert result.presentation.training_percent == 50 and result.presentation.cer_percent == 100
    assert result.presentation.global_percent == 75
    assert any(r.startswith("training: P-02 not covered") for r in result.reasons)


def test_self_score_discrepancy_above_one_point_is_flagged():
    data = label_file({"P-01": [10] * 5})
    data["professionals"][0]["cers"][0]["self_score"] = 8.5
    data["professionals"][0]["cers"][1]["self_score"] = 9.0
    flags = propose(data).review_flags
    assert len(flags) == 1 and "P-01-c0" in flags[0]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.pop("structure_id"), "structure_id: missing field"),
        (lambda d: d.update(professionals=[]), "professionals:"),
        (lambda d: d["professionals"][0]["cers"][0].update(cer_id="1234567"), "clear N° CAF"),
        (lambda d: d["professionals"][0]["cers"][0]["evaluation"].update(end_date="2025-07-07"), "at most 6 months"),
        (lambda d: d["professionals"].append(d["professionals"][0]), "unique"),
        (lambda d: d["professionals"][0]["attestations"][0].update(module="yoga"), "attestations[0].module"),
    ],
)
def test_invalid_label_files(mutate, needle):
    data = label_file({"P-01": [10] * 5})
    mutate(data)
    with pytest.raises(LabelInputError) as raised:
        parse_label_file(data, R)
    assert needle in str(raised.value) and "\n" not in str(raised.value)


# --- CLI ----------------------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_evaluate_prints_the_proposal_with_every_reason(tmp_path):
    path = tmp_path / "label.json"
    data = label_file({"P-01": [8] * 5, "P-02": [10] * 5})
    data["professionals"][1]["attestations"] = FULL[1:]
    path.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["label", "evaluate", str(path)])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["proposal"] == "refuse"
    assert out["cer_quality"]["passed"] is True and out["training"]["passed"] is False
    assert any("P-02 not covered" in r for r in out["reasons"])
    assert out["cer_quality"]["professionals"][0]["sample"]

    text = runner.invoke(app, ["label", "evaluate", "--text", "-"], input=json.dumps(data))
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "S-62-0042: refuse" and len(lines) == 1 + len(out["reasons"])


def test_cli_evaluate_invalid_input():
    result = runner.invoke(app, ["label", "evaluate", "-"], input=json.dumps({"structure_id": "S"}))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == "evaluation_date: missing field"
