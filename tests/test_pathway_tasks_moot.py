"""Tasks the pathway closes when what they ask for happened another way or became moot (time-skipping server, real
worker, real durations): the EP referral at a 2025 sanction, the RSA service's sanction tasks (a flow showing the
sanction applied, the rights ended, kept through a closed case), the former referent's CER escalation at a
reorientation, a France Travail clock met by a registration dated in time but known after it fired (domain.md §8.3,
G-B7, G-B14)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest_asyncio

from domain.deadlines import add_months
from domain.pathway import (
    DecideReorientation,
    DeadlineKind,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    LeftRsa,
    NonComplianceKind,
    NonComplianceReport,
    OrientationTarget,
    PaymentSuspended,
    PostExitChoice,
    ReorientationReason,
    RequestReorientation,
    Stage,
)
from domain.plein_emploi import DecideSanction2025, FailureKind, FranceTravailRegistered, Remobilised
from domain.rules import RULESET_2025
from pathway_harness import Harness, running_pathway
from workflows.pathway import BeneficiaryPathway


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


async def at_ep(h: Harness, day: date) -> None:
    await h.update(BeneficiaryPathway.report_non_compliance,
                   NonComplianceReport(event_id="nc-1", kind=NonComplianceKind.NON_ADHESION, reported_on=day))
    await h.update(BeneficiaryPathway.confirm_ep_referral,
                   EpReferralConfirmation(event_id="cf-1", confirmed=True, decided_on=day))
    await h.view(lambda v: v.stage is Stage.NON_COMPLIANCE_EP)


async def task_states(h: Harness, *kinds: str) -> dict[str, tuple[str, str | None]]:
    """Each kind's (status, closure reason), once the pathway's writes are done."""
    await h.idle()
    rows = await h.pool.fetch("SELECT kind, status, closure_reason FROM human_tasks WHERE workflow_id = $1 "
                              "AND kind = ANY($2::text[])", h.handle.id, list(kinds))
    found = {r["kind"]: (r["status"], r["closure_reason"]) for r in rows}
    assert set(found) == set(kinds), found
    return found


async def test_a_flow_showing_the_sanction_applied_closes_the_rsa_service_task(h):
    d0 = await h.designated()
    await at_ep(h, d0)
    await h.update(BeneficiaryPathway.decide_ep, EpDecision(event_id="ep-1", outcome=EpOutcome.SUSPENSION,
                                                            decided_on=d0, months=2))
    assert await task_states(h, "APPLY_RSA_SANCTION") == {"APPLY_RSA_SANCTION": ("OPEN", None)}
    # a suspension for another reason says nothing of the sanction
    await h.handle.signal(BeneficiaryPathway.payment_suspended,
                          PaymentSuspended(event_id="ps-1", flow_date=d0, reasons=["06"], since=d0))
    await h.view(lambda v: v.payment_suspension is not None)
    assert await task_states(h, "APPLY_RSA_SANCTION") == {"APPLY_RSA_SANCTION": ("OPEN", None)}
    # the CAF flow: payment suspended « application d'une sanction » (MOTISUSVERSRSA CG)
    await h.handle.signal(BeneficiaryPathway.payment_suspended,
                          PaymentSuspended(event_id="ps-2", flow_date=d0, reasons=["CG"], since=d0))
    await h.view(lambda v: v.payment_suspension is not None and v.payment_suspension.reasons == ["CG"])
    assert await task_states(h, "APPLY_RSA_SANCTION") == {"APPLY_RSA_SANCTION": ("DONE", "SANCTION_APPLIED")}


async def test_a_2025_sanction_is_the_eps_decision_and_closes_the_ep_referral_task(h):
    d0 = await h.designated()
    await at_ep(h, d0)
    assert await task_states(h, "EP_REFERRAL") == {"EP_REFERRAL": ("OPEN", None)}
    await h.update(BeneficiaryPathway.decide_sanction_2025, DecideSanction2025(
        event_id="ssr-1", decided_on=d0, failure=FailureKind.FIRST, share_percent=50, months=1))
    await h.view(lambda v: len(v.plein_emploi.sanctions) == 1 and v.stage is Stage.REFERENT_DESIGNATED)
    assert await task_states(h, "EP_REFERRAL", "APPLY_RSA_SANCTION") == {
        "EP_REFERRAL": ("DONE", "EP_DECIDED"), "APPLY_RSA_SANCTION": ("OPEN", None)}


async def test_leaving_rsa_makes_the_suspension_moot_but_not_the_repayment_and_a_closed_case_keeps_it(h):
    d0 = await h.designated()
    await at_ep(h, d0)
    await h.update(BeneficiaryPathway.decide_sanction_2025, DecideSanction2025(
        event_id="ssr-1", decided_on=d0, failure=FailureKind.FIRST, share_percent=50, months=1))
    view = await h.view(lambda v: len(v.plein_emploi.sanctions) == 1 and v.stage is Stage.REFERENT_DESIGNATED)
    await h.update(BeneficiaryPathway.remobilised, Remobilised(
        event_id="remob-1", sanction_id=view.plein_emploi.sanctions[0].sanction_id, decided_on=d0, repayment=True))
    await h.handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(event_id="left-1", end_of_payment_date=d0,
                                                               reason="RESSOURCES"))
    await h.view(lambda v: v.stage is Stage.EXIT_CHOICE_PENDING)
    assert await task_states(h, "APPLY_RSA_SANCTION", "TRANSMIT_REMOBILISATION") == {
        "APPLY_RSA_SANCTION": ("CANCELLED", "LEFT_RSA"), "TRANSMIT_REMOBILISATION": ("OPEN", None)}
    await h.update(BeneficiaryPathway.choose_after_exit,
                   PostExitChoice(event_id="choice-1", continue_accompaniment=False, decided_on=d0))
    await h.view(lambda v: v.stage is Stage.CLOSED)
    # the case closed: the exit choice is done, the repayment the RSA service owes stays open
    assert await task_states(h, "CHOOSE_AFTER_EXIT", "TRANSMIT_REMOBILISATION") == {
        "CHOOSE_AFTER_EXIT": ("DONE", "EXIT_CHOICE_RECEIVED"), "TRANSMIT_REMOBILISATION": ("OPEN", None)}


async def test_a_radiation_closes_the_case_and_leaves_its_sanction_task_to_the_rsa_service(h):
    d0 = await h.designated()
    await at_ep(h, d0)
    await h.update(BeneficiaryPathway.decide_ep, EpDecision(event_id="ep-1", outcome=EpOutcome.RADIATION,
                                                            decided_on=d0))
    await h.view(lambda v: v.stage is Stage.CLOSED)
    assert await task_states(h, "APPLY_RSA_SANCTION", "EP_REFERRAL") == {
        "APPLY_RSA_SANCTION": ("OPEN", None), "EP_REFERRAL": ("DONE", "EP_DECIDED")}


async def test_a_reorientation_cancels_the_former_referents_escalations(h):
    d0 = await h.designated()
    await h.sleep_until(add_months(d0, RULESET_2025.first_cer_months) + timedelta(days=1))
    await h.view(lambda v: {b.kind for b in v.breaches} == {DeadlineKind.FIRST_APPOINTMENT, DeadlineKind.FIRST_CER})
    escalations = ("ESCALATION_FIRST_APPOINTMENT", "ESCALATION_FIRST_CER")
    assert await task_states(h, *escalations) == dict.fromkeys(escalations, ("OPEN", None))
    day = await h.today()
    await h.update(BeneficiaryPathway.request_reorientation, RequestReorientation(
        event_id="reo-1", reason=ReorientationReason.REPRISE_VIE_MARITALE, requested_on=day))
    await h.update(BeneficiaryPathway.decide_reorientation, DecideReorientation(
        event_id="reo-2", decided_on=day, approved=True, target=OrientationTarget.REFERENT_SOLIDARITE,
        structure_id="SOLI-3"))
    await h.view(lambda v: v.referent_structure_id == "SOLI-3")
    # what they asked of the former referent's structure is moot; the breaches stay in the history
    assert await task_states(h, *escalations, "DECIDE_REORIENTATION") == {
        **dict.fromkeys(escalations, ("CANCELLED", "REFERENT_CHANGED")),
        "DECIDE_REORIENTATION": ("DONE", "REORIENTATION_DECIDED")}
    assert len((await h.view()).breaches) == 2


async def test_a_registration_dated_in_time_but_known_after_the_clock_fired_meets_it(h):
    d0 = await h.morning()
    await h.start()
    days = RULESET_2025.france_travail_registration_days
    await h.sleep_until(d0 + timedelta(days=days + 1))
    view = await h.view(lambda v: any(d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION and d.status == "FIRED"
                                      for d in v.deadlines))
    [clock] = [d for d in view.deadlines if d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION]
    assert await task_states(h, "FRANCE_TRAVAIL_REGISTRATION") == {"FRANCE_TRAVAIL_REGISTRATION": ("OPEN", None)}
    # registered automatically on the RSA request (§8.3), reported by France Travail only now
    await h.handle.signal(BeneficiaryPathway.france_travail_registered,
                          FranceTravailRegistered(event_id="ft-1", registered_on=d0))
    view = await h.view(lambda v: v.plein_emploi.france_travail_registered_on == d0)
    assert [d.status for d in view.deadlines if d.id == clock.id] == ["MET"]
    assert await task_states(h, "FRANCE_TRAVAIL_REGISTRATION") == {
        "FRANCE_TRAVAIL_REGISTRATION": ("DONE", "FRANCE_TRAVAIL_REGISTERED")}
    await h.idle()
    recorded = await h.pool.fetchrow("SELECT status, closed_on FROM deadlines WHERE deadline_id = $1 "
                                     "AND pathway_id = $2", clock.id, h.handle.id)
    assert (recorded["status"], recorded["closed_on"]) == ("MET", d0)
