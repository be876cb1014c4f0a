"""``RetentionPurge``: purge the pathways closed more than the retention period ago (default 24 months).

Started monthly by the Temporal Schedule that ``parcours schedule install`` creates. For each batch of
expired pathways (in pathway id order): delete their closed Temporal executions, then their read-model rows
and flow observation, recording each pathway in ``retention_purge_items``. A pathway whose id runs again (the
person came back) is left alone and recorded as skipped. The result and the ``retention_purges`` row hold the
run's counts. Every step is idempotent, so a retried activity or a re-run purges and counts nothing twice.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import paris_date
    from domain.retention import (
        COMPLETE,
        DELETE_EXECUTIONS,
        PLAN,
        PURGE_ROWS,
        SELECT_EXPIRED,
        WORKFLOW_TYPE,
        ExecutionsDeleted,
        ExpiredPathway,
        PlanRequest,
        PurgeBatchResult,
        PurgeRequest,
        RetentionInput,
        RetentionPlan,
        RetentionState,
        RetentionSummary,
        SelectRequest,
    )

_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
_DB = dict(start_to_close_timeout=timedelta(minutes=5), schedule_to_close_timeout=timedelta(hours=2),
           retry_policy=_RETRY)


@workflow.defn(name=WORKFLOW_TYPE)
class RetentionPurge:
    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionSummary:
        state = inp.state
        if state is None:
            info = workflow.info()
            plan = await workflow.execute_activity(
                PLAN, PlanRequest(purge_id=f"{info.workflow_id}/{info.run_id}", as_of=paris_date(workflow.now()),
                                  retention_months=inp.retention_months),
                result_type=RetentionPlan, **_DB,
            )
            state = RetentionState(plan=plan)
        plan = state.plan
        while True:
            expired = await workflow.execute_activity(
                SELECT_EXPIRED, SelectRequest(cutoff=plan.cutoff, after=state.after, limit=inp.batch_size),
                result_type=list[ExpiredPathway], **_DB,
            )
            if not expired:
                break
            executions = await workflow.execute_activity(
                DELETE_EXECUTIONS, expired, result_type=list[ExecutionsDeleted],
                start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(minutes=2),
                schedule_to_close_timeout=timedelta(hours=2), retry_policy=_RETRY,
            )
            await workflow.execute_activity(
                PURGE_ROWS, PurgeRequest(purge_id=plan.purge_id, cutoff=plan.cutoff, executions=executions),
                result_type=PurgeBatchResult, **_DB,
            )
            state.after = expired[-1].pathway_id
            state.batches += 1
            if workflow.info().is_continue_as_new_suggested():
                state.run += 1
                workflow.continue_as_new(RetentionInput(retention_months=inp.retention_months,
                                                        batch_size=inp.batch_size, state=state))
        return await workflow.execute_activity(COMPLETE, plan.purge_id, result_type=RetentionSummary, **_DB)
