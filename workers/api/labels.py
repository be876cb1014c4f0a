"""Label routes: file a label application (update-with-start, claimed in the structure registry first), send the
application's and the granted label's commands, read either case, a structure's record and a letter
(structures are organisations: no personal data)."""

import asyncio
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from domain import label_messages as lm
from domain.label import application_workflow_id, label_workflow_id
from workers.api.auth import Caller, Scope
from workers.api.bodies import EVENT_ID_PATTERN, strict_body
from workers.api.commands import (
    APPLICATION_PATTERN, STRUCTURE_PATTERN, TERRITORY_PATTERN, Command, CommandAnswer, Resource, add_commands,
    message_extension,
)
from workers.api.event_ids import fingerprint_event
from workers.api.dependencies import post_context, require
from workers.api.errors import ERROR_RESPONSES, ApiError
from workers.api.idempotency import IDEMPOTENCY_HEADER, Api, PostContext
from workers.api.label_registry import file_with_claim, letter_route, registry_for, structure_route
from workers.api.temporal import QUERY_TIMEOUT, TEMPORAL_ERRORS, UPDATE_TIMEOUT, call, search_attribute, status_name
from workflows import search_attributes as sa
from domain.label_contract import LABEL_APPLICATION_WORKFLOW
from domain.label_contract import ApplicationMessages as A
from domain.label_contract import LabelMessages as LM
from workflows.label_application import LabelApplicationState

log = structlog.get_logger("parcours.api")

APPLICATION_TAG = "label applications"
LABEL_TAG = "labels"


class SubmitApplicationRequest(BaseModel):
    """A label application filed on epartenaires (L1): creates the application case and submits it."""

    model_config = ConfigDict(extra="forbid")

    structure_id: str = Field(pattern=STRUCTURE_PATTERN, description="Opaque structure id")
    application_no: int = Field(ge=1, le=999999, description="1 for the structure's first application, then 2, ...")
    territory: str = Field(pattern=TERRITORY_PATTERN, description="Territory of the lead SLAI")
    other_territories: list[Annotated[str, Field(pattern=TERRITORY_PATTERN)]] = Field(
        [], max_length=10, description="Other territories the structure works on: their SLAIs are consulted (G-L22)")
    filed_on: date | None = Field(None, description="Filing date (default: today)")
    event_id: str | None = Field(None, pattern=EVENT_ID_PATTERN)


class CaseState(BaseModel):
    """A label case's state (no personal data: structures are organisations)."""

    case_id: str
    status: str
    stage: str | None
    next_deadline: datetime | None
    state: dict[str, Any] | None = Field(None, description="The workflow's state (without its technical fields)")


#: Also sent by the completion of the letter's ``LETTER_TO_SEND`` task (``workers.api.tasks``).
LETTER_SENT_COMMAND = Command("letter-sent", A.RECORD_LETTER_SENT, "update", lm.LetterSent, Scope.LABEL_DECIDE,
                              "person", "The letter was posted by LRAR (number, date): the receipt reminder runs "
                                        "from it")

APPLICATION_COMMANDS = (
    Command("admin-evaluation", A.RECORD_ADMIN_EVALUATION, "update", lm.AdminEvaluation, Scope.LABEL_DECIDE, "person",
            "DPID administrative evaluation (L3)"),
    Command("evaluation", A.SUBMIT_EVALUATION, "update", lm.EvaluationSubmitted, Scope.LABEL_DECIDE, "person",
            "DPID evaluation from the file: attestations and Annexe 2 grids; the case computes coverage, "
            "the seeded sample and the averages (L3)"),
    Command("slai-opinion", A.RECORD_SLAI_OPINION, "update", lm.SlaiOpinion, Scope.LABEL_DECIDE, "person",
            "SLAI confirms or reworks the DPID opinion"),
    Command("territory-opinion", A.RECORD_TERRITORY_OPINION, "update", lm.TerritoryOpinion, Scope.LABEL_DECIDE,
            "person", "Opinion of a consulted SLAI (G-L22: structure working on several territories)"),
    Command("joint-review", A.RECORD_JOINT_REVIEW, "update", lm.JointReview, Scope.LABEL_DECIDE, "person",
            "Siège–SLAI joint review below 80 % (L4)"),
    Command("decision", A.DECIDE, "update", lm.Decision, Scope.LABEL_DECIDE, "person", "Grant or refuse the label"),
    Command("receipt", A.ACKNOWLEDGE_RECEIPT, "update", lm.ReceiptAcknowledged, Scope.LABEL_DECIDE, "person",
            "Acknowledgement of receipt of the registered letter (its date is the notification date)"),
    LETTER_SENT_COMMAND,
    Command("moratorium-sheet", A.RECORD_MORATORIUM_SHEET, "update", lm.MoratoriumSheet, Scope.LABEL_DECIDE, "person",
            "Annexe 4 moratorium follow-up sheet"),
    Command("reapplication", A.REAPPLY, "update", lm.Reapplication, Scope.LABEL_APPLY, "person",
            "New application after the moratorium (L7)"),
    Command("recours-gracieux", A.FILE_RECOURS_GRACIEUX, "update", lm.AppealFiled, Scope.LABEL_APPLY, "person",
            "Recours gracieux filed (within 2 months of the notification)"),
    Command("recours-gracieux-answer", A.ANSWER_RECOURS_GRACIEUX, "update", lm.GracieuxAnswer, Scope.LABEL_DECIDE, "person",
            "Answer to the recours gracieux"),
    Command("recours-contentieux", A.FILE_RECOURS_CONTENTIEUX, "update", lm.AppealFiled, Scope.LABEL_APPLY, "person",
            "Recours contentieux filed at the tribunal administratif"),
    Command("judgment", A.RECORD_JUDGMENT, "update", lm.Judgment, Scope.LABEL_DECIDE, "person", "The tribunal's judgment"),
)

#: A withdrawal or a renewal refusal is notified and appealed as a refused application is.
LABEL_NOTICE_COMMANDS = tuple(c for c in APPLICATION_COMMANDS if c.name in (
    A.RECORD_LETTER_SENT, A.ACKNOWLEDGE_RECEIPT, A.FILE_RECOURS_GRACIEUX, A.ANSWER_RECOURS_GRACIEUX,
    A.FILE_RECOURS_CONTENTIEUX, A.RECORD_JUDGMENT))

LABEL_COMMANDS = (
    Command("annual-review", LM.RECORD_ANNUAL_REVIEW, "update", lm.AnnualReview, Scope.LABEL_DECIDE, "person",
            "Yearly charte qualité and training review (L15)"),
    Command("renewal-request", LM.REQUEST_RENEWAL, "update", lm.RenewalRequest, Scope.LABEL_APPLY, "person",
            "Renewal requested (January–July of the last year)"),
    Command("renewal-decision", LM.DECIDE_RENEWAL, "update", lm.RenewalDecision, Scope.LABEL_DECIDE, "person",
            "Renewal granted or refused"),
    Command("mission-ended", LM.END_MISSION, "update", lm.MissionEnded, Scope.LABEL_APPLY, "person",
            "The structure ends its RSA accompaniment mission (W1: the label lapses)"),
    Command("commitment-breach", LM.REPORT_COMMITMENT_BREACH, "update", lm.CommitmentBreach, Scope.LABEL_DECIDE, "person",
            "Commitments not respected: prior notice, 1 month of observations (W2)"),
    Command("observations", LM.RECORD_OBSERVATIONS, "update", lm.ObservationsReceived, Scope.LABEL_APPLY, "person",
            "The structure's observations"),
    Command("withdrawal-decision", LM.DECIDE_WITHDRAWAL, "update", lm.WithdrawalDecision, Scope.LABEL_DECIDE, "person",
            "Withdraw or maintain the label (W2)"),
    Command("quality-issue", LM.REPORT_QUALITY_ISSUE, "update", lm.QualityIssue, Scope.LABEL_DECIDE, "person",
            "CER quality no longer assured: 6 months of SLAI support (W3)"),
    Command("remediation-outcome", LM.DECIDE_REMEDIATION, "update", lm.RemediationOutcome, Scope.LABEL_DECIDE, "person",
            "New study after the SLAI support (W3)"),
    *LABEL_NOTICE_COMMANDS,
)

APPLICATIONS = Resource(prefix="/v1/label-applications", id_name="application_id", id_pattern=APPLICATION_PATTERN,
                        to_workflow_id=lambda case: case, what="the application", tag=APPLICATION_TAG)
LABELS = Resource(prefix="/v1/labels", id_name="structure_id", id_pattern=STRUCTURE_PATTERN,
                  to_workflow_id=label_workflow_id, what="the label", tag=LABEL_TAG)

_HIDDEN_STATE_FIELDS = {"seen_event_ids", "version"}


async def read_label_case(api: Api, workflow_id: str, what: str, state_type: type[BaseModel] | None) -> CaseState:
    handle = api.client.get_workflow_handle(workflow_id)
    description = await call(what, handle.describe())
    case = CaseState(
        case_id=workflow_id,
        status=status_name(description.status),
        stage=search_attribute(description, sa.LABEL_STAGE),
        next_deadline=search_attribute(description, sa.NEXT_DEADLINE),
    )
    try:
        state = await handle.query(A.STATE, result_type=state_type, rpc_timeout=QUERY_TIMEOUT)
    except TEMPORAL_ERRORS as error:
        log.warning("api_query_failed", case=what, error=type(error).__name__)
        return case
    data = state.model_dump(mode="json") if isinstance(state, BaseModel) else dict(state)
    case.state = {k: v for k, v in data.items() if k not in _HIDDEN_STATE_FIELDS}
    case.stage = data.get("stage", case.stage)
    return case


def add_label_routes(app: FastAPI, api: Api, pool: asyncpg.Pool | None) -> None:
    settings = api.settings
    registry = registry_for(pool)

    @app.post("/v1/label-applications", tags=[APPLICATION_TAG], response_model=CommandAnswer,
              responses=ERROR_RESPONSES, operation_id="label_applications_submit",
              summary="File a label application (L1)", openapi_extra=message_extension(A.SUBMIT, "update", (Scope.LABEL_APPLY,), "system"))
    async def submit_application(
        request: Request, _: SubmitApplicationRequest, ctx: PostContext = Depends(post_context(Scope.LABEL_APPLY)),
    ) -> JSONResponse:
        """Creates the application case ``label-<structure id>-<n>`` and submits it (update-with-start); a
        retry is answered from the running case. The structure registry refuses (409, with ``rule`` and
        ``until``) a filing while another application of the structure is open or its moratorium runs; a
        filing after the moratorium is the structure's reapplication. Scope: ``label.apply``."""
        body = await strict_body(request, SubmitApplicationRequest)
        workflow_id = application_workflow_id(body.structure_id, body.application_no)
        message = lm.ApplicationSubmitted(event_id=ctx.event_id(body.event_id), actor=ctx.actor(),
                                          filed_on=body.filed_on)
        fingerprint: dict[str, Any] = {"case": workflow_id, "territory": body.territory, "message": message}
        if body.other_territories:
            fingerprint["others"] = body.other_territories

        async def submit(superseded: str | None) -> tuple[int, dict]:
            start = WithStartWorkflowOperation(
                LABEL_APPLICATION_WORKFLOW,
                LabelApplicationState(structure_id=body.structure_id, application_no=body.application_no,
                                      territory=body.territory, after_moratorium_of=superseded,
                                      other_territories=body.other_territories),
                id=workflow_id,
                task_queue=settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            try:
                seen = await api.claim_event_id(ctx, workflow_id, message.event_id, fingerprint_event(
                    A.SUBMIT, {**message.model_dump(mode="json"), "territory": body.territory,
                               "others": body.other_territories}))
                stage = await asyncio.wait_for(
                    call("the application", api.client.execute_update_with_start_workflow(
                        A.SUBMIT, message, start_workflow_operation=start)),
                    UPDATE_TIMEOUT.total_seconds())
            except asyncio.TimeoutError:
                raise ApiError(504, "timeout", "the application did not answer in time; retry with the same "
                                               f"{IDEMPOTENCY_HEADER}") from None
            except ApiError as error:  # a refusal is an answer: the registry gives the claim back
                if error.status >= 500 or error.headers:
                    raise
                return error.status, error.body()
            answer = CommandAnswer(case_id=workflow_id, event=A.SUBMIT, event_id=message.event_id, stage=str(stage),
                                   duplicate=seen)
            return 200, answer.model_dump(mode="json")

        async def action() -> tuple[int, dict]:
            return await file_with_claim(registry, body.structure_id, workflow_id, body.filed_on, submit)

        return await api.idempotent(ctx, fingerprint, action)

    add_commands(app, api, APPLICATIONS, APPLICATION_COMMANDS)

    @app.get("/v1/label-applications/{application_id}", tags=[APPLICATION_TAG], response_model=CaseState,
             responses=ERROR_RESPONSES, operation_id="label_applications_read", summary="An application's state",
             openapi_extra=message_extension(A.STATE, "query", (Scope.CASE_READ,)))
    async def read_application(
        application_id: str = Path(..., pattern=APPLICATION_PATTERN),
        _: Caller = Depends(require(Scope.CASE_READ)),
    ) -> CaseState:
        return await read_label_case(api, application_id, "the application", LabelApplicationState)

    letter_route(app, pool, api.client, require(Scope.CASE_READ), APPLICATION_TAG)
    structure_route(app, pool, require(Scope.CASE_READ), APPLICATION_TAG)

    add_commands(app, api, LABELS, LABEL_COMMANDS)

    @app.get("/v1/labels/{structure_id}", tags=[LABEL_TAG], response_model=CaseState, responses=ERROR_RESPONSES,
             operation_id="labels_read", summary="A structure's granted label (validity, reviews, withdrawal)",
             openapi_extra=message_extension(A.STATE, "query", (Scope.CASE_READ,)))
    async def read_label(
        structure_id: str = Path(..., pattern=STRUCTURE_PATTERN),
        _: Caller = Depends(require(Scope.CASE_READ)),
    ) -> CaseState:
        return await read_label_case(api, label_workflow_id(structure_id), "the label", None)
