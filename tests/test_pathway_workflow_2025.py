"""The 2023 and 2025 rule sets on running pathways (issue 18): time-skipping server, real worker, real durations."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError

from domain.deadlines import add_months
from domain.pathway import (
    BilanDecision,
    CerAction,
    CerType,
    CompleteBilan,
    DeadlineKind,
    EpReferralConfirmation,
    HouseholdChange,
    HouseholdMemberChanged,
    NonComplianceKind,
    NonComplianceReport,
    OrientationDecision,
    OrientationTarget,
    SignCer,
    Stage,
)
from domain.plein_emploi import (
    DecideSanction2025,
    FailureKind,
    FranceTravailRegistered,
    HoursReason,
    Remobilised,
    SignContratEngagement,
    SwitchRuleSet,
)
from domain.rules import RULESET_2025
from pathway_harness import Harness, running_pathway
from workflows import search_attributes as sa
from workflows.pathway import BeneficiaryPathway

BEFORE_2025 = date(2024, 12, 2)  # an entry date under the 2023 rules


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


def direct(day: date, event_id: str = "orient-1") -> OrientationDecision:
    return OrientationDecision(event_id=event_id, target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                               notified_on=day, bypass_reason="suivi déjà engagé")


def acts(day: date) -> list[CerAction]:
    return [CerAction(start=day, end=day + timedelta(days=60), professional_insertion=i == 0) for i in range(3)]


def cer(day: date, cer_id: str = "cer-1") -> SignCer:
    return SignCer(event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL, start=day,
                   end=add_months(day, 6), signed_on=day, actions=acts(day))


def contrat(day: date, cer_id: str = "ce-1", hours: int = 15, reason: HoursReason | None = None) -> SignContratEngagement:
    return SignContratEngagement(event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL, start=day,
                                 end=add_months(day, 6), signed_on=day, actions=acts(day), weekly_hours=hours,
                                 hours_reason=reason)


async def refused(h: Harness, method, msg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await h.update(method, msg)
    return err.value.cause.type


async def tasks(h: Harness, kind: str, workflow_id: str | None = None) -> list:
    return await h.pool.fetch("SELECT assignee, details FROM human_tasks WHERE workflow_id = $1 AND kind = $2 "
                              "ORDER BY created_at", workflow_id or h.handle.id, kind)


async def rule_set_attribute(h: Harness, wanted: str) -> None:
    """Wait for the ``RuleSet`` search attribute, read raw (the SDK cannot decode the test server's unset
    ``NextDeadline`` of a case whose orientation clock ran out before it started)."""
    request = DescribeWorkflowExecutionRequest(namespace=h.env.client.namespace,
                                               execution=WorkflowExecution(workflow_id=h.handle.id))
    value = None
    for _ in range(300):
        raw = await h.env.client.workflow_service.describe_workflow_execution(request)
        payload = raw.workflow_execution_info.search_attributes.indexed_fields.get(sa.RULE_SET.name)
        value = json.loads(payload.data) if payload is not None else None
        if value == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"RuleSet is {value!r}, not {wanted!r}")


async def at_ep(h: Harness, day: date, n: str) -> None:
    await h.handle.signal(BeneficiaryPathway.non_compliance,
                          NonComplianceReport(event_id=f"nc-{n}", kind=NonComplianceKind.NON_ADHESION, reported_on=day))
    await h.update(BeneficiaryPathway.confirm_ep_referral,
                   EpReferralConfirmation(event_id=f"cf-{n}", confirmed=True, decided_on=day))
    await h.view(lambda v: v.stage is Stage.NON_COMPLIANCE_EP)


async def with_contrat_engagement(h: Harness) -> date:
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.orient, direct(d0))
    await h.update(BeneficiaryPathway.sign_contrat_engagement, contrat(d0))
    await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    return d0


async def with_2023_cer(h: Harness) -> date:
    """A case entered before 2025 (the 2023 rules) with its CER signed today."""
    d0 = await h.morning()
    await h.start(transmission_date=BEFORE_2025)
    await h.update(BeneficiaryPathway.orient, direct(d0))
    await h.update(BeneficiaryPathway.sign_cer, cer(d0))
    await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    return d0


async def test_a_2023_case_and_a_2025_case_started_the_same_day_follow_their_own_rules(h):
    d0 = await h.morning()
    old = Harness(h.env, h.task_queue, h.monjob, h.pool)
    try:
        await old.start(transmission_date=BEFORE_2025)
        await h.start()
        assert (await old.view()).rule_set_version == "2023.1"
        assert (await h.view()).rule_set_version == RULESET_2025.version
        await rule_set_attribute(old, "2023.1")
        await rule_set_attribute(h, "2025.1")
        for case in (old, h):
            await case.update(BeneficiaryPathway.orient, direct(d0))
        # the contract of each rule set: a CER for the 2023 case, a contrat d'engagement for the 2025 case
        assert await refused(old, BeneficiaryPathway.sign_contrat_engagement, contrat(d0)) \
            == "CONTRAT_ENGAGEMENT_NOT_IN_RULE_SET"
        await old.update(BeneficiaryPathway.sign_cer, cer(d0))
        assert await refused(h, BeneficiaryPathway.sign_cer, cer(d0)) == "CER_REPLACED_BY_CONTRAT_ENGAGEMENT"
        assert await refused(h, BeneficiaryPathway.sign_contrat_engagement, contrat(d0, hours=10)) \
            == "CONTRAT_ENGAGEMENT_HOURS_REASON"
        await h.update(BeneficiaryPathway.sign_contrat_engagement,
                       contrat(d0, hours=10, reason=HoursReason.ISOLATED_PARENT_NO_CHILDCARE))
        assert (await old.view(lambda v: v.stage is Stage.CER_ACTIVE)).contract_kind.value == "CER"
        assert (await h.view(lambda v: v.stage is Stage.CER_ACTIVE)).contract_kind.value == "CONTRAT_ENGAGEMENT"
        await h.eventually(lambda: sum(1 for k in h.monjob.received if ":CER:" in k) == 2)
        pushed = {key.split(":CER:")[0]: item.data for key, item in h.monjob.received.items() if ":CER:" in key}
        assert pushed[old.handle.id].contract_kind.value == "CER" \
            and "weekly_hours" not in pushed[old.handle.id].model_fields_set
        assert (pushed[h.handle.id].contract_kind.value, pushed[h.handle.id].weekly_hours) == ("CONTRAT_ENGAGEMENT", 10)
        await h.idle()
        recorded = {r["pathway_id"]: (r["contract_kind"], r["weekly_hours"]) for r in await h.pool.fetch(
            "SELECT pathway_id, contract_kind, weekly_hours FROM pathway_cers WHERE pathway_id = ANY($1::text[])",
            [old.handle.id, h.handle.id])}
        assert recorded == {old.handle.id: ("CER", None), h.handle.id: ("CONTRAT_ENGAGEMENT", 10)}
        # France Travail registration is awaited for the 2025 case only: its absence after 30 days is a task
        await h.sleep_until(d0 + timedelta(days=RULESET_2025.france_travail_registration_days + 1))
        await h.idle()
        [task] = await tasks(h, "FRANCE_TRAVAIL_REGISTRATION")
        assert task["assignee"] == f"SLAI:{h.territory}"
        assert await tasks(h, "FRANCE_TRAVAIL_REGISTRATION", old.handle.id) == []
        assert DeadlineKind.FRANCE_TRAVAIL_REGISTRATION not in {d.kind for d in (await old.view()).deadlines}
        today = await h.today()
        await h.handle.signal(BeneficiaryPathway.france_travail_registered,
                              FranceTravailRegistered(event_id="ft-1", registered_on=today))
        view = await h.view(lambda v: v.plein_emploi.france_travail_registered_on is not None)
        assert view.plein_emploi.france_travail_registered_on == today
        await h.idle()
        closed = await h.pool.fetchrow("SELECT status, closure_reason AS reason FROM human_tasks "
                                       "WHERE workflow_id = $1 AND kind = $2", h.handle.id, "FRANCE_TRAVAIL_REGISTRATION")
        assert (closed["status"], closed["reason"]) == ("DONE", "FRANCE_TRAVAIL_REGISTERED")
    finally:
        await old.terminate()


async def test_a_2023_case_switches_to_the_2025_rules_at_its_bilan(h):
    d0 = await with_2023_cer(h)
    early = SwitchRuleSet(event_id="switch-0", switched_on=d0, to_version="2025.1")
    assert await refused(h, BeneficiaryPathway.switch_rule_set, early) == "STAGE_NOT_ALLOWED"
    await h.sleep_until(add_months(d0, 6) + timedelta(days=1))
    await h.view(lambda v: v.stage is Stage.BILAN)
    day = await h.today()
    await h.update(BeneficiaryPathway.switch_rule_set, SwitchRuleSet(event_id="switch-1", switched_on=day,
                                                                     to_version="2025.1"))
    view = await h.view(lambda v: v.rule_set_version == "2025.1")
    [switch] = view.plein_emploi.switches
    assert (switch.from_version, switch.to_version, switch.switched_on) == ("2023.1", "2025.1", day)
    assert any(c.cause == "RULE_SET_SWITCHED:2023.1->2025.1" for c in view.stage_history)
    await rule_set_attribute(h, "2025.1")
    await h.update(BeneficiaryPathway.complete_bilan,
                   CompleteBilan(event_id="bilan-1", completed_on=day, decision=BilanDecision.CONTINUE))
    await h.view(lambda v: v.stage is Stage.CER_DRAFTING and v.run >= 2)
    # the next contract is a contrat d'engagement; the continued run (continue-as-new) kept the switch
    assert await refused(h, BeneficiaryPathway.sign_contrat_engagement, contrat(day, "ce-2", hours=12)) \
        == "CONTRAT_ENGAGEMENT_HOURS_REASON"
    await h.update(BeneficiaryPathway.sign_contrat_engagement, contrat(day, "ce-2"))
    view = await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    assert view.contract_kind.value == "CONTRAT_ENGAGEMENT" and view.rule_set_version == "2025.1"
    assert len(view.plein_emploi.switches) == 1
    assert await h.pool.fetchval("SELECT rule_set FROM pathways WHERE pathway_id = $1", h.handle.id) == "2025.1"


async def test_suspension_remobilisation_with_repayment_then_without(h):
    d0 = await with_contrat_engagement(h)
    await at_ep(h, d0, "1")
    first = DecideSanction2025(event_id="sanction-1", decided_on=d0, failure=FailureKind.FIRST, share_percent=100,
                               months=2)
    assert await refused(h, BeneficiaryPathway.decide_sanction_2025, first.model_copy(update={"months": 3})) \
        == "SANCTION_2025_MONTHS"
    await h.update(BeneficiaryPathway.decide_sanction_2025, first)
    view = await h.view(lambda v: v.plein_emploi.sanctions)
    assert view.stage is Stage.CER_ACTIVE
    sid = view.plein_emploi.sanctions[0].sanction_id
    await h.sleep_until(d0 + timedelta(days=20))
    back = await h.today()
    await h.update(BeneficiaryPathway.remobilised, Remobilised(event_id="remob-1", sanction_id=sid, decided_on=back,
                                                               repayment=True))
    await at_ep(h, back, "2")
    repeated = DecideSanction2025(event_id="sanction-2", decided_on=back, failure=FailureKind.REPEATED,
                                  share_percent=60, months=4)
    await h.update(BeneficiaryPathway.decide_sanction_2025, repeated)
    view = await h.view(lambda v: len(v.plein_emploi.sanctions) == 2)
    second = view.plein_emploi.sanctions[1]
    await h.update(BeneficiaryPathway.remobilised, Remobilised(event_id="remob-2", sanction_id=second.sanction_id,
                                                               decided_on=back, repayment=False))
    view = await h.view(lambda v: v.plein_emploi.sanctions[1].repayment is not None)
    assert [(s.months, s.share_percent, s.repayment) for s in view.plein_emploi.sanctions] == [(2, 100, True),
                                                                                              (4, 60, False)]
    await h.idle()
    applied = await tasks(h, "APPLY_RSA_SANCTION")
    assert [t["assignee"] for t in applied] == ["SERVICE_RSA", "SERVICE_RSA"]
    transmitted = await tasks(h, "TRANSMIT_REMOBILISATION")
    outcomes = [json.loads(t["details"]) if isinstance(t["details"], str) else t["details"] for t in transmitted]
    assert sorted((d["outcome"], d["months"]) for d in outcomes) == [("REPAYMENT", "2"), ("SUPPRESSION", "4")]
    assert [t["assignee"] for t in transmitted] == ["SERVICE_RSA", "SERVICE_RSA"]


async def test_a_household_of_two_is_capped_at_50_percent(h):
    d0 = await with_contrat_engagement(h)
    await h.handle.signal(BeneficiaryPathway.household_member, HouseholdMemberChanged(
        event_id="hh-1", member_pathway_id="pathway-" + "c" * 32, change=HouseholdChange.PRESENT, on=d0))
    await h.view(lambda v: v.household)
    await at_ep(h, d0, "1")
    over = DecideSanction2025(event_id="sanction-1", decided_on=d0, failure=FailureKind.FIRST, share_percent=80,
                              months=1)
    assert await refused(h, BeneficiaryPathway.decide_sanction_2025, over) == "SANCTION_2025_HOUSEHOLD_CAP"
    await h.update(BeneficiaryPathway.decide_sanction_2025, over.model_copy(update={"share_percent": 50}))
    view = await h.view(lambda v: v.plein_emploi.sanctions)
    assert (view.plein_emploi.sanctions[0].share_percent, view.plein_emploi.sanctions[0].household_size) == (50, 2)


async def test_a_2023_case_refuses_the_suspension_remobilisation(h):
    d0 = await with_2023_cer(h)
    await at_ep(h, d0, "1")
    msg = DecideSanction2025(event_id="s", decided_on=d0, failure=FailureKind.FIRST, share_percent=50, months=1)
    assert await refused(h, BeneficiaryPathway.decide_sanction_2025, msg) == "SANCTION_2025_NOT_IN_RULE_SET"
