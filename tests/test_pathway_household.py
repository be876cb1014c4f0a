"""G-B20: one pathway per person, linked by household — the persons of one CAF/MSA file (matricule) know each
other's pathway ids (opaque ids only), and a spouse's entry or exit shows on the other's case."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from domain import flux_events as fe
from domain.rules import rule_set_for
from domain.flux import FluxHeader, Household, Person, RightState
from domain.flux_import import household_signals
from domain.identity import person_id
from domain.pathway import FlowRecord, HouseholdChange, HouseholdMemberChanged, PathwayRuleError
from domain.pathway_constants import pathway_workflow_id
from domain.pathway_rules import Pathway
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    build_worker,
    enc_client,
    flux_xml,
    household_xml,
    import_input,
    secret_for,
    terminate_pathways,
)
from tests.test_flux_import import _view_until, make_nir
from workflows.flux_import import start_flux_import

SECRET = b"household-test-secret"
D1 = date(2025, 3, 3)


def observations(day: date, state: RightState, nirs: list[str]) -> list[fe.FlowObservation]:
    household = Household(matricule="7654321", right_state=state, closure_date=day if state is RightState.CLOSED else None,
                          closure_reason="ECH" if state is RightState.CLOSED else None,
                          persons=tuple(Person(rank=i + 1, nir=nir, role="DEM" if i == 0 else "CJT", subject_to_duties=True)
                                        for i, nir in enumerate(nirs)))
    return fe.observations_for_household(household, FluxHeader(creation_date=day), secret=SECRET)


def derive(obs: list[fe.FlowObservation], states: dict) -> dict[str, list]:
    events = {}
    for o in obs:
        states[o.person_id], events[o.person_id] = fe.derive_events(states.get(o.person_id), o, rule_set_for(o.flow_date))
    return events


def test_G_B20_a_couple_entering_together_learn_each_others_pathway_ids():
    rng = random.Random(1)
    a, b = make_nir(rng), make_nir(rng)
    obs = observations(D1, RightState.OPEN_PAYABLE, [a, b])
    events = derive(obs, {})
    pa, pb = (o.person_id for o in obs)
    signals = household_signals(obs, events, {pa: True, pb: True})
    told = {(s.person_id, s.message.member_pathway_id, s.message.change, s.message.role) for s in signals}
    assert told == {(pa, pathway_workflow_id(pb), HouseholdChange.ENTERED, "CJT"),
                    (pb, pathway_workflow_id(pa), HouseholdChange.ENTERED, "DEM")}
    assert all(a not in s.model_dump_json() and b not in s.model_dump_json() for s in signals)  # no NIR travels
    assert len({s.event_id for s in signals}) == 2


def test_G_B20_a_spouse_joining_later_is_entered_on_the_case_and_sees_who_was_there():
    rng = random.Random(2)
    a, b = make_nir(rng), make_nir(rng)
    states: dict = {}
    derive(observations(D1, RightState.OPEN_PAYABLE, [a]), states)
    later = observations(D1 + timedelta(days=30), RightState.OPEN_PAYABLE, [a, b])
    events = derive(later, states)
    pa, pb = (o.person_id for o in later)
    signals = household_signals(later, events, {pa: True, pb: True})
    assert {(s.person_id, s.message.change) for s in signals} == {(pa, HouseholdChange.ENTERED),
                                                                   (pb, HouseholdChange.PRESENT)}
    assert household_signals(later, events, {pa: True}) == [s for s in signals if s.person_id == pa]  # no pathway


def test_G_B20_the_household_leaving_tells_each_spouse_of_the_others_exit():
    rng = random.Random(3)
    a, b = make_nir(rng), make_nir(rng)
    states: dict = {}
    derive(observations(D1, RightState.OPEN_PAYABLE, [a, b]), states)
    closed = observations(D1 + timedelta(days=40), RightState.CLOSED, [a, b])
    events = derive(closed, states)
    signals = household_signals(closed, events, {o.person_id: True for o in closed})
    assert {s.message.change for s in signals} == {HouseholdChange.LEFT} and len(signals) == 2


def test_G_B20_the_case_keeps_each_member_once_and_notes_entries_and_exits():
    p = Pathway.new("a" * 32, "ARRAGEOIS", D1)
    p.on_flow_record(FlowRecord(event_id="f", transmission_date=D1, subject_to_duties=True), D1)
    spouse = pathway_workflow_id("b" * 32)
    p.on_household_member(HouseholdMemberChanged(event_id="h1", member_pathway_id=spouse, change=HouseholdChange.ENTERED,
                                                 on=D1, role="CJT"), D1)
    later = D1 + timedelta(days=40)
    p.on_household_member(HouseholdMemberChanged(event_id="h2", member_pathway_id=spouse, change=HouseholdChange.LEFT,
                                                 on=later), later)
    p.on_household_member(HouseholdMemberChanged(event_id="h3", member_pathway_id=spouse, change=HouseholdChange.ENTERED,
                                                 on=D1 - timedelta(days=1)), later)  # older: ignored
    (member,) = p.view().household
    assert (member.pathway_id, member.status, member.since, member.role) == (spouse, HouseholdChange.LEFT, later, "CJT")
    assert [c.cause for c in p.s.stage_history][-2:] == ["HOUSEHOLD_MEMBER_ENTERED", "HOUSEHOLD_MEMBER_LEFT"]
    with pytest.raises(PathwayRuleError):
        p.on_household_member(HouseholdMemberChanged(event_id="h4", member_pathway_id=p.workflow_id,
                                                     change=HouseholdChange.ENTERED, on=D1), D1)


async def test_G_B20_flow_import_links_the_spouses_pathways(enc_client, db_pool, task_queue, unique_id, tmp_path):
    secret = secret_for(unique_id)
    rng = random.Random(unique_id)
    nir_a, nir_b = make_nir(rng), make_nir(rng)
    pid_a, pid_b = person_id(nir_a, secret), person_id(nir_b, secret)
    matricule = str(rng.randrange(10**6, 10**7))
    d1 = date.today() - timedelta(days=3)
    files = [flux_xml(d1, [household_xml(matricule, "2", [(nir_a, True)])]),
             flux_xml(d1 + timedelta(days=1), [household_xml(matricule, "2", [(nir_a, True), (nir_b, True)])])]
    try:
        async with build_worker(enc_client, task_queue, db_pool, secret):
            for n, text in enumerate(files):
                path = tmp_path / f"flux-{n}.xml"
                path.write_text(text, encoding="utf-8")
                await (await start_flux_import(enc_client, import_input(path), task_queue=task_queue)).result()
            a_view = await _view_until(enc_client, pid_a, lambda v: v.household)
            b_view = await _view_until(enc_client, pid_b, lambda v: v.household)
        assert [(m.pathway_id, m.status, m.role) for m in a_view.household] == [
            (pathway_workflow_id(pid_b), HouseholdChange.ENTERED, "CJT")]
        assert [(m.pathway_id, m.status, m.role) for m in b_view.household] == [
            (pathway_workflow_id(pid_a), HouseholdChange.PRESENT, "DEM")]
        assert "HOUSEHOLD_MEMBER_ENTERED" in [c.cause for c in a_view.stage_history]
    finally:
        await terminate_pathways(enc_client, [pid_a, pid_b])
