"""Annexe 2 grid: every item for both CER kinds, the 8.0 boundary, and invalid inputs (pure function + CLI)."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from domain.cer_grid import CerInputError, parse_cer_evaluation, score_cer
from domain.rules import RULESET_2023 as R
from workers.cli.app import app

EDITION, END = "2025-02-03", "2025-08-03"


def action(start=EDITION, end=END, detail="Inscription et suivi", pro=False):
    return {"start": start, "end": end, "detail": detail, "professional_insertion": pro}


def cer(kind="solidarite", actions=None, remark="Situation et étapes", **judgments):
    assessment = {
        "durations_adapted": True,
        "remark_explains_situation": True,
        "remark_explains_actions": True,
        "confidentiality_respected": True,
    }
    assessment.update(judgments)
    return {
        "kind": kind,
        "edition_date": EDITION,
        "end_date": END,
        "actions": [action()] if actions is None else actions,
        "remark": remark,
        "assessment": assessment,
    }


def score(data):
    return score_cer(parse_cer_evaluation(data, R), R)


def sections(data):
    return score(data).sections.model_dump()


# --- full marks for both kinds -------------------------------------------------------------------------


def test_perfect_solidarite_cer_scores_ten():
    result = score(cer())
    assert result.model_dump() == {
        "sections": {"durations": 2, "number_of_actions": 2, "details": 1, "remark": 3.5, "confidentiality": 1.5},
        "total": 10,
        "max": 10,
        "percent": 100,
    }


def test_perfect_socioprofessionnel_cer_scores_ten():
    actions = [action(pro=True), action(), action(start="2025-03-01", end="2025-04-01")]
    assert score(cer("socioprofessionnel", actions)).total == 10


# --- durations (/2) ------------------------------------------------------------------------------------


def test_action_starting_before_edition_loses_the_first_half_point():
    data = cer(actions=[action(), action(start="2025-02-02", end="2025-03-01")])
    assert sections(data)["durations"] == 1.5


def test_action_starting_on_edition_date_keeps_the_half_point():
    assert sections(cer(actions=[action(start=EDITION, end="2025-02-03")]))["durations"] == 2


def test_action_ending_after_cer_end_loses_the_second_half_point():
    data = cer(actions=[action(), action(start="2025-03-01", end="2025-08-04")])
    assert sections(data)["durations"] == 1.5


def test_action_ending_on_cer_end_keeps_the_half_point():
    assert sections(cer(actions=[action(end=END)]))["durations"] == 2


def test_duration_not_adapted_loses_one_point():
    assert sections(cer(durations_adapted=False))["durations"] == 1


def test_no_action_gives_zero_on_the_computed_duration_items():
    assert sections(cer(actions=[]))["durations"] == 1  # only the evaluator's "adapted" judgment
    assert sections(cer(actions=[], durations_adapted=False))["durations"] == 0


def test_both_date_items_lost_together():
    data = cer(actions=[action(start="2025-01-01", end="2025-09-01")], durations_adapted=False)
    # the action itself is valid (ends after it starts) but lies outside the CER on both sides
    assert sections(data)["durations"] == 0


# --- number of actions (/2) ----------------------------------------------------------------------------


def test_solidarite_one_action_gives_two_points():
    assert sections(cer("solidarite", [action()]))["number_of_actions"] == 2


def test_solidarite_without_action_gives_zero():
    assert sections(cer("solidarite", []))["number_of_actions"] == 0


def test_solidarite_does_not_need_a_professional_insertion_action():
    assert sections(cer("solidarite", [action(pro=False)]))["number_of_actions"] == 2


def test_socio_pro_three_actions_without_insertion_gives_one_point():
    assert sections(cer("socioprofessionnel", [action()] * 3))["number_of_actions"] == 1


def test_socio_pro_insertion_action_with_fewer_than_three_gives_one_point():
    assert sections(cer("socioprofessionnel", [action(pro=True), action()]))["number_of_actions"] == 1


def test_socio_pro_three_actions_with_insertion_gives_two_points():
    assert sections(cer("socioprofessionnel", [action(pro=True), action(), action()]))["number_of_actions"] == 2


def test_socio_pro_two_actions_without_insertion_gives_zero():
    assert sections(cer("socioprofessionnel", [action(), action()]))["number_of_actions"] == 0


def test_socio_pro_without_action_gives_zero():
    assert sections(cer("socioprofessionnel", []))["number_of_actions"] == 0


# --- details (/1) --------------------------------------------------------------------------------------


def test_every_action_detailed_gives_one_point():
    assert sections(cer(actions=[action(), action(detail="Atelier CV")]))["details"] == 1


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_one_blank_detail_gives_zero(blank):
    assert sections(cer(actions=[action(), action(detail=blank)]))["details"] == 0


def test_no_action_gives_zero_details():
    assert sections(cer(actions=[]))["details"] == 0


# --- remark (/3.5) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("situation", "positioning", "expected"),
    [(False, False, 0.5), (True, False, 1.5), (False, True, 2.5), (True, True, 3.5)],
)
def test_remark_items_add_up(situation, positioning, expected):
    data = cer(remark_explains_situation=situation, remark_explains_actions=positioning)
    assert sections(data)["remark"] == expected


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_remark_scores_nothing_whatever_the_judgments(blank):
    assert sections(cer(remark=blank))["remark"] == 0


# --- confidentiality (/1.5) ----------------------------------------------------------------------------


def test_confidentiality_respected_gives_one_and_a_half():
    assert sections(cer())["confidentiality"] == 1.5
    assert sections(cer(confidentiality_respected=False))["confidentiality"] == 0


# --- totals and the 80 % line --------------------------------------------------------------------------


def test_total_is_the_sum_and_percent_is_total_times_ten():
    data = cer("socioprofessionnel", [action(), action()], remark_explains_actions=False)
    result = score(data)
    # durations 2 + number 0 + details 1 + remark 1.5 + confidentiality 1.5
    assert result.total == 6 and result.percent == 60


def test_a_cer_at_exactly_eight_is_at_eighty_percent():
    # durations 2 + number 2 + details 0 + remark 2.5 + confidentiality 1.5
    result = score(cer(actions=[action(detail="")], remark_explains_situation=False))
    assert result.total == 8.0 and result.percent == 80.0


# --- invalid inputs ------------------------------------------------------------------------------------


def _error(data) -> str:
    with pytest.raises(CerInputError) as raised:
        parse_cer_evaluation(data, R)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("field", ["kind", "edition_date", "end_date", "actions", "remark", "assessment"])
def test_missing_top_level_field_is_named(field):
    data = cer()
    del data[field]
    assert _error(data) == f"{field}: missing field"


def test_missing_assessment_item_is_named():
    data = cer()
    del data["assessment"]["confidentiality_respected"]
    assert _error(data) == "assessment.confidentiality_respected: missing field"


def test_missing_action_field_is_named():
    data = cer(actions=[action(), action()])
    del data["actions"][1]["professional_insertion"]
    assert _error(data) == "actions[1].professional_insertion: missing field"


def test_unknown_kind_is_refused():
    assert _error(cer(kind="professionnel")).startswith("kind:")


def test_unknown_field_is_refused():
    data = cer()
    data["nir"] = "x"
    assert _error(data) == "nir: unknown field"


@pytest.mark.parametrize("bad", ["2025-02-30", "03/02/2025", "2025-2-3", 20250203, None])
def test_bad_date_is_refused(bad):
    data = cer()
    data["edition_date"] = bad
    assert _error(data).startswith("edition_date:")


def test_bad_action_date_is_named():
    data = cer()
    data["actions"][0]["end"] = "2025-13-01"
    assert _error(data).startswith("actions[0].end:")


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_non_boolean_judgment_is_refused(bad):
    data = cer()
    data["assessment"]["durations_adapted"] = bad
    assert _error(data).startswith("assessment.durations_adapted:")


def test_action_ending_before_it_starts_is_refused():
    data = cer(actions=[action(), action(start="2025-03-02", end="2025-03-01")])
    assert _error(data).startswith("actions[1].end: action ends")


def test_cer_ending_before_edition_is_refused():
    data = cer(actions=[])
    data["end_date"] = "2025-02-02"
    assert _error(data).startswith("end_date: CER ends")


def test_cer_of_exactly_six_months_is_accepted_and_one_day_more_is_refused():
    data = cer()
    data["edition_date"], data["end_date"] = "2025-08-31", "2026-02-28"  # add_months clamps 31 Aug + 6
    data["actions"] = [action(start="2025-08-31", end="2026-02-28")]
    assert score(data).total == 10
    data["end_date"] = "2026-03-01"
    assert "at most 6 months" in _error(data)


def test_not_an_object_is_refused():
    assert "JSON object" in _error([cer()])


# --- CLI ----------------------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_scores_a_file(tmp_path):
    path = tmp_path / "cer.json"
    path.write_text(json.dumps(cer("socioprofessionnel", [action(pro=True), action(), action()])), encoding="utf-8")
    result = runner.invoke(app, ["cer", "score", str(path)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "sections": {"durations": 2, "number_of_actions": 2, "details": 1, "remark": 3.5, "confidentiality": 1.5},
        "total": 10,
        "max": 10,
        "percent": 100,
    }
    assert result.stderr == ""


def test_cli_reads_stdin():
    data = cer(confidentiality_respected=False)
    result = runner.invoke(app, ["cer", "score", "-"], input=json.dumps(data))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["total"] == 8.5


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.pop("remark"), "remark"),
        (lambda d: d.update(kind="autre"), "kind"),
        (lambda d: d.update(end_date="2025-08-04"), "at most 6 months"),
        (lambda d: d["actions"][0].update(start="2025-09-01"), "actions[0].end"),
    ],
)
def test_cli_invalid_input_exits_2_with_one_stderr_line_and_no_stdout(mutate, needle):
    data = copy.deepcopy(cer())
    mutate(data)
    result = runner.invoke(app, ["cer", "score", "-"], input=json.dumps(data))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_cli_invalid_json_and_missing_file(tmp_path):
    result = runner.invoke(app, ["cer", "score", "-"], input="{not json")
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.startswith("invalid JSON")
    result = runner.invoke(app, ["cer", "score", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1
