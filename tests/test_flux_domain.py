"""Flow records: validation rules with reasons, and the events derived from successive observations."""

from __future__ import annotations

from datetime import date

import pytest

from domain.flux import FluxHeader, RawHousehold, RawPerson, RejectionCode, RightState
from domain.flux_validation import DuplicateGuard, judge, parse_iso_date, validate_header, validate_household
from domain.flux_events import (
    BecameSubject,
    FlowObservation,
    FlowLeftRsa,
    NewEntrant,
    NoLongerSubject,
    FlowNotSubjectConfirmed,
    FlowPaymentResumed,
    FlowPaymentSuspended,
    RsaReopened,
    derive_events as derive_events_with,
    observations_for_household,
    starts_pathway,
)
from domain.identity import nir_key
from domain.rules import rule_set_for


def derive_events(previous, observation):
    """The events under the rules in force on the flow's date (as the flow import passes them)."""
    return derive_events_with(previous, observation, rule_set_for(observation.flow_date))

SECRET = b"test-secret"


def nir(body: str) -> str:
    return f"{body}{nir_key(body):02d}"


DEM = nir("1850562041123")
CJT = nir("2900259350045")


def person(**overrides) -> RawPerson:
    values = dict(nir=DEM, last_name="LEFÈVRE", first_name="Jérôme", birth_date="1985-05-12", role="DEM",
                  subject_to_duties="1")
    values.update(overrides)
    return RawPerson(**values)


def household(**overrides) -> RawHousehold:
    values = dict(matricule="1234567", right_states=["2"], persons=[person()])
    values.update(overrides)
    return RawHousehold(**values)


def codes(raw: RawHousehold) -> list[RejectionCode]:
    result, issues = validate_household(raw)
    assert (result is None) == bool(issues)
    return [i.code for i in issues]


def test_a_complete_household_is_typed():
    result, issues = validate_household(household(
        right_states=["4"], suspension_reasons=["06"], suspension_date="2024-02-01", no_fixed_abode="1",
        persons=[person(), person(nir=CJT, role="CJT", subject_to_duties="0"), person(nir=None, subject_to_duties="0")],
    ))
    assert issues == []
    assert result.right_state is RightState.OPEN_PAYMENT_SUSPENDED
    assert result.suspension_reasons == ("06",)
    assert result.suspension_date == date(2024, 2, 1)
    assert result.no_fixed_abode is True
    assert [p.subject_to_duties for p in result.persons] == [True, False, False]
    assert result.subject_count == 1
    assert result.persons[0].nir == DEM and result.persons[2].nir is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"persons": [person(nir=DEM[:13] + f"{(int(DEM[13:]) % 97) + 1:02d}")]}, RejectionCode.BAD_NIR),
        ({"persons": [person(nir="1850562041")]}, RejectionCode.BAD_NIR),
        ({"persons": [person(nir=None)]}, RejectionCode.BAD_NIR),  # subject to duties without NIR
        ({"matricule": "  "}, RejectionCode.MISSING_MATRICULE),
        ({"matricule": None}, RejectionCode.MISSING_MATRICULE),
        ({"right_states": ["7"]}, RejectionCode.UNKNOWN_ETATDOSRSA),
        ({"right_states": []}, RejectionCode.UNKNOWN_ETATDOSRSA),
        ({"persons": [person(subject_to_duties="2")]}, RejectionCode.UNKNOWN_TOPPERSDRODEVORSA),
        ({"persons": [person(subject_to_duties="TRUE")]}, RejectionCode.UNKNOWN_TOPPERSDRODEVORSA),
        ({"right_states": ["4"], "suspension_reasons": ["999"]}, RejectionCode.FIELD_TOO_LONG),
        ({"right_states": ["5"], "closure_reason": "FOOD", "closure_date": "2024-01-31"}, RejectionCode.FIELD_TOO_LONG),
        ({"matricule": "1" * 16}, RejectionCode.FIELD_TOO_LONG),
        ({"persons": [person(last_name="X" * 51)]}, RejectionCode.FIELD_TOO_LONG),
        ({"no_fixed_abode": "yes"}, RejectionCode.UNKNOWN_TOPSANSDOMFIXE),
        ({"no_fixed_abode": "Y"}, RejectionCode.UNKNOWN_TOPSANSDOMFIXE),
        ({"persons": [person(birth_date="1985-02-30")]}, RejectionCode.BAD_DATE),
        ({"persons": [person(birth_date="12/05/1985")]}, RejectionCode.BAD_DATE),
        ({"right_states": ["5"], "closure_reason": "ECH"}, RejectionCode.BAD_DATE),  # closed without DTCLORSA
        ({"suspension_date": "2024-13-01"}, RejectionCode.BAD_DATE),
        ({"persons": []}, RejectionCode.NO_PERSON),
        ({"persons": [person(), person(role="CJT")]}, RejectionCode.DUPLICATE_PERSON),
        ({"persons": [person(last_name="LEF\ufffdVRE")]}, RejectionCode.WRONG_ENCODING),
        ({"persons": [person(first_name="JÃ©rÃ´me")]}, RejectionCode.WRONG_ENCODING),
    ],
)
def test_each_rule_rejects_with_its_code(overrides, expected):
    assert codes(household(**overrides)) == [expected]


def test_without_montant_calcul_the_person_is_valid_and_subject_to_duties_unknown():
    result, issues = validate_household(household(persons=[person(subject_to_duties=None),
                                                           person(nir=CJT, subject_to_duties="1")]))
    assert issues == [] and [p.subject_to_duties for p in result.persons] == [None, True]
    assert result.subject_count == 1 and result.subject_unknown_count == 1


@pytest.mark.parametrize(("literal", "value"), [("1", True), ("0", False), ("true", True), ("false", False),
                                                (" true ", True)])
def test_booleans_are_xsd_booleans(literal, value):
    result, issues = validate_household(household(no_fixed_abode=literal, persons=[person(subject_to_duties=literal)]))
    assert issues == [] and result.no_fixed_abode is value and result.persons[0].subject_to_duties is value


def test_unknown_suspension_and_closure_codes_are_kept_and_warned_never_rejected():
    result, issues = validate_household(household(right_states=["4"], suspension_reasons=["19", "06", "78"]))
    assert issues == [] and result.suspension_reasons == ("19", "06", "78")
    assert result.warnings == ("unknown_motisusversrsa: MOTISUSVERSRSA code '19', '78' not in the known list "
                               "(kept as read)",)
    closed, issues = validate_household(household(right_states=["5"], closure_reason="CCG", closure_date="2024-01-31"))
    assert issues == [] and closed.closure_reason == "CCG" and closed.warnings[0].startswith("unknown_moticlorsa")


def test_case_dates_are_bounded_by_the_plausible_window_around_the_reference():
    raw = household(right_states=["5"], closure_reason="ECH", closure_date="2008-12-31")
    assert codes(raw) == []  # no reference: only the calendar check
    _, issues = validate_household(raw, reference=date(2024, 3, 15))
    assert [i.code for i in issues] == [RejectionCode.BAD_DATE] and "2009-06-01" in issues[0].detail
    _, issues = validate_household(household(suspension_date="2024-06-01"), reference=date(2024, 3, 15))
    assert [i.code for i in issues] == [RejectionCode.BAD_DATE] and "after" in issues[0].detail


def test_every_problem_of_a_record_is_reported():
    found = codes(household(matricule="", right_states=["X"], persons=[person(nir="123", birth_date="bad")]))
    assert found == [RejectionCode.MISSING_MATRICULE, RejectionCode.UNKNOWN_ETATDOSRSA, RejectionCode.BAD_NIR,
                     RejectionCode.BAD_DATE]


def test_reasons_never_echo_personal_data():
    bad_key = DEM[:13] + f"{(int(DEM[13:]) % 97) + 1:02d}"
    raw = household(matricule="7777777", persons=[
        person(nir=bad_key, last_name="DURAND", birth_date="1985-02-30"),
        person(nir=CJT, subject_to_duties="Hélène"),  # a shifted column puts a name in a code field
    ])
    record = judge(raw, 1, "h", DuplicateGuard())
    text = record.reason
    for secret in (bad_key, bad_key[:13], "DURAND", "1985-02-30", "7777777", "Hélène", CJT):
        assert secret not in text
    assert "person 1" in text and "person 2" in text


def test_the_right_state_follows_the_official_detection_order():
    result, _ = validate_household(household(right_states=["2", "5", "3"], closure_date="2024-01-31"))
    assert result.right_state is RightState.CLOSED  # order 0, 1, 5, 3, 4, 2, 6


def test_duplicates_point_at_the_first_position():
    guard = DuplicateGuard()
    first = judge(household(), 1, "a", guard)
    second = judge(household(persons=[person(nir=CJT)]), 5, "b", guard)
    assert first.accepted and not second.accepted
    assert second.reason_codes == (RejectionCode.DUPLICATE_HOUSEHOLD,)
    assert "position 1" in second.reason


def test_header_needs_a_creation_date():
    header, issues = validate_header("2024-03-15", "Q")
    assert header == FluxHeader(creation_date=date(2024, 3, 15), flow_type="Q") and issues == []
    assert [i.code for i in validate_header(None, "Q")[1]] == [RejectionCode.BAD_DATE]
    assert [i.code for i in validate_header("15/03/2024", "Q")[1]] == [RejectionCode.BAD_DATE]


def test_strict_iso_dates():
    assert parse_iso_date(" 2024-02-29 ") == date(2024, 2, 29)
    assert parse_iso_date("") is None
    for bad in ("2023-02-29", "20240229", "2024-2-9", "1850-01-01"):
        with pytest.raises(ValueError):
            parse_iso_date(bad)


def test_person_repr_hides_identity():
    result, _ = validate_household(household())
    text = repr(result)
    assert DEM not in text and "LEFÈVRE" not in text and "1234567" not in text


# ---------------------------------------------------------------- observations and events

HEADER = FluxHeader(creation_date=date(2024, 3, 15), flow_type="Q")


def observe(day: date, state: str = "2", subject: str = "1", **overrides) -> FlowObservation:
    raw = household(right_states=[state], persons=[person(subject_to_duties=subject)], **overrides)
    result, issues = validate_household(raw)
    assert not issues, issues
    [observation] = observations_for_household(result, FluxHeader(creation_date=day, flow_type="Q"), secret=SECRET)
    return observation


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_observations_carry_an_opaque_id_and_no_identity():
    result, _ = validate_household(household(persons=[person(), person(nir=None, subject_to_duties="0")]))
    [obs] = observations_for_household(result, HEADER, secret=SECRET)  # the person without NIR is not followed
    dumped = obs.model_dump_json()
    assert DEM not in dumped and DEM[:13] not in dumped and "LEFÈVRE" not in dumped
    assert obs.flow_date == date(2024, 3, 15) and obs.subject_to_duties
    again = observations_for_household(result, HEADER, secret=SECRET)[0]
    assert again.observation_id == obs.observation_id  # same content, same id, whatever the file
    other_key = observations_for_household(result, HEADER, secret=b"other")[0]
    assert other_key.person_id != obs.person_id


def test_a_csv_entry_date_wins_over_the_header():
    result, _ = validate_household(household(entry_date="2024-03-10"))
    [obs] = observations_for_household(result, HEADER, secret=SECRET)
    assert obs.flow_date == date(2024, 3, 10)


def test_new_entrant_then_nothing_while_unchanged():
    state, events = derive_events(None, observe(date(2024, 3, 1)))
    assert kinds(events) == ["new_entrant"]
    assert isinstance(events[0], NewEntrant) and events[0].entry_date == date(2024, 3, 1)
    assert starts_pathway(observe(date(2024, 3, 1)))
    state, events = derive_events(state, observe(date(2024, 3, 2)))
    assert events == [] and state.entry_date == date(2024, 3, 1)


def test_unknown_person_with_closed_right_starts_nothing():
    obs = observe(date(2024, 3, 1), state="5", closure_reason="ECH", closure_date="2024-02-29")
    assert derive_events(None, obs) == (None, [])
    assert not starts_pathway(obs)
    assert not starts_pathway(observe(date(2024, 3, 1), subject="0"))


def test_subject_flips_and_the_g_b8_confirmation():
    state, _ = derive_events(None, observe(date(2024, 3, 1)))
    state, events = derive_events(state, observe(date(2024, 3, 2), subject="0"))
    assert kinds(events) == ["no_longer_subject"] and isinstance(events[0], NoLongerSubject)
    state, events = derive_events(state, observe(date(2024, 3, 3), subject="0"))
    assert kinds(events) == ["not_subject_confirmed"]
    assert isinstance(events[0], FlowNotSubjectConfirmed) and events[0].since == date(2024, 3, 2) and events[0].flows == 2
    state, events = derive_events(state, observe(date(2024, 3, 4), subject="0"))
    assert events == []  # confirmed once
    state, events = derive_events(state, observe(date(2024, 3, 5)))
    assert kinds(events) == ["became_subject"] and isinstance(events[0], BecameSubject)
    assert state.not_subject_since is None


def test_suspension_and_resumption():
    state, _ = derive_events(None, observe(date(2024, 3, 1)))
    state, events = derive_events(state, observe(date(2024, 3, 2), state="4", suspension_reasons=["06"],
                                                 suspension_date="2024-03-01"))
    assert kinds(events) == ["payment_suspended"]
    assert isinstance(events[0], FlowPaymentSuspended) and events[0].reasons == ("06",) and not events[0].right_questioned
    state, events = derive_events(state, observe(date(2024, 3, 3), state="3", suspension_reasons=["06"]))
    assert events == []  # still suspended for the same reasons
    state, events = derive_events(state, observe(date(2024, 3, 4), state="3", suspension_reasons=["CV"]))
    assert kinds(events) == ["payment_suspended"] and events[0].right_questioned
    state, events = derive_events(state, observe(date(2024, 3, 5)))
    assert kinds(events) == ["payment_resumed"] and isinstance(events[0], FlowPaymentResumed)


def test_closure_is_left_rsa_with_the_closure_date_then_reopening():
    state, _ = derive_events(None, observe(date(2024, 3, 1)))
    state, events = derive_events(state, observe(date(2024, 4, 2), state="5", closure_reason="PCG",
                                                 closure_date="2024-03-31"))
    [left] = events
    assert isinstance(left, FlowLeftRsa) and left.kind == "left_rsa"
    assert left.end_of_payment_date == date(2024, 3, 31) and left.reason == "PCG" and not left.earlier_month
    state, events = derive_events(state, observe(date(2024, 4, 3), state="5", closure_reason="PCG",
                                                 closure_date="2024-03-31"))
    assert events == []
    state, events = derive_events(state, observe(date(2024, 5, 2), state="2"))
    assert kinds(events) == ["rsa_reopened"] and isinstance(events[0], RsaReopened)
    assert state.entry_date == date(2024, 3, 1)


def test_closure_on_an_earlier_month_and_refusal():
    state, _ = derive_events(None, observe(date(2024, 3, 1), state="0"))
    _, events = derive_events(state, observe(date(2024, 3, 20), state="1"))
    assert kinds(events) == ["left_rsa"] and events[0].reason == "REFUS"
    assert events[0].end_of_payment_date == date(2024, 3, 20)
    _, events = derive_events(state, observe(date(2024, 3, 20), state="6", closure_reason="ECH",
                                             closure_date="2024-01-31"))
    assert events[0].earlier_month and events[0].end_of_payment_date == date(2024, 1, 31)


def test_late_and_duplicate_files_change_nothing():
    state, _ = derive_events(None, observe(date(2024, 3, 1)))
    state, _ = derive_events(state, observe(date(2024, 3, 5), subject="0"))
    late = observe(date(2024, 3, 3))  # an older file arriving after a newer one
    assert derive_events(state, late) == (state, [])
    same = observe(date(2024, 3, 5), subject="0")  # the same file sent twice
    assert derive_events(state, same) == (state, [])


def test_event_ids_are_stable_and_distinct():
    obs = observe(date(2024, 3, 1), state="4", suspension_reasons=["06"])
    _, first = derive_events(None, obs)
    _, again = derive_events(None, obs)
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert kinds(first) == ["new_entrant", "payment_suspended"]
    assert len({e.event_id for e in first}) == 2


def test_events_round_trip_through_the_discriminated_union():
    from pydantic import TypeAdapter

    from domain.flux_events import FlowEvent

    state, _ = derive_events(None, observe(date(2024, 3, 1)))
    _, events = derive_events(state, observe(date(2024, 4, 2), state="5", closure_reason="PCG",
                                             closure_date="2024-03-31"))
    adapter = TypeAdapter(list[FlowEvent])
    assert adapter.validate_json(adapter.dump_json(events)) == events


def test_unknown_status_starts_nothing_until_a_flow_says_1_and_never_erases_a_known_status():
    unknown = observe(date(2024, 3, 1), subject=None)
    assert unknown.subject_to_duties is None and not starts_pathway(unknown)
    assert derive_events(None, unknown) == (None, [])  # never seen, status unknown: no state, no pathway
    state, events = derive_events(None, observe(date(2024, 3, 2)))
    assert kinds(events) == ["new_entrant"] and events[0].entry_date == date(2024, 3, 2)
    later, events = derive_events(state, observe(date(2024, 3, 3), subject=None))
    assert events == [] and later.subject_to_duties is True  # unknown keeps "soumis": no NoLongerSubject
    closed, events = derive_events(later, observe(date(2024, 3, 4), state="5", subject=None,
                                                  closure_reason="PCG", closure_date="2024-03-01"))
    assert kinds(events) == ["left_rsa"]  # the right's changes still reach the pathway
