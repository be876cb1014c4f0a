"""``LabelYearlyList``: the annual list of labelled structures for the Commission Permanente (L20).

Started each year by the Temporal Schedule ``label-yearly-list`` (``parcours schedule install``, 1 December,
07:00 Europe/Paris) or by hand; one activity reads the label read model (the query of ``parcours label
yearly-list``) and stores the list in ``label_yearly_lists``, where ``parcours label yearly-list --stored``
reads it back. The year defaults to the year of the run.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import paris_date
    from domain.label_yearly_list import (
        LABEL_YEARLY_LIST_WORKFLOW,
        STORE_YEARLY_LIST,
        YearlyListInput,
        YearlyListRequest,
        YearlyListSummary,
    )

@workflow.defn(name=LABEL_YEARLY_LIST_WORKFLOW)
class LabelYearlyList:
    @workflow.run
    async def run(self, inp: YearlyListInput) -> YearlyListSummary:
        today = paris_date(workflow.now())
        request = YearlyListRequest(year=inp.year or today.year, workflow_id=workflow.info().workflow_id,
                                    generated_on=today.isoformat())
        return await workflow.execute_activity(
            STORE_YEARLY_LIST, request, result_type=YearlyListSummary,
            start_to_close_timeout=timedelta(minutes=5), schedule_to_close_timeout=timedelta(days=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
