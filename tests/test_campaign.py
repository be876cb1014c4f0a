"""T26 / G-B19: the monthly « perdus de vue » campaign — selection from the read model for the rule set's period,
convocation through the pathways' own signal, the campaign recorded; the Schedule installed by the CLI."""

from __future__ import annotations

from datetime import date, timedelta

import pytest_asyncio
from temporalio.worker import Worker

from activities.campaign import CampaignActivities
from domain.campaign import CampaignInput, appointment_date, selection_cutoff
from domain.deadlines import add_months, paris_date
from domain.pathway import CerAction, CerType, OrientationDecision, OrientationTarget, SignCer, Stage
from domain.rules import RULESET_2023
from pathway_harness import contract, running_pathway
from workers.runtime.sandbox import workflow_runner
from workflows.campaign import LostFromViewCampaign
from workflows.pathway import BeneficiaryPathway


def test_G_B19_the_selection_period_and_the_appointment_come_from_the_rule_set():
    as_of = date(2027, 3, 31)
    assert selection_cutoff(as_of, RULESET_2023) == add_months(as_of, -RULESET_2023.lost_from_view_months)
    assert selection_cutoff(as_of, RULESET_2023) == date(2027, 1, 31)
    assert appointment_date(as_of, RULESET_2023) == as_of + timedelta(days=15)


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


async def test_T26_campaign_convokes_the_pathways_sans_accompagnement_and_records_itself(h, db_pool, unique_id):
    d0 = await h.morning()
    await h.start()
    lost = h.handle.id
    h.territory = f"T-{unique_id[:8]}"  # the campaign of this test's territory only (set on `lost` below)
    await h.start()
    await h.update(BeneficiaryPathway.orient, OrientationDecision(
        event_id="o", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="S", notified_on=d0,
        bypass_reason="suivi déjà engagé"))
    await h.view(lambda v: v.run == 2)
    await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
        event_id="s", cer_id="c", type=CerType.SOLIDARITE, start=d0, end=add_months(d0, 6), signed_on=d0,
        actions=[CerAction(start=d0, end=add_months(d0, 6))])))
    accompanied = h.handle.id  # under a CER: accompanied
    await h.sleep_until(add_months(d0, 2) + timedelta(days=2))
    await db_pool.execute("UPDATE pathways SET territory = $1 WHERE pathway_id = $2", h.territory, lost)
    today = await h.today()
    async with Worker(h.env.client, task_queue=f"{h.task_queue}-campaign", workflows=[LostFromViewCampaign],
                      activities=CampaignActivities(db_pool).all(), workflow_runner=workflow_runner()):
        with h.env.auto_time_skipping_disabled():  # the pathways' timers stay where they are meanwhile
            report = await h.env.client.execute_workflow(
                LostFromViewCampaign.run, CampaignInput(territory=h.territory),
                id=f"lost-from-view-campaign-{unique_id}", task_queue=f"{h.task_queue}-campaign")
    assert (report.run_on, report.cutoff) == (today, add_months(today, -2))
    assert (report.selected, report.convoked, report.not_found) == (1, 1, 0)
    row = await db_pool.fetchrow("SELECT selected, convoked, appointment_date FROM lost_from_view_campaigns "
                                 "WHERE campaign_id = $1", report.campaign_id)
    assert (row["selected"], row["convoked"], row["appointment_date"]) == (1, 1, today + timedelta(days=15))
    items = await db_pool.fetch("SELECT pathway_id, outcome FROM lost_from_view_campaign_items WHERE campaign_id = $1",
                                report.campaign_id)
    assert [(i["pathway_id"], i["outcome"]) for i in items] == [(lost, "CONVOKED")]
    view = await h.env.client.get_workflow_handle(lost).query(BeneficiaryPathway.view)
    assert [c.convocation_id for c in view.convocations] == [report.campaign_id]
    assert view.convocations[0].outcome is None and view.stage is Stage.AWAITING_ORIENTATION
    other = await h.env.client.get_workflow_handle(accompanied).query(BeneficiaryPathway.view)
    assert other.convocations == []
    await h.env.client.get_workflow_handle(lost).terminate("test over")


async def test_G_B19_monthly_campaign_schedule_is_installed_with_the_others(dev_env, task_queue, unique_id):
    from workers.cli.schedule import install_campaign_schedule  # typer: not importable in the workflow sandbox

    schedule_id = f"campaign-{unique_id}"
    client = dev_env.client
    assert await install_campaign_schedule(client, task_queue=task_queue, day=12, hour=8,
                                           schedule_id=schedule_id) == "created"
    assert await install_campaign_schedule(client, task_queue=task_queue, day=12, hour=8,
                                           schedule_id=schedule_id) == "updated"
    handle = client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        assert description.schedule.action.workflow == "LostFromViewCampaign"
        calendar = description.schedule.spec.calendars[0]
        assert [r.start for r in calendar.day_of_month] == [12] and [r.start for r in calendar.hour] == [8]
        assert all(paris_date(t).day == 12 for t in description.info.next_action_times)
    finally:
        await handle.delete()
