"""``CafAnnualReport``: the CAF's annual report (§3.7, G-C8), built for the past year and stored.

Started each 31 January by the Schedule ``caf-annual-report`` (``parcours schedule install``); ``year`` may be
given for a one-off run. Building reads the read model; storing is an upsert by year, so a re-run replaces it.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.caf_report import BUILD, STORE, WORKFLOW_TYPE, CafReport, CafReportRequest, report_year
    from domain.deadlines import paris_date

_DB = dict(start_to_close_timeout=timedelta(minutes=5), schedule_to_close_timeout=timedelta(hours=2),
           retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))


@workflow.defn(name=WORKFLOW_TYPE)
class CafAnnualReport:
    @workflow.run
    async def run(self, req: CafReportRequest) -> CafReport:
        year = req.year or report_year(paris_date(workflow.now()))
        report = await workflow.execute_activity(BUILD, CafReportRequest(year=year, etp=req.etp),
                                                 result_type=CafReport, **_DB)
        await workflow.execute_activity(STORE, report, **_DB)
        return report
