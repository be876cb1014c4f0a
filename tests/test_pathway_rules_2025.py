"""The 2025 rules on the pathway aggregate (domain.md §8.3, issue 18), pure: no Temporal, no database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from domain.deadlines import PARIS, add_days, add_months
from domain.pathway import (
    CerAction,
    CerType,
    CompleteBilan,
    BilanDecision,
    DeadlineKind,
    DeadlineStatus,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    FlowRecord,
    HouseholdChange,
    HouseholdMemberChanged,
    NonComplianceKind,
    NonComplianceReport,
    OrientationDecision,
    OrientationTarget,
    PathwayRuleError,
    SignCer,
    Stage,
)
from domain.pathway_rules import Pathway
from domain.plein_emploi import (
    DecideSanction2025,
    FailureKind,
    FranceTravailRegistered,
    HoursReason,
    Remobilised,
    SignContratEngagement,
    SwitchRuleSet,
)
from domain.rules import RULESET_2023, RULESET_2025, ContractKind

D23 = date(2024, 11, 4)  # entered under the 2023 rules
D25 = date(2025, 9, 1)  # entered under the 2025 rules, after the sanction decree (1 June 2025)


def at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=PARIS)


def entered(entry: date, today: date | None = None, **options) -> Pathway:
    today = today or entry
    p = Pathway.new("p" * 32, "ARRAGEOIS", today, **options)
    p.on_flow_record(FlowRecord(event_id="f1", transmission_date=entry, subject_to_duties=True), today)
    return p


def designated(entry: date) -> Pathway:
    p = entered(entry)
    p.orient(OrientationDecision(event_id="o", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="S1",
                                 notified_on=entry, bypass_reason="known referent"), entry)
    return p


def actions(day: date, n: int = 3) -> list[CerAction]:
    return [CerAction(start=day, end=day + timedelta(days=30), professional_insertion=i == 0) for i in range(n)]


def contrat(day: date, hours: int = 15, reason: HoursReason | None = None, cer_id: str = "ce1") -> SignContratEngagement:
    return SignContratEngagement(event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL,
                                 start=day, end=add_months(day, 6), signed_on=day, actions=actions(day),
                                 weekly_hours=hours, hours_reason=reason)


def signed_2025(entry: date = D25, hours: int = 15, reason: HoursReason | None = None) -> Pathway:
    p = designated(entry)
    msg = contrat(entry, hours, reason)
    p.check_sign_contrat_engagement(msg, entry)
    p.sign_contrat_engagement(msg, entry)
    return p


def at_ep(p: Pathway, day: date) -> None:
    p.on_non_compliance(NonComplianceReport(event_id=f"n{day}", kind=NonComplianceKind.NON_ADHESION, reported_on=day), day)
    p.confirm_ep(EpReferralConfirmation(event_id=f"c{day}", confirmed=True, decided_on=day), day)
    assert p.s.stage is Stage.NON_COMPLIANCE_EP


def tasks(p: Pathway, kind: str):
    return [t for t in p.s.outbox.tasks if t.kind == kind]


# ------------------------------------------------------------------ the rule set follows the entry date


def test_two_cases_started_the_same_day_get_the_rules_of_their_entry_dates():
    today = date(2025, 3, 3)
    old, new = entered(date(2024, 12, 30), today), entered(date(2025, 1, 2), today)
    assert old.s.rule_set_version == RULESET_2023.version and old.rules is RULESET_2023
    assert new.s.rule_set_version == RULESET_2025.version and new.rules is RULESET_2025
    assert [d.kind for d in old.s.deadlines] == [DeadlineKind.ORIENTATION]
    assert DeadlineKind.FRANCE_TRAVAIL_REGISTRATION in {d.kind for d in new.s.deadlines}


def test_a_pathway_opened_before_rule_sets_followed_the_entry_date_keeps_the_2023_rules():
    p = entered(D25, rules_by_entry_date=False)
    assert p.s.rule_set_version == RULESET_2023.version
    assert {d.kind for d in p.s.deadlines} == {DeadlineKind.ORIENTATION}


# ------------------------------------------------------------------ France Travail registration


def test_france_travail_registration_absent_after_the_delay_is_a_task_closed_when_it_arrives():
    p = entered(D25)
    p.s.closes_tasks = True  # as the workflow sets it for a new pathway (tasks that close themselves)
    clock = next(d for d in p.s.deadlines if d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION)
    assert clock.due == add_days(D25, RULESET_2025.france_travail_registration_days)
    p.expire(at(add_days(clock.due, -2)))
    assert not tasks(p, "FRANCE_TRAVAIL_REGISTRATION")
    p.expire(at(clock.due))
    [task] = tasks(p, "FRANCE_TRAVAIL_REGISTRATION")
    assert task.assignee == "SLAI:ARRAGEOIS" and task.details["days"] == "30"
    assert clock.status is DeadlineStatus.FIRED
    late = clock.due + timedelta(days=3)
    p.on_france_travail_registered(FranceTravailRegistered(event_id="ft", registered_on=late), late)
    assert p.s.plein_emploi.france_travail_registered_on == late
    assert [(c.task_key, c.reason) for c in p.s.outbox.task_closures] == [(task.task_key, "FRANCE_TRAVAIL_REGISTERED")]
    # registered after the due day: the absence the clock reported was real, it stays FIRED (its task done)
    assert clock.status is DeadlineStatus.FIRED


def test_a_registration_dated_in_time_but_reported_after_the_clock_fired_meets_it_even_in_a_later_run():
    """§8.3: registration is automatic when the RSA is requested; France Travail reporting it late does not make it
    late (as a late fact dated in time withdraws a breach, G-B7)."""
    p = entered(D25)
    p.s.closes_tasks = True
    clock = next(d for d in p.s.deadlines if d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION)
    p.expire(at(clock.due))
    assert clock.status is DeadlineStatus.FIRED
    p.forget_settled_deadlines()  # a continue-as-new: the fired clock is kept while the registration is unknown
    assert clock in p.s.deadlines
    late = clock.due + timedelta(days=10)
    p.on_france_travail_registered(FranceTravailRegistered(event_id="ft", registered_on=D25), late)
    assert (clock.status, clock.closed_on) == (DeadlineStatus.MET, D25)
    assert clock in p.s.outbox.deadlines  # written to the read model with the registration
    assert [c.reason for c in p.s.outbox.task_closures] == ["FRANCE_TRAVAIL_REGISTERED"]
    p.forget_settled_deadlines()
    assert clock not in p.s.deadlines


def test_france_travail_registration_in_time_meets_the_clock_and_no_task():
    p = entered(D25)
    day = D25 + timedelta(days=5)
    p.on_france_travail_registered(FranceTravailRegistered(event_id="ft", registered_on=day), day)
    clock = next(d for d in p.s.deadlines if d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION)
    assert (clock.status, clock.closed_on) == (DeadlineStatus.MET, day)
    p.expire(at(D25 + timedelta(days=60)))
    assert not tasks(p, "FRANCE_TRAVAIL_REGISTRATION")
    with pytest.raises(PathwayRuleError, match="after today"):
        p.on_france_travail_registered(FranceTravailRegistered(event_id="x", registered_on=day + timedelta(days=99)), day)


# ------------------------------------------------------------------ contrat d'engagement


def test_contrat_engagement_records_its_kind_and_hours_and_names_them_to_monjob62():
    p = signed_2025()
    assert p.s.stage is Stage.CER_ACTIVE
    assert (p.s.cer.contract_kind, p.s.cer.weekly_hours) == (ContractKind.CONTRAT_ENGAGEMENT, 15)
    [push] = [x for x in p.s.outbox.pushes if x.kind == "CER"]
    assert push.data.contract_kind == "CONTRAT_ENGAGEMENT" and push.data.weekly_hours == 15
    assert p.view().contract_kind is ContractKind.CONTRAT_ENGAGEMENT


@pytest.mark.parametrize("hours, reason, rule", [
    (10, None, "CONTRAT_ENGAGEMENT_HOURS_REASON"),  # lowered without the situation
    (0, None, "CONTRAT_ENGAGEMENT_HOURS_REASON"),  # waived without the situation
    (20, HoursReason.HEALTH, "CONTRAT_ENGAGEMENT_HOURS_REASON"),  # a reason for hours that are not lowered
])
def test_contrat_engagement_hours_below_15_need_the_persons_situation(hours, reason, rule):
    p = designated(D25)
    with pytest.raises(PathwayRuleError) as err:
        p.check_sign_contrat_engagement(contrat(D25, hours, reason), D25)
    assert err.value.rule == rule


def test_contrat_engagement_hours_waived_for_health_are_accepted():
    p = signed_2025(hours=0, reason=HoursReason.HEALTH)
    assert (p.s.cer.weekly_hours, p.s.cer.hours_reason) == (0, HoursReason.HEALTH)


def test_a_2023_case_refuses_the_contrat_engagement_and_keeps_its_cer():
    p = designated(D23)
    with pytest.raises(PathwayRuleError) as err:
        p.check_sign_contrat_engagement(contrat(D23), D23)
    assert err.value.rule == "CONTRAT_ENGAGEMENT_NOT_IN_RULE_SET"
    msg = SignCer(event_id="s", cer_id="c1", type=CerType.SOCIOPROFESSIONNEL, start=D23, end=add_months(D23, 6),
                  signed_on=D23, actions=actions(D23))
    p.check_sign_cer(msg, D23)
    p.sign_cer(msg, D23)
    assert p.s.cer.contract_kind is ContractKind.CER
    assert [x.data.contract_kind for x in p.s.outbox.pushes if x.kind == "CER"] == ["CER"]


def test_a_2025_case_refuses_the_cer_the_contrat_engagement_replaces_and_names_the_command():
    """§8.3 « Contrat d'engagement replaces the CER (and the PPAE) » for cases entered from 1 January 2025."""
    p = designated(D25)
    cer = SignCer(event_id="s", cer_id="c1", type=CerType.SOCIOPROFESSIONNEL, start=D25, end=add_months(D25, 6),
                  signed_on=D25, actions=actions(D25))
    with pytest.raises(PathwayRuleError) as err:
        p.check_sign_cer(cer, D25)
    assert err.value.rule == "CER_REPLACED_BY_CONTRAT_ENGAGEMENT"
    assert "sign_contrat_engagement" in str(err.value) and "contrat-engagement" in str(err.value)
    assert p.s.stage is Stage.REFERENT_DESIGNATED and p.s.cer is None
    # a workflow replaying a history of before (its ``sign_cer`` accepted) keeps the rule it had
    p._patched = lambda change: change != "cer-replaced-by-contrat-engagement-2025"
    p.check_sign_cer(cer, D25)


def test_the_2023_ep_sanctions_stay_open_to_a_2025_case():
    """§8.3 adds the suspension-remobilisation (in force 1 June 2025) without saying it replaces the EP's outcomes
    (G-B14; G-B22 calls it « new »): an EP reduction is still recorded and sent to the RSA service."""
    p = signed_2025()
    at_ep(p, D25)
    p.on_ep_decision(EpDecision(event_id="ep", outcome=EpOutcome.REDUCTION, decided_on=D25, share_percent=20, months=2),
                     D25)
    assert [s.outcome for s in p.s.sanctions] == [EpOutcome.REDUCTION]
    [task] = tasks(p, "APPLY_RSA_SANCTION")
    assert (task.assignee, task.details["outcome"]) == ("SERVICE_RSA", "REDUCTION")


def test_contrat_engagement_keeps_the_contract_length_of_its_rule_set():
    p = designated(D25)
    too_long = contrat(D25).model_copy(update={"end": add_months(D25, 6) + timedelta(days=1)})
    with pytest.raises(PathwayRuleError, match="6 months"):
        p.check_sign_contrat_engagement(too_long, D25)


# ------------------------------------------------------------------ suspension-remobilisation


def sanction(day: date, share: int, months: int, failure=FailureKind.FIRST) -> DecideSanction2025:
    return DecideSanction2025(event_id=f"s{day}{share}", decided_on=day, failure=failure, share_percent=share,
                              months=months)


def test_first_failure_suspension_is_recorded_and_transmitted_never_applied():
    p = signed_2025()
    day = D25 + timedelta(days=40)
    at_ep(p, day)
    p.check_sanction_2025(msg := sanction(day, 100, 2), day)
    p.decide_sanction_2025(msg, day)
    [recorded] = p.s.plein_emploi.sanctions
    assert (recorded.share_percent, recorded.months, recorded.household_size) == (100, 2, 1)
    [task] = tasks(p, "APPLY_RSA_SANCTION")
    assert task.assignee == "SERVICE_RSA" and task.details["outcome"] == "SUSPENSION_REMOBILISATION"
    assert p.s.stage is Stage.CER_ACTIVE  # back to the contract; rights are the CAF's, untouched here
    p.check_remobilised(back := Remobilised(event_id="r", sanction_id=recorded.sanction_id,
                                            decided_on=day + timedelta(days=20), repayment=True), day + timedelta(days=20))
    p.remobilised(back, day + timedelta(days=20))
    assert (recorded.repayment, recorded.remobilised_on) == (True, day + timedelta(days=20))
    [transmit] = tasks(p, "TRANSMIT_REMOBILISATION")
    assert transmit.details["outcome"] == "REPAYMENT"
    with pytest.raises(PathwayRuleError, match="already settled"):
        p.check_remobilised(back, day + timedelta(days=20))


def test_no_remobilisation_means_the_suspended_amounts_are_lost():
    p = signed_2025()
    day = D25 + timedelta(days=40)
    at_ep(p, day)
    p.decide_sanction_2025(sanction(day, 30, 1), day)
    sid = p.s.plein_emploi.sanctions[0].sanction_id
    p.remobilised(Remobilised(event_id="r", sanction_id=sid, decided_on=day, repayment=False), day)
    assert tasks(p, "TRANSMIT_REMOBILISATION")[0].details["outcome"] == "SUPPRESSION"


@pytest.mark.parametrize("share, months, failure, rule", [
    (29, 1, FailureKind.FIRST, "SANCTION_2025_SHARE"),
    (30, 3, FailureKind.FIRST, "SANCTION_2025_MONTHS"),
    (30, 5, FailureKind.REPEATED, "SANCTION_2025_NOT_REPEATED"),  # no earlier sanction on this case
])
def test_sanction_bounds(share, months, failure, rule):
    p = signed_2025()
    day = D25 + timedelta(days=40)
    at_ep(p, day)
    with pytest.raises(PathwayRuleError) as err:
        p.check_sanction_2025(sanction(day, share, months, failure), day)
    assert err.value.rule == rule


def test_repeated_failure_up_to_four_months():
    p = signed_2025()
    day = D25 + timedelta(days=40)
    at_ep(p, day)
    p.decide_sanction_2025(sanction(day, 50, 2), day)
    later = day + timedelta(days=90)
    at_ep(p, later)
    with pytest.raises(PathwayRuleError, match="1 to 4 months"):
        p.check_sanction_2025(sanction(later, 50, 5, FailureKind.REPEATED), later)
    p.check_sanction_2025(msg := sanction(later, 50, 4, FailureKind.REPEATED), later)
    p.decide_sanction_2025(msg, later)
    assert [s.months for s in p.s.plein_emploi.sanctions] == [2, 4]


def test_household_of_two_is_capped_at_50_percent():
    p = signed_2025()
    p.on_household_member(HouseholdMemberChanged(event_id="h", member_pathway_id="pathway-" + "b" * 32,
                                                 change=HouseholdChange.PRESENT, on=D25), D25)
    day = D25 + timedelta(days=40)
    at_ep(p, day)
    with pytest.raises(PathwayRuleError) as err:
        p.check_sanction_2025(sanction(day, 51, 1), day)
    assert err.value.rule == "SANCTION_2025_HOUSEHOLD_CAP"
    p.check_sanction_2025(msg := sanction(day, 50, 1), day)
    p.decide_sanction_2025(msg, day)
    assert p.s.plein_emploi.sanctions[0].household_size == 2


def test_a_2023_case_refuses_the_suspension_remobilisation_and_before_june_2025_too():
    old = designated(D23)
    with pytest.raises(PathwayRuleError) as err:
        old.check_sanction_2025(sanction(D23, 50, 1), D23)
    assert err.value.rule == "SANCTION_2025_NOT_IN_RULE_SET"
    early = signed_2025(entry=date(2025, 2, 3))
    day = date(2025, 5, 30)
    at_ep(early, day)
    with pytest.raises(PathwayRuleError) as err:
        early.check_sanction_2025(sanction(day, 50, 1), day)
    assert err.value.rule == "SANCTION_2025_NOT_IN_FORCE"


def test_the_sanction_follows_the_ep_referral():
    p = signed_2025()
    with pytest.raises(PathwayRuleError, match="EP referral"):
        p.check_sanction_2025(sanction(D25, 50, 1), D25)


# ------------------------------------------------------------------ switching at the bilan


def at_bilan_2023() -> tuple[Pathway, date]:
    p = designated(D23)
    msg = SignCer(event_id="s", cer_id="c1", type=CerType.SOCIOPROFESSIONNEL, start=D23, end=add_months(D23, 6),
                  signed_on=D23, actions=actions(D23))
    p.sign_cer(msg, D23)
    end = add_months(D23, 6)
    p.expire(at(end + timedelta(days=1)))
    assert p.s.stage is Stage.BILAN
    return p, end + timedelta(days=2)


def test_a_2023_case_switches_to_the_2025_rules_at_its_bilan_only():
    mid = designated(D23)
    with pytest.raises(PathwayRuleError) as err:
        mid.check_switch_rule_set(SwitchRuleSet(event_id="w", switched_on=D23, to_version="2025.1"), D23)
    assert err.value.rule == "STAGE_NOT_ALLOWED"
    p, day = at_bilan_2023()
    for version, rule in (("2099.1", "RULE_SET_UNKNOWN"), ("2023.1", "RULE_SET_NOT_LATER")):
        with pytest.raises(PathwayRuleError) as err:
            p.check_switch_rule_set(SwitchRuleSet(event_id="w", switched_on=day, to_version=version), day)
        assert err.value.rule == rule
    p.check_switch_rule_set(msg := SwitchRuleSet(event_id="w", switched_on=day, to_version="2025.1"), day)
    p.switch_rule_set(msg, day)
    assert p.s.rule_set_version == "2025.1" and p.rules is RULESET_2025
    [switch] = p.s.plein_emploi.switches
    assert (switch.from_version, switch.to_version, switch.switched_on) == ("2023.1", "2025.1", day)
    assert p.s.stage_history[-1].cause == "RULE_SET_SWITCHED:2023.1->2025.1"
    assert DeadlineKind.FRANCE_TRAVAIL_REGISTRATION in {d.kind for d in p.s.deadlines}
    p.complete_bilan(CompleteBilan(event_id="b", completed_on=day, decision=BilanDecision.CONTINUE), day)
    p.check_sign_contrat_engagement(c := contrat(day, cer_id="ce2"), day)
    p.sign_contrat_engagement(c, day)
    assert p.s.cer.contract_kind is ContractKind.CONTRAT_ENGAGEMENT
