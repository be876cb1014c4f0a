"""The granted label's state, pure (no Temporal): validity for funding checks (G-L15, G-L16)."""

from datetime import date

from domain.label_messages import LabelInput
from domain.label_state import LabelState, ValidityPeriod
from domain.rules import RULESET_2023 as R

DECIDED = date(2025, 6, 30)


def granted() -> LabelState:
    return LabelState.granted(LabelInput(structure_id="S", territory="ARTOIS", decided_on=DECIDED,
                                         application_workflow_id="label-S-1", rule_set_version=R.version), R)


def test_valid_five_years_from_the_decision():
    label = granted()
    assert label.expires_on == date(2030, 6, 30)
    assert not label.is_labelled(date(2025, 6, 29))
    assert label.is_labelled(DECIDED) and label.is_labelled(date(2030, 6, 29))
    assert not label.is_labelled(date(2030, 6, 30))


def test_a_pending_renewal_keeps_it_valid_and_past_periods_stay_valid():
    label = granted()
    label.renewal_requested_on = date(2030, 2, 1)
    assert label.is_labelled(date(2030, 9, 1))
    renewed = label.model_copy(update={"past_periods": [ValidityPeriod(start=DECIDED, end=date(2030, 9, 1))],
                                       "decided_on": date(2030, 9, 1), "expires_on": date(2035, 9, 1),
                                       "renewal_requested_on": None})
    assert renewed.is_labelled(date(2027, 1, 1)) and renewed.is_labelled(date(2035, 8, 31))


def test_an_ended_label_is_valid_until_the_day_before_it_ended():
    label = granted().model_copy(update={"ended_on": date(2027, 3, 1), "end_reason": "withdrawn"})
    assert label.is_labelled(date(2027, 2, 28)) and not label.is_labelled(date(2027, 3, 1))
