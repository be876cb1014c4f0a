"""``FluxImport``: one CAF/MSA flow file into pathways, exactly once per (file digest, position).

Id ``flux-import-<sha256 of the file>`` (:func:`start_flux_import`): the same bytes imported twice, by
hand or by the daily drop-directory scan, are one workflow, and the second import returns the first
result. A survey activity checks and counts the file; batch activities then import slices of positions,
heartbeating their position; the ledger makes a retried or resumed slice skip what is done. The workflow
continues as new between slices when its history grows. The ``progress`` query tells how far it is.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import paris_date
    from domain.flux_import import (
        FINISH,
        IMPORT_SLICE,
        SURVEY,
        WORKFLOW_TYPE,
        FileSurvey,
        FinishRequest,
        FluxImportInput,
        FluxImportProgress,
        FluxImportResult,
        FluxImportState,
        SliceRequest,
        SliceResult,
        SurveyRequest,
        default_batch_size,
        flux_import_workflow_id,
    )

from workflows.resumable_import import continue_as_new_if_due, import_retry, run_slice, start_or_join

_RETRY = import_retry("FLUX_UNREADABLE", "FLUX_FILE_CHANGED")


@workflow.defn(name=WORKFLOW_TYPE)
class FluxImport:
    @workflow.init
    def __init__(self, inp: FluxImportInput) -> None:
        self.s = inp.state or FluxImportState()

    @workflow.run
    async def run(self, inp: FluxImportInput) -> FluxImportResult:
        s = self.s
        heartbeat = timedelta(seconds=inp.heartbeat_timeout_seconds)
        if s.survey is None:
            s.survey = await workflow.execute_activity(
                SURVEY, SurveyRequest(file_path=inp.file_path, file_digest=inp.file_digest,
                                      file_name=inp.file_name, source=inp.source, mapping=inp.mapping),
                result_type=FileSurvey, start_to_close_timeout=timedelta(hours=2), heartbeat_timeout=heartbeat,
                schedule_to_close_timeout=timedelta(days=1), retry_policy=_RETRY,
            )
            s.status = "importing"
        survey = s.survey
        batch = inp.batch_size or default_batch_size(survey.last_position)
        flow_date = survey.flow_date or paris_date(workflow.now())
        while s.next_position <= survey.last_position:
            continue_as_new_if_due(inp, s)
            last = min(s.next_position + batch - 1, survey.last_position)
            done = await run_slice(
                IMPORT_SLICE,
                SliceRequest(file_path=inp.file_path, file_digest=inp.file_digest, source=inp.source,
                             mapping=inp.mapping, territory=inp.territory,
                             pathway_task_queue=inp.pathway_task_queue or workflow.info().task_queue,
                             first=s.next_position, last=last, flow_date=flow_date),
                SliceResult, heartbeat, _RETRY)
            s.next_position = last + 1
            s.slices += 1
            s.slices_this_run += 1
            s.handled += done.handled
            s.signals += done.signals
        s.status = "finishing"
        result = await workflow.execute_activity(
            FINISH, FinishRequest(file_digest=inp.file_digest,
                                  remove_file=inp.file_path if inp.remove_when_imported else None),
            result_type=FluxImportResult,
            start_to_close_timeout=timedelta(minutes=1), schedule_to_close_timeout=timedelta(days=1),
            retry_policy=_RETRY,
        )
        s.status = "done"
        return result.model_copy(update={"subject_to_duties": survey.subject_to_duties})

    @workflow.query(name="progress")
    def progress(self) -> FluxImportProgress:
        s = self.s
        total = s.survey.last_position if s.survey else None
        return FluxImportProgress(status=s.status, total=total, done=s.next_position - 1 if total else 0,
                                  slices=s.slices, run=s.run, signals=s.signals)


async def start_flux_import(client: Client, inp: FluxImportInput, *, task_queue: str) -> WorkflowHandle:
    """Start the import of a file, or join the one already running or completed for the same bytes (the second
    import's ``result()`` gives the first import's result)."""
    return await start_or_join(client, FluxImport.run, inp, flux_import_workflow_id(inp.file_digest), task_queue)
