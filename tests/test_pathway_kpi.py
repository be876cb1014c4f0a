"""Indicator facts written by BeneficiaryPathway (issue 5 item 7) and counted by ``parcours report kpi``.

Real worker on the time-skipping server with the real durations, read model in the embedded PostgreSQL.
Each test uses a territory of its own, so the counts are those of its pathways only.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest_asyncio
from typer.testing import CliRunner

from activities.kpi import KpiReadModel
from domain.deadlines import add_months
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CafFirstInterview,
    CafSaisine,
    CafSaisineDecision,
    CafSaisineMode,
    ConvocationOutcome,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    LostFromViewConvocation,
    OrientationDecision,
    OrientationTarget,
    Stage,
)
from pathway_harness import Harness, running_pathway
from workers.cli.app import app
from workflows.pathway import BeneficiaryPathway


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        harness.territory = f"KPI-{uuid.uuid4().hex[:8]}"
        yield harness


def sibling(h: Harness) -> Harness:
    """Another person's pathway on the same server, worker and territory."""
    return Harness(h.env, h.task_queue, h.monjob, h.pool, territory=h.territory)


async def appointment_rows(h: Harness) -> list[tuple]:
    rows = await h.pool.fetch(
        "SELECT event_id, kind, appointment_date, recorded_on FROM pathway_appointments WHERE pathway_id = $1 "
        "ORDER BY recorded_on, event_id", h.handle.id)
    return [tuple(r) for r in rows]


async def test_appointments_and_the_caf_first_interview_are_counted_as_first_appointments(h, database_url):
    """Neither pathway has a met first-appointment clock, so only the appointment rows can count them."""
    d0 = await h.morning()
    late = h
    await late.start()
    await late.update(BeneficiaryPathway.orient, OrientationDecision(
        event_id="o", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7", notified_on=d0,
        bypass_reason="suivi déjà engagé"))
    caf = sibling(h)
    await caf.start()
    await caf.update(BeneficiaryPathway.caf_saisine, CafSaisine(
        event_id="caf", mode=CafSaisineMode.M1, requested_on=d0, caf_structure_id="CAF62", rsa_majore=True,
        followed_by_caf_social_worker=True))
    await caf.update(BeneficiaryPathway.decide_caf_saisine, CafSaisineDecision(event_id="cd", accepted=True, decided_on=d0))
    await caf.update(BeneficiaryPathway.caf_first_interview, CafFirstInterview(event_id="i1", held_on=d0, within_caf_competence=True))

    await h.sleep_until(d0 + timedelta(days=3))
    fixed = AppointmentEvent(event_id="rdv-1", kind=AppointmentKind.SCHEDULED, appointment_date=d0 + timedelta(days=20))
    await late.handle.signal(BeneficiaryPathway.appointment, fixed)
    await late.handle.signal(BeneficiaryPathway.appointment, fixed)  # re-sent: one row
    await h.sleep_until(d0 + timedelta(days=16))
    view = await late.view(lambda v: v.breaches)
    assert [b.kind.value for b in view.breaches] == ["FIRST_APPOINTMENT"]
    await late.idle()
    await caf.idle()
    assert await appointment_rows(late) == [("rdv-1", "SCHEDULED", d0 + timedelta(days=20), d0 + timedelta(days=3))]
    assert await appointment_rows(caf) == [("i1", "HELD", d0, d0)]

    facts = await KpiReadModel(h.pool).facts(d0, d0, h.territory)
    assert (facts.new_entrants, facts.oriented, facts.oriented_within_1_month) == (2, 2, 2)
    # the late one: fixed on day 3 for day 20 (set, not within 2 weeks); the CAF one: interview on day 0
    assert (facts.first_appointments_set, facts.first_appointments_within_2_weeks) == (2, 1)

    result = await asyncio.to_thread(
        CliRunner().invoke, app,
        ["report", "kpi", "--from", d0.isoformat(), "--to", d0.isoformat(), "--territory", h.territory, "--format", "json"],
        env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.stderr
    lines = {line["key"]: line for line in json.loads(result.stdout)["indicators"]}
    assert (lines["first_appointments_set"]["count"], lines["first_appointments_within_2_weeks"]["count"]) == (2, 1)
    await caf.terminate()


async def test_lost_from_view_convoked_missed_then_sanction_procedure_is_counted(h):
    """T26 / R18: never oriented (breach at one month), convoked, did not come, EP → sanction procedure."""
    d0 = await h.morning()
    await h.start()
    due = add_months(d0, 1)
    await h.sleep_until(due + timedelta(days=5))
    await h.view(lambda v: [b.kind.value for b in v.breaches] == ["ORIENTATION"])
    convoked_on = await h.today()
    rdv = convoked_on + timedelta(days=10)
    await h.handle.signal(BeneficiaryPathway.lost_from_view_convocation, LostFromViewConvocation(
        event_id="cv-1", convocation_id="campagne-1", convoked_on=convoked_on, appointment_date=rdv))
    await h.view(lambda v: len(v.convocations) == 1)
    await h.sleep_until(rdv + timedelta(days=1))
    await h.handle.signal(BeneficiaryPathway.lost_from_view_convocation, LostFromViewConvocation(
        event_id="cv-2", convocation_id="campagne-1", convoked_on=convoked_on, appointment_date=rdv,
        outcome=ConvocationOutcome.MISSED))
    await h.view(lambda v: v.convocations and v.convocations[0].outcome is ConvocationOutcome.MISSED)
    result = await h.update(BeneficiaryPathway.confirm_ep_referral, EpReferralConfirmation(
        event_id="ep-ok", confirmed=True, decided_on=await h.today()))
    assert result.stage is Stage.NON_COMPLIANCE_EP
    await h.sleep_until(rdv + timedelta(days=20))
    await h.handle.signal(BeneficiaryPathway.ep_decision, EpDecision(
        event_id="ep-d", outcome=EpOutcome.SANCTION_PROCEDURE, decided_on=await h.today()))
    await h.view(lambda v: v.stage is Stage.SANCTION_PROCEDURE)
    await h.idle()

    row = await h.pool.fetchrow("SELECT convoked_on, appointment_date, outcome, version FROM lost_from_view_convocations "
                                "WHERE pathway_id = $1", h.handle.id)
    assert (row["convoked_on"], row["appointment_date"], row["outcome"]) == (convoked_on, rdv, "MISSED")
    tasks = await h.pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1 AND kind = 'CONFIRM_EP_REFERRAL'",
                                  h.handle.id)
    assert tasks == 1
    facts = await KpiReadModel(h.pool).facts(convoked_on, await h.today(), h.territory)
    assert (facts.lost_from_view, facts.lost_from_view_convoked, facts.lost_from_view_sanctioned) == (1, 1, 1)
