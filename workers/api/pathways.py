"""Pathway routes: start a person's pathway from a flow record, resolve a NIR to its pathway id, send the
pathway's commands, read its state.

Personal data: the NIR arrives only in the body of ``POST /v1/pathways`` (and ``/v1/pathways/resolve``); it is
validated, turned into the opaque person id (HMAC, ``PARCOURS_PERSON_ID_SECRET``) and dropped. It never goes
into a workflow id, a log line, a stored idempotency record or a response.
"""

from datetime import date, datetime
from typing import Any, Literal

import structlog
from fastapi import Depends, FastAPI, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from domain import pathway as pw
from domain.identity import NirError, person_id, validate_nir
from domain.pathway_rules import pathway_workflow_id
from workers.api.auth import Caller, Scope
from workers.api.commands import PATHWAY_PATTERN, TERRITORY_PATTERN, Command, add_command
from workers.api.dependencies import post_context, require
from workers.api.errors import ERROR_RESPONSES
from workers.api.idempotency import IDEMPOTENCY_HEADER, Api, PostContext
from workers.api.temporal import QUERY_TIMEOUT, TEMPORAL_ERRORS, call, search_attribute, status_name
from workers.config import Settings
from workflows import search_attributes as sa
from workflows.pathway import signal_flow_record

log = structlog.get_logger("parcours.api")

TAG = "pathways"


class NirBody(BaseModel):
    """A NIR in a request body: validated, never echoed, never logged (``SecretStr``)."""

    model_config = ConfigDict(extra="forbid")

    nir: SecretStr = Field(
        description="NIR (13 characters and 2-digit key, spaces allowed). Used only to compute the opaque "
                    "person id; never stored, logged or returned.",
        json_schema_extra={"writeOnly": True, "example": "2 84 12 75 123 456 xx"},
    )

    @field_validator("nir")
    @classmethod
    def _valid_nir(cls, value: SecretStr) -> SecretStr:
        try:
            return SecretStr(validate_nir(value.get_secret_value()))
        except NirError as error:
            raise ValueError(str(error)) from None

    def person_id(self, settings: Settings) -> str:
        return person_id(self.nir.get_secret_value(), settings.person_id_key)


class StartPathwayRequest(NirBody):
    """A person's CAF/MSA flow record: starts the pathway, or is an event on the running one."""

    territory: str = Field(pattern=TERRITORY_PATTERN, description="Territory code (coarse, never an address)")
    transmission_date: date = Field(description="Date of the CAF daily transmission (the entry date)")
    subject_to_duties: bool = Field(description="Soumis aux droits et devoirs")
    rights_open: bool = True
    rsa_majore: bool = False
    event_id: str | None = Field(None, min_length=1, max_length=200,
                                 description=f"Id of the flow record; default derived from {IDEMPOTENCY_HEADER}")


class PathwayStarted(BaseModel):
    pathway_id: str
    event: str = "flow_record"
    event_id: str
    status: Literal["accepted"] = "accepted"


class ResolvedPathway(BaseModel):
    pathway_id: str


class DeadlineOut(BaseModel):
    id: str
    kind: str
    due: date
    status: str


class PathwayPersonal(BaseModel):
    """What describes the person's own course (scope ``personal_data``)."""

    active_cer: dict[str, Any] | None
    stage_history: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    exit_reason: str | None


class PathwayCase(BaseModel):
    """A pathway's state: ids, stage, deadlines. ``personal`` only with the ``personal_data`` scope."""

    pathway_id: str
    status: str
    source: Literal["workflow", "search_attributes"]
    stage: str | None
    territory: str | None
    rule_set: str | None
    subject_to_duties: bool | None
    referent_type: str | None
    referent_structure_id: str | None = None
    next_deadline: datetime | None
    breach_count: int | None
    deadlines: list[DeadlineOut] | None = None
    run: int | None = None
    personal: PathwayPersonal | None = None


PATHWAY_COMMANDS = (
    Command("left-rsa", "left_rsa", "signal", pw.LeftRsa, Scope.PATHWAY_EVENTS,
            "The person left RSA (end of payment date)"),
    Command("appointments", "appointment", "signal", pw.AppointmentEvent, Scope.PATHWAY_EVENTS,
            "An appointment scheduled, held or missed (excused or not)"),
    Command("orientation", "orient", "update", pw.OrientationDecision, Scope.PATHWAY_EVENTS,
            "Orientation decision notified by the Département (a reason is needed to bypass the platform)"),
    Command("cer", "sign_cer", "update", pw.SignCer, Scope.PATHWAY_EVENTS,
            "A CER signed (refused if longer than 6 months, or breaking another CER rule)"),
    Command("bilan", "complete_bilan", "update", pw.CompleteBilan, Scope.PATHWAY_EVENTS,
            "The end-of-CER bilan and its decision (continue, reorient, end)"),
)


def add_pathway_routes(app: FastAPI, api: Api) -> None:
    settings = api.settings

    @app.post("/v1/pathways", tags=[TAG], status_code=202, response_model=PathwayStarted,
              responses=ERROR_RESPONSES, operation_id="pathways_start",
              summary="Start a person's pathway from a flow record (or add the record to the running pathway)")
    async def start_pathway(
        body: StartPathwayRequest, ctx: PostContext = Depends(post_context(Scope.PATHWAY_START))
    ) -> JSONResponse:
        """The NIR becomes the opaque person id; the pathway id is ``pathway-<person id>``. A second start for
        the same person is an event on the running pathway. Scope: ``pathway.start``."""
        pid = body.person_id(settings)
        record = pw.FlowRecord(
            event_id=ctx.event_id(body.event_id), transmission_date=body.transmission_date,
            subject_to_duties=body.subject_to_duties, rights_open=body.rights_open, rsa_majore=body.rsa_majore,
        )

        async def action() -> tuple[int, dict]:
            handle = await call("the pathway", signal_flow_record(
                api.client, pid, body.territory, record, task_queue=settings.temporal_task_queue))
            return 202, PathwayStarted(pathway_id=handle.id, event_id=record.event_id).model_dump(mode="json")

        return await api.idempotent(ctx, {"person_id": pid, "territory": body.territory, "record": record}, action)

    @app.post("/v1/pathways/resolve", tags=[TAG], response_model=ResolvedPathway, responses=ERROR_RESPONSES,
              operation_id="pathways_resolve", summary="The pathway id of a NIR (computed, nothing is looked up)")
    async def resolve_pathway(
        body: NirBody,
        ctx: PostContext = Depends(post_context(Scope.PATHWAY_EVENTS, Scope.CASE_READ, Scope.PATHWAY_START)),
    ) -> JSONResponse:
        """For services that know the person by NIR only. Scope: any of ``pathway.events``, ``case.read``,
        ``pathway.start``."""
        pathway_id = pathway_workflow_id(body.person_id(settings))

        async def action() -> tuple[int, dict]:
            return 200, ResolvedPathway(pathway_id=pathway_id).model_dump()

        return await api.idempotent(ctx, {"pathway_id": pathway_id}, action)

    for command in PATHWAY_COMMANDS:
        add_command(app, api, prefix="/v1/pathways", id_name="pathway_id", id_pattern=PATHWAY_PATTERN,
                    to_workflow_id=lambda case: case, what="the pathway", tag=TAG, command=command)

    @app.get("/v1/pathways/{pathway_id}", tags=[TAG], response_model=PathwayCase, responses=ERROR_RESPONSES,
             response_model_exclude_none=False, operation_id="pathways_read", summary="A pathway's state")
    async def read_pathway(
        pathway_id: str = Path(..., pattern=PATHWAY_PATTERN),
        caller: Caller = Depends(require(Scope.CASE_READ)),
    ) -> PathwayCase:
        """Ids, stage and deadlines (from the workflow; from its search attributes if no worker answers).
        ``personal`` (CER dates, stage history, breaches, exit reason) needs the ``personal_data`` scope."""
        handle = api.client.get_workflow_handle(pathway_id)
        description = await call("the pathway", handle.describe())
        case = PathwayCase(
            pathway_id=pathway_id,
            status=status_name(description.status),
            source="search_attributes",
            stage=search_attribute(description, sa.STAGE),
            territory=search_attribute(description, sa.TERRITORY),
            rule_set=search_attribute(description, sa.RULE_SET),
            subject_to_duties=search_attribute(description, sa.SUBJECT_TO_DUTIES),
            referent_type=search_attribute(description, sa.REFERENT_TYPE),
            next_deadline=search_attribute(description, sa.NEXT_DEADLINE),
            breach_count=search_attribute(description, sa.BREACH_COUNT),
        )
        try:
            view: pw.PathwayView = await handle.query("view", result_type=pw.PathwayView,
                                                      rpc_timeout=QUERY_TIMEOUT)
        except TEMPORAL_ERRORS as error:
            log.warning("api_query_failed", path="/v1/pathways/{pathway_id}", error=type(error).__name__)
            return case
        case.source = "workflow"
        case.stage = view.stage.value
        case.rule_set = view.rule_set_version
        case.subject_to_duties = view.subject_to_duties
        case.referent_type = view.referent_type.value if view.referent_type else None
        case.referent_structure_id = view.referent_structure_id
        case.deadlines = [DeadlineOut(id=d.id, kind=d.kind.value, due=d.due, status=d.status) for d in view.deadlines]
        case.breach_count = len(view.breaches)
        case.run = view.run
        if caller.has(Scope.PERSONAL_DATA):
            case.personal = PathwayPersonal(
                active_cer=view.active_cer.model_dump(mode="json") if view.active_cer else None,
                stage_history=[c.model_dump(mode="json") for c in view.stage_history],
                breaches=[b.model_dump(mode="json") for b in view.breaches],
                exit_reason=view.exit_reason.value if view.exit_reason else None,
            )
        return case
