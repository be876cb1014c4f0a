"""``LostFromViewCampaign``: the monthly « perdus de vue » campaign (T26, G-B19; ``domain/campaign.py``).

Started by the Schedule that ``parcours schedule install`` creates: selects the pathways « sans
accompagnement » for the rule set's period from the read model, convokes them through their
``lost_from_view_convocation`` signal, and records the campaign (row and items). The campaign id is the
workflow id, so a retried step convokes nobody twice.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.campaign import (
        CONVOKE,
        RECORD,
        SELECT,
        WORKFLOW_TYPE,
        CampaignInput,
        CampaignRecord,
        CampaignReport,
        ConvokeRequest,
        ConvokeResult,
        SelectRequest,
        appointment_date,
        selection_cutoff,
    )
    from domain.deadlines import paris_date
    from domain.rules import rule_set_for

_DB = dict(start_to_close_timeout=timedelta(minutes=5), schedule_to_close_timeout=timedelta(hours=2),
           retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))


@workflow.defn(name=WORKFLOW_TYPE)
class LostFromViewCampaign:
    @workflow.run
    async def run(self, inp: CampaignInput) -> CampaignReport:
        today = paris_date(workflow.now())
        rules = rule_set_for(today)
        report = CampaignReport(campaign_id=workflow.info().workflow_id, run_on=today,
                                cutoff=selection_cutoff(today, rules), appointment_date=appointment_date(today, rules),
                                territory=inp.territory)
        selected = await workflow.execute_activity(
            SELECT, SelectRequest(as_of=today, cutoff=report.cutoff, territory=inp.territory, limit=inp.limit),
            result_type=list[str], **_DB)
        result = ConvokeResult()
        if selected:
            result = await workflow.execute_activity(
                CONVOKE, ConvokeRequest(campaign_id=report.campaign_id, convoked_on=today,
                                        appointment_date=report.appointment_date, pathway_ids=selected),
                result_type=ConvokeResult, start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2), schedule_to_close_timeout=timedelta(hours=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
        report.selected, report.convoked, report.not_found = len(selected), len(result.convoked), len(result.not_found)
        await workflow.execute_activity(
            RECORD, CampaignRecord(report=report, convoked=result.convoked, not_found=result.not_found), **_DB)
        return report
