"""``FranceTravailSync``: the daily France Travail registration check of 2025 pathways (``domain/france_travail.py``).

Started by the Schedule that ``parcours schedule install`` creates: selects from the read model the pathways whose
``FRANCE_TRAVAIL_REGISTRATION`` clock is open, asks France Travail (activity with the adapter's retry policy:
refusals non-retryable, outages retried) and signals ``france_travail_registered`` to those registered. The
pathway itself never calls France Travail, so running pathways keep their command sequence.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import paris_date
    from domain.france_travail import (CHECK, NON_RETRYABLE, SELECT, WORKFLOW_TYPE, Awaiting, CheckRequest,
                                       SyncInput, SyncReport)

_DB = dict(start_to_close_timeout=timedelta(minutes=5), schedule_to_close_timeout=timedelta(hours=2),
           retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
# France Travail down for a while must not lose the day's run: retried for up to 12 hours (the next run is daily).
_CHECK = dict(start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(minutes=2),
              schedule_to_close_timeout=timedelta(hours=12),
              retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=30),
                                       non_retryable_error_types=NON_RETRYABLE))


@workflow.defn(name=WORKFLOW_TYPE)
class FranceTravailSync:
    @workflow.run
    async def run(self, inp: SyncInput) -> SyncReport:
        today = paris_date(workflow.now())
        awaiting = await workflow.execute_activity(SELECT, inp, result_type=list[Awaiting], **_DB)
        if not awaiting:
            return SyncReport(run_on=today)
        return await workflow.execute_activity(CHECK, CheckRequest(as_of=today, awaiting=awaiting),
                                               result_type=SyncReport, **_CHECK)
