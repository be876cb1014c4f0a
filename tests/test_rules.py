"""The dated, versioned rule set: values from the seeds, selection by date and by recorded version."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from domain import rules
from domain.rules import RULE_SETS, RULESET_2023, RuleSet, rule_set, rule_set_for


def test_ruleset_2023_holds_the_durations_and_thresholds_of_the_seeds():
    r = RULESET_2023
    assert r.version == "2023.1"
    assert r.orientation_months == 1
    assert r.first_appointment_days == 14  # "2 semaines" = 14 days (G-B1)
    assert r.first_cer_months == 2
    assert r.platform_phase_months == 2
    assert r.cer_max_months == 6
    assert r.post_exit_months == 6
    assert r.label_instruction_months == 6
    assert r.moratorium_months == 6
    assert r.appeal_months == 2
    assert r.appeal_answer_months == 2
    assert r.label_validity_years == 5
    assert (r.renewal_window_first_month, r.renewal_window_last_month) == (1, 7)  # January–July
    assert r.training_within_months_of_arrival == 12
    assert r.cer_per_professional == 5
    assert r.cer_quality_threshold / r.cer_grid_max == pytest.approx(0.80)
    assert r.caf_per_etp == 20
    assert r.caf_per_year == 1300
    assert r.caf_physical_appointments_per_cer == 3


def test_rule_set_is_immutable():
    with pytest.raises(ValidationError):
        RULESET_2023.cer_max_months = 12  # type: ignore[misc]


def test_rule_set_round_trips_through_json():
    assert RuleSet.model_validate_json(RULESET_2023.model_dump_json()) == RULESET_2023


def test_rule_set_for_picks_the_rules_in_force_on_the_day():
    assert rule_set_for(date(2023, 1, 1)) is RULESET_2023  # first day in force
    assert rule_set_for(date(2025, 6, 30)) is RULESET_2023
    with pytest.raises(ValueError, match="2022-12-31"):
        rule_set_for(date(2022, 12, 31))


def test_rule_set_for_with_several_versions():
    later = RULESET_2023.model_copy(update={"version": "2026.1", "effective_from": date(2026, 7, 1), "cer_max_months": 4})
    sets = (later, RULESET_2023)  # order of declaration does not matter
    assert rule_set_for(date(2026, 6, 30), sets) is RULESET_2023
    assert rule_set_for(date(2026, 7, 1), sets) is later
    assert rule_set_for(date(2030, 1, 1), sets).cer_max_months == 4


def test_rule_set_for_reads_the_module_registry(monkeypatch):
    later = RULESET_2023.model_copy(update={"version": "2027.1", "effective_from": date(2027, 1, 1)})
    monkeypatch.setattr(rules, "RULE_SETS", (RULESET_2023, later))
    assert rule_set_for(date(2027, 1, 2)) is later
    assert rule_set("2027.1") is later


def test_rule_set_for_refuses_instants():
    with pytest.raises(TypeError):
        rule_set_for(datetime(2025, 1, 1, tzinfo=timezone.utc))


def test_rule_set_by_recorded_version():
    assert rule_set("2023.1") is RULESET_2023
    later = RULESET_2023.model_copy(update={"version": "2026.1", "effective_from": date(2026, 7, 1)})
    # A case started under 2023.1 keeps its rules even when asked after 2026.1 came into force.
    assert rule_set("2023.1", (RULESET_2023, later)) is RULESET_2023
    assert rule_set("2026.1", (RULESET_2023, later)) is later
    with pytest.raises(ValueError, match="1999.9"):
        rule_set("1999.9")


def test_registered_rule_sets_are_unambiguous():
    assert len({r.version for r in RULE_SETS}) == len(RULE_SETS)
    duplicate = RULESET_2023.model_copy(update={"effective_from": date(2030, 1, 1)})
    with pytest.raises(ValueError):
        rules._check_unique((RULESET_2023, duplicate))
    same_day = RULESET_2023.model_copy(update={"version": "2023.2"})
    with pytest.raises(ValueError):
        rules._check_unique((RULESET_2023, same_day))


# ---------------------------------------------------------------- G-C1: dated CAF convention parameters


def test_G_C1_the_2023_convention_is_in_force_in_2023_and_carried_forward_until_replaced():
    from domain.rules import CAF_CONVENTION_2023, CafConvention, caf_convention_for

    assert caf_convention_for(date(2023, 6, 1)) is CAF_CONVENTION_2023
    assert caf_convention_for(date(2026, 12, 6)) is CAF_CONVENTION_2023  # no later convention known: carried
    assert (CAF_CONVENTION_2023.period_start, CAF_CONVENTION_2023.period_end) == (date(2023, 1, 1), date(2023, 12, 31))
    assert (CAF_CONVENTION_2023.per_etp, CAF_CONVENTION_2023.per_year, CAF_CONVENTION_2023.etp) == (20, 1300, 65)
    assert CAF_CONVENTION_2023.report_due(2023) == date(2024, 1, 31)  # [000:260]
    renewed = CafConvention(version="CAF-2027", period_start=date(2027, 1, 1), period_end=date(2027, 12, 31),
                            per_year=1500)
    conventions = (CAF_CONVENTION_2023, renewed)
    assert caf_convention_for(date(2026, 12, 31), conventions) is CAF_CONVENTION_2023
    assert caf_convention_for(date(2027, 1, 1), conventions).per_year == 1500
    with pytest.raises(ValueError):
        caf_convention_for(date(2022, 12, 31))
