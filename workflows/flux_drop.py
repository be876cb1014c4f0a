"""``FluxDropScan``: import every new file of the drop directory, one ``FluxImport`` child per file.

Started daily by the Temporal Schedule that ``parcours schedule install`` creates. A file already
imported is filtered out by the listing activity; a file whose import is running (started by hand) or
done is skipped when its child cannot start under the same id. Children run one after the other.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.flux_import import (
        DROP_SCAN_WORKFLOW_TYPE,
        LIST_DROPPED,
        DropScanInput,
        DropScanResult,
        DroppedFile,
        FluxImportInput,
        flux_import_workflow_id,
    )
    from workflows.flux_import import FluxImport


@workflow.defn(name=DROP_SCAN_WORKFLOW_TYPE)
class FluxDropScan:
    @workflow.run
    async def run(self, inp: DropScanInput) -> DropScanResult:
        files = await workflow.execute_activity(
            LIST_DROPPED, inp, result_type=list[DroppedFile], start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=20),
        )
        result = DropScanResult()
        for f in files:
            workflow_id = flux_import_workflow_id(f.file_digest)
            try:
                await workflow.execute_child_workflow(
                    FluxImport.run,
                    FluxImportInput(file_path=f.file_path, file_digest=f.file_digest, file_name=f.file_name,
                                    source=f.source, territory=inp.territory,
                                    pathway_task_queue=inp.pathway_task_queue, remove_when_imported=True),
                    id=workflow_id, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
                result.started.append(workflow_id)
            except WorkflowAlreadyStartedError:
                result.skipped.append(workflow_id)
            except ChildWorkflowError:
                workflow.logger.warning("flow import %s failed", workflow_id)
                result.failed.append(workflow_id)
        return result
