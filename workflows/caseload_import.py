"""``CaseloadImport``: a département's caseload file into pathways adopted at their stage (issue 19).

Id ``caseload-import-<sha256 of the file>`` (:func:`start_caseload_import`): the same bytes imported twice are one
workflow. A survey activity checks and counts the rows; slice activities adopt rows, heartbeating their row; the
row ledger makes a retried or resumed slice skip what is done, the person ledger makes a second import of the same
row change nothing. The import's day is fixed at its start, so a resumed import judges every row alike. The
workflow continues as new between slices when its history grows; the ``progress`` query tells how far it is.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle

with workflow.unsafe.imports_passed_through():
    from domain.caseload_import import (
        IMPORT_SLICE,
        SURVEY,
        WORKFLOW_TYPE,
        CaseloadImportInput,
        CaseloadImportProgress,
        CaseloadImportState,
        CaseloadSlice,
        SliceOutcome,
        caseload_import_workflow_id,
    )
    from domain.deadlines import paris_date

from workflows.resumable_import import continue_as_new_if_due, import_retry, run_slice, start_or_join

_RETRY = import_retry("CASELOAD_UNREADABLE", "CASELOAD_FILE_CHANGED")


@workflow.defn(name=WORKFLOW_TYPE)
class CaseloadImport:
    @workflow.init
    def __init__(self, inp: CaseloadImportInput) -> None:
        self.s = inp.state or CaseloadImportState()

    @workflow.run
    async def run(self, inp: CaseloadImportInput) -> CaseloadImportProgress:
        s = self.s
        heartbeat = timedelta(seconds=inp.heartbeat_timeout_seconds)
        if s.today is None:
            s.today = paris_date(workflow.now())
        if s.total is None:
            s.total = await workflow.execute_activity(
                SURVEY, args=[inp.file_path, inp.file_digest, inp.mapping], result_type=int,
                start_to_close_timeout=timedelta(hours=1), schedule_to_close_timeout=timedelta(days=1),
                retry_policy=_RETRY)
            s.status = "importing"
        while s.next_row <= s.total:
            continue_as_new_if_due(inp, s)
            last = min(s.next_row + inp.batch_size - 1, s.total)
            done = await run_slice(
                IMPORT_SLICE,
                CaseloadSlice(file_path=inp.file_path, file_digest=inp.file_digest, file_name=inp.file_name,
                              mapping=inp.mapping, past_breaches=inp.past_breaches, update=inp.update,
                              pathway_task_queue=inp.pathway_task_queue or workflow.info().task_queue,
                              first=s.next_row, last=last, today=s.today),
                SliceOutcome, heartbeat, _RETRY)
            s.next_row = last + 1
            s.slices_this_run += 1
            s.adopted += done.adopted
            s.unchanged += done.unchanged
            s.updated += done.updated
            s.rejected += done.rejected
        s.status = "done"
        return self.progress()

    @workflow.query(name="progress")
    def progress(self) -> CaseloadImportProgress:
        s = self.s
        return CaseloadImportProgress(status=s.status, total=s.total, done=s.next_row - 1 if s.total else 0,
                                      adopted=s.adopted, unchanged=s.unchanged, rejected=s.rejected,
                                      updated=s.updated)


async def start_caseload_import(client: Client, inp: CaseloadImportInput, *, task_queue: str) -> WorkflowHandle:
    """Start the import of a caseload file, or join the one running or completed for the same bytes."""
    workflow_id = caseload_import_workflow_id(inp.file_digest, inp.past_breaches, inp.update)
    return await start_or_join(client, CaseloadImport.run, inp, workflow_id, task_queue)
