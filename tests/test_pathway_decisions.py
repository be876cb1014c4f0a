"""People's commands on a pathway (pure rules): a former signal's rule is checked on a copy, changing nothing;
an applied command is logged with its sender, bounded, and summarised with ids only."""

from __future__ import annotations

import pytest

from domain.actor import Actor
from domain.pathway import (
    AppointmentEvent, AppointmentKind, EpDecision, EpOutcome, OrientationDecision, OrientationTarget, PathwayRuleError,
    Stage,
)
from domain.pathway_decisions import MAX_DECISION_LOG, check_by_trial, last_decision_summary, record_decision
from domain.pathway_rules import Pathway
from tests.test_pathway_rules import D0, new_pathway

AGENT = Actor(service="referent-tool", person="agent:7f3a9c01")


def test_a_refused_former_signal_raises_its_rule_and_changes_nothing():
    p = new_pathway()
    before = p.s.model_dump()
    missed = AppointmentEvent(event_id="m1", kind=AppointmentKind.MISSED, appointment_date=D0, actor=AGENT)
    with pytest.raises(PathwayRuleError) as refused:
        check_by_trial(p, Pathway.on_appointment, missed, D0)
    assert refused.value.rule == "STAGE_NOT_ALLOWED"
    with pytest.raises(PathwayRuleError):
        check_by_trial(p, Pathway.on_ep_decision, EpDecision(event_id="e", outcome=EpOutcome.EXIT, decided_on=D0), D0)
    assert p.s.model_dump() == before


def test_an_accepted_former_signal_passes_its_trial_without_being_applied():
    p = new_pathway()
    p.orient(OrientationDecision(event_id="o", target=OrientationTarget.PLATFORM, structure_id="PLAT-1",
                                 notified_on=D0), D0)
    before = p.s.model_dump()
    check_by_trial(p, Pathway.on_appointment,
                   AppointmentEvent(event_id="s1", kind=AppointmentKind.SCHEDULED, appointment_date=D0), D0)
    assert p.s.model_dump() == before and p.s.stage is Stage.ORIENTED_TO_PLATFORM


def test_applied_commands_are_logged_with_their_sender_bounded_and_summarised():
    p = new_pathway()
    seq = p.s.seq
    record = record_decision(p, "orient", AppointmentEvent(event_id="x", kind=AppointmentKind.HELD,
                                                           appointment_date=D0, actor=AGENT), D0)
    assert (record.command, record.actor, record.service, record.on, record.seq) == (
        "orient", "agent:7f3a9c01", "referent-tool", D0, seq + 1)
    assert p.s.outbox.decision_records == [record] and p.view().decisions == [record]
    assert last_decision_summary(p) == f" · last: orient by agent:7f3a9c01 via referent-tool on {D0.isoformat()}"
    anonymous = AppointmentEvent(event_id="y", kind=AppointmentKind.HELD, appointment_date=D0)
    for n in range(MAX_DECISION_LOG + 5):
        record_decision(p, f"c{n}", anonymous, D0)
    assert len(p.s.decision_log) == MAX_DECISION_LOG and p.s.decision_log[-1].command == f"c{MAX_DECISION_LOG + 4}"
    assert last_decision_summary(p) == ""  # the last one came without its sender
