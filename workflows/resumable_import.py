"""The skeleton the file-import workflows share (``FluxImport``, ``CaseloadImport``): a retry policy that gives up
only on the import's own non-retryable failures, the slice activity's timeouts, continue-as-new between slices,
and the start that joins the import already running or done for the same bytes.

Helpers, not a base class: each workflow keeps its own ``run`` and its own command sequence (the recorded
histories of both replay unchanged).
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError


def import_retry(*non_retryable: str) -> RetryPolicy:
    """Retry every failure but the file's own (unreadable, changed since the survey)."""
    return RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1), non_retryable_error_types=list(non_retryable))


async def run_slice(activity: str, request, result_type: type, heartbeat: timedelta, retry: RetryPolicy):
    """One slice activity: up to 2 h a try (heartbeating its position), 3 days in all."""
    return await workflow.execute_activity(
        activity, request, result_type=result_type, start_to_close_timeout=timedelta(hours=2),
        heartbeat_timeout=heartbeat, schedule_to_close_timeout=timedelta(days=3), retry_policy=retry)


def continue_as_new_if_due(inp, state) -> None:
    """Before a slice: continue as new, carrying ``state``, after ``inp.slices_per_run`` slices of this run or when
    the server suggests it (the history grows)."""
    if state.slices_this_run >= inp.slices_per_run or workflow.info().is_continue_as_new_suggested():
        state.run += 1
        state.slices_this_run = 0
        workflow.continue_as_new(inp.model_copy(update={"state": state}))


async def start_or_join(client: Client, run, inp, workflow_id: str, task_queue: str) -> WorkflowHandle:
    """Start the import, or join the one running (``USE_EXISTING``) or completed for the same bytes (reuse allowed
    only after a failure: ``result()`` gives the first import's result)."""
    try:
        return await client.start_workflow(
            run, inp, id=workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(run, workflow_id)
