"""Pathway routes: start a person's pathway from a flow record, resolve a NIR to its pathway id, send the
pathway's commands, read its state.

Personal data: the NIR arrives only in the body of ``POST /v1/pathways`` (and ``/v1/pathways/resolve``); it is
validated, turned into the opaque person id (HMAC, ``PARCOURS_PERSON_ID_SECRET``) and dropped. It never goes
into a workflow id, a log line, a stored idempotency record or a response.
"""

from datetime import date, datetime
from typing import Any, Literal

import asyncpg
import structlog
from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from activities.pathway_anomalies import PathwayAnomalies
from activities.pathway_start import signal_with_start
from activities.person_links import PersonLinks
from domain import pathway as pw
from domain import plein_emploi as pe
from domain.identity import NirError, person_id, validate_nir
from domain.pathway_contract import Query, Signal, Update
from domain.pathway_constants import pathway_workflow_id
from workers.api.auth import Caller, Scope
from workers.api.bodies import EVENT_ID_PATTERN, strict_body
from workers.api.commands import (
    PATHWAY_PATTERN, TERRITORY_PATTERN, Command, Resource, add_commands, message_extension,
)
from workers.api.event_ids import fingerprint_event
from workers.api.dependencies import post_context, require
from workers.api.errors import ERROR_RESPONSES
from workers.api.idempotency import IDEMPOTENCY_HEADER, Api, PostContext
from workers.api.temporal import QUERY_TIMEOUT, TEMPORAL_ERRORS, call, search_attribute, status_name
from workers.runtime.config import Settings
from workflows import search_attributes as sa

log = structlog.get_logger("parcours.api")

TAG = "pathways"


class NirBody(BaseModel):
    """A NIR in a request body: validated, never echoed, never logged (``SecretStr``)."""

    model_config = ConfigDict(extra="forbid")

    nir: SecretStr = Field(
        description="NIR: 13 characters, or 15 with the 2-digit key (checked); spaces allowed. Used only to "
                    "compute the opaque person id (the same for both lengths); never stored, logged or returned.",
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
    event_id: str | None = Field(None, pattern=EVENT_ID_PATTERN,
                                 description=f"Id of the flow record; default derived from {IDEMPOTENCY_HEADER}")


class PathwayStarted(BaseModel):
    pathway_id: str
    event: str = Signal.FLOW_RECORD
    event_id: str
    status: Literal["accepted"] = "accepted"


class ResolvedPathway(BaseModel):
    pathway_id: str


class DeadlineOut(BaseModel):
    id: str
    kind: str
    due: date
    status: str


class DecisionOut(BaseModel):
    """A person's command applied to the case, with who sent it (ids only)."""

    seq: int
    command: str = Field(description="The workflow update's name")
    on: date
    stage: str = Field(description="The stage after it")
    service: str | None = Field(description="The calling service")
    actor: str | None = Field(description="The person's opaque id (X-Actor)")


class AnomalyOut(BaseModel):
    """A message the pathway could not apply, kept as an anomaly (codes only), with its ``REFUSED_EVENT`` task."""

    anomaly_id: str
    message: str = Field(description="The workflow message it came as (signal or update name)")
    code: str = Field(description="The rule's code (e.g. STAGE_NOT_ALLOWED), IMPLAUSIBLE_DATE or DATA_NOT_APPLICABLE")
    stage: str = Field(description="The stage the message found")
    received_on: date
    status: str | None = Field(description="Its REFUSED_EVENT task's status (OPEN, CLAIMED, DONE, CANCELLED)")
    open: bool = Field(description="True while its task is OPEN or CLAIMED")


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
    decisions: list[DecisionOut] | None = Field(None, description="The last people's commands, oldest first")
    anomalies: list[AnomalyOut] | None = Field(
        None, description="The last messages the case could not apply, oldest first (from the read model; null "
                          "when it cannot be read)")
    personal: PathwayPersonal | None = None


def _c(path: str, name: str, kind: str, message: type[BaseModel], by: str, summary: str) -> Command:
    return Command(path, name, kind, message, Scope.PATHWAY_EVENTS, by, summary)  # type: ignore[arg-type]


#: Every message a person or another system sends to a pathway (``flow_record``: ``POST /v1/pathways``).
PATHWAY_COMMANDS = (
    _c("left-rsa", Signal.LEFT_RSA, "signal", pw.LeftRsa, "system", "The person left RSA (end of payment date; flow)"),
    _c("payment-suspended", Signal.PAYMENT_SUSPENDED, "signal", pw.PaymentSuspended, "system",
       "The RSA payment is suspended (flow; MOTISUSVERSRSA codes)"),
    _c("payment-resumed", Signal.PAYMENT_RESUMED, "signal", pw.PaymentResumed, "system",
       "The RSA payment is no longer suspended (flow)"),
    _c("not-subject-confirmed", Signal.NOT_SUBJECT_CONFIRMED, "signal", pw.NotSubjectConfirmed, "system",
       "« Non soumis » confirmed by consecutive flows (G-B8)"),
    _c("orientation", Update.ORIENT, "update", pw.OrientationDecision, "person",
       "Orientation decision notified by the Département (a reason is needed to bypass the platform)"),
    _c("appointments", Update.RECORD_APPOINTMENT, "update", pw.AppointmentEvent, "person",
       "An appointment scheduled, held or missed (excused or not)"),
    _c("diagnostic", Update.RECORD_DIAGNOSTIC, "update", pw.DiagnosticCompleted, "person",
       "The platform's diagnostic is completed (T10)"),
    _c("preconisation", Update.SUBMIT_PRECONISATION, "update", pw.PreconisationSubmitted, "person",
       "The platform's préconisation of the accompanying structure (T11)"),
    _c("preconisation-decision", Update.DECIDE_PRECONISATION, "update", pw.SlaiPreconisationDecision, "person",
       "SLAI validation of the préconisation, possibly with another target (T11, T12)"),
    _c("cer", Update.SIGN_CER, "update", pw.SignCer, "person",
       "A CER signed under the 2023 rules (refused on a 2025 case, whose contrat-engagement replaces it, §8.3; "
       "refused if longer than 6 months, or breaking another CER rule)"),
    _c("cer-amendment", Update.AMEND_CER, "update", pw.AmendCer, "person",
       "A signed amendment (avenant) moving the active CER's end, within 6 months of its start (R13)"),
    _c("bilan", Update.COMPLETE_BILAN, "update", pw.CompleteBilan, "person",
       "The end-of-CER bilan and its decision (continue, reorient, end)"),
    _c("reorientation-request", Update.REQUEST_REORIENTATION, "update", pw.RequestReorientation, "person",
       "The referent's reasoned reorientation (or exit) request to the SLAI"),
    _c("reorientation-decision", Update.DECIDE_REORIENTATION, "update", pw.DecideReorientation, "person",
       "The SLAI approves (with the new target) or refuses the reorientation"),
    _c("personal-review-request", Update.REQUEST_PERSONAL_REVIEW, "update", pw.PersonalReviewRequest, "person",
       "Personal-situation review requested (clocks paused, G-B17)"),
    _c("personal-review-decision", Update.DECIDE_PERSONAL_REVIEW, "update", pw.PersonalReviewDecision, "person",
       "Personal-situation review decided: resume or reorient"),
    _c("non-compliance", Update.REPORT_NON_COMPLIANCE, "update", pw.NonComplianceReport, "person",
       "Non-compliance reported by the referent: an EP referral is proposed (T20)"),
    _c("ep-referral", Update.CONFIRM_EP_REFERRAL, "update", pw.EpReferralConfirmation, "person",
       "The proposed EP referral confirmed or dropped"),
    _c("ep-decision", Update.DECIDE_EP, "update", pw.EpDecision, "person",
       "The équipe pluridisciplinaire's decision (maintain, sanction procedure, exit)"),
    _c("exit-choice", Update.CHOOSE_AFTER_EXIT, "update", pw.PostExitChoice, "person",
       "After leaving RSA: continue the accompaniment (6 months) or close (G-B15)"),
    _c("caf-saisine", Update.CAF_SAISINE, "update", pw.CafSaisine, "person",
       "CAF route: saisine M1/M2/M3 with the facts of the §3.3 exclusions"),
    _c("caf-saisine-decision", Update.DECIDE_CAF_SAISINE, "update", pw.CafSaisineDecision, "person",
       "CAF route: the saisine accepted or refused"),
    _c("caf-first-interview", Update.CAF_FIRST_INTERVIEW, "update", pw.CafFirstInterview, "person",
       "CAF route: the first interview held, within the CAF's competence or not"),
    _c("lost-from-view-convocations", Update.RECORD_CONVOCATION, "update", pw.LostFromViewConvocation, "person",
       "Perdus-de-vue campaign: a convocation sent, then its outcome (T26)"),
    # the 2025 rules (docs/rule-sets.md)
    _c("france-travail-registration", Signal.FRANCE_TRAVAIL_REGISTERED, "signal", pe.FranceTravailRegistered, "system",
       "2025 rules: the person's registration with France Travail (flow or adapter)"),
    _c("contrat-engagement", Update.SIGN_CONTRAT_ENGAGEMENT, "update", pe.SignContratEngagement, "person",
       "2025 rules: a contrat d'engagement signed (15 hours a week, fewer with the person's situation)"),
    _c("sanction-2025", Update.DECIDE_SANCTION_2025, "update", pe.DecideSanction2025, "person",
       "2025 rules: a suspension-remobilisation decided after the EP referral (30–100 %, 1–2 or up to 4 months, "
       "at most 50 % for a household of more than one person)"),
    _c("remobilisation", Update.REMOBILISED, "update", pe.Remobilised, "person",
       "2025 rules: after a suspension, remobilised (repayment) or not (suppression)"),
    _c("rule-set-switch", Update.SWITCH_RULE_SET, "update", pe.SwitchRuleSet, "person",
       "At the bilan: the case moves to a later rule set (2023 → 2025 rules)"),
)

RESOLVE_SCOPES = (Scope.PATHWAY_EVENTS, Scope.CASE_READ, Scope.PATHWAY_START)
PATHWAYS = Resource(prefix="/v1/pathways", id_name="pathway_id", id_pattern=PATHWAY_PATTERN,
                    to_workflow_id=lambda case: case, what="the pathway", tag=TAG)


def add_pathway_routes(app: FastAPI, api: Api, pool: asyncpg.Pool | None = None) -> None:
    settings = api.settings
    links = PersonLinks(pool) if pool is not None else None
    anomalies = PathwayAnomalies(pool) if pool is not None else None

    async def anomalies_of(pathway_id: str) -> list[AnomalyOut] | None:
        if anomalies is None:
            return None
        try:
            return [AnomalyOut.model_validate(a) for a in await anomalies.of(pathway_id)]
        except (asyncpg.PostgresError, OSError) as error:  # the case's state is still worth answering
            log.warning("api_anomalies_unreadable", path="/v1/pathways/{pathway_id}", error=type(error).__name__)
            return None

    async def person(body: NirBody) -> str:
        """The NIR's person id, or the one of the pathway it was linked to (a person adopted by CAF matricule and
        rank, docs/caseload.md): one person, one pathway."""
        pid = body.person_id(settings)
        return (await links.resolve([(pid, None)], "")).get(pid, pid) if links is not None else pid

    @app.post("/v1/pathways", tags=[TAG], status_code=202, response_model=PathwayStarted,
              responses=ERROR_RESPONSES, operation_id="pathways_start",
              summary="Start a person's pathway from a flow record (or add the record to the running pathway)",
              openapi_extra=message_extension(Signal.FLOW_RECORD, "signal", (Scope.PATHWAY_START,), "system"))
    async def start_pathway(
        request: Request, _: StartPathwayRequest, ctx: PostContext = Depends(post_context(Scope.PATHWAY_START)),
    ) -> JSONResponse:
        """The NIR becomes the opaque person id; the pathway id is ``pathway-<person id>``. A second start for
        the same person is an event on the running pathway (signal-with-start). Scope: ``pathway.start``."""
        body = await strict_body(request, StartPathwayRequest)
        pid = await person(body)
        record = pw.FlowRecord(
            event_id=ctx.event_id(body.event_id), actor=ctx.actor(), transmission_date=body.transmission_date,
            subject_to_duties=body.subject_to_duties, rights_open=body.rights_open, rsa_majore=body.rsa_majore,
        )
        pathway_id = pathway_workflow_id(pid)

        async def action() -> tuple[int, dict]:
            await api.claim_event_id(ctx, pathway_id, record.event_id,
                                     fingerprint_event(Signal.FLOW_RECORD, {**record.model_dump(mode="json"),
                                                                       "territory": body.territory}))
            # A finished former pathway (closed, no re-entry window): the new one is numbered above its read model.
            seq_base = (await links.finished([pid])).get(pid, 0) if links is not None else 0
            handle = await call("the pathway", signal_with_start(
                api.client, pid, body.territory, record, task_queue=settings.temporal_task_queue, seq_base=seq_base))
            return 202, PathwayStarted(pathway_id=handle.id, event_id=record.event_id).model_dump(mode="json")

        return await api.idempotent(ctx, {"person_id": pid, "territory": body.territory, "record": record}, action)

    @app.post("/v1/pathways/resolve", tags=[TAG], response_model=ResolvedPathway, responses=ERROR_RESPONSES,
              operation_id="pathways_resolve", summary="The pathway id of a NIR (computed, or the adopted pathway it is linked to)",
              openapi_extra=message_extension(None, None, RESOLVE_SCOPES))
    async def resolve_pathway(
        request: Request, _: NirBody,
        ctx: PostContext = Depends(post_context(*RESOLVE_SCOPES)),
    ) -> JSONResponse:
        """For services that know the person by NIR only. Scope: any of ``pathway.events``, ``case.read``,
        ``pathway.start``."""
        body = await strict_body(request, NirBody)
        pathway_id = pathway_workflow_id(await person(body))

        async def action() -> tuple[int, dict]:
            return 200, ResolvedPathway(pathway_id=pathway_id).model_dump()

        return await api.idempotent(ctx, {"pathway_id": pathway_id}, action)

    add_commands(app, api, PATHWAYS, PATHWAY_COMMANDS)

    @app.get("/v1/pathways/{pathway_id}", tags=[TAG], response_model=PathwayCase, responses=ERROR_RESPONSES,
             response_model_exclude_none=False, operation_id="pathways_read", summary="A pathway's state",
             openapi_extra=message_extension(Query.VIEW, "query", (Scope.CASE_READ,)))
    async def read_pathway(
        pathway_id: str = Path(..., pattern=PATHWAY_PATTERN),
        caller: Caller = Depends(require(Scope.CASE_READ)),
    ) -> PathwayCase:
        """Ids, stage and deadlines (from the workflow; from its search attributes if no worker answers), and its
        anomalies with whether each is still open (from the read model).
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
            anomalies=await anomalies_of(pathway_id),
        )
        try:
            view: pw.PathwayView = await handle.query(Query.VIEW, result_type=pw.PathwayView,
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
        case.breach_count = sum(1 for b in view.breaches if b.withdrawn_on is None)
        case.run = view.run
        case.decisions = [DecisionOut.model_validate(d.model_dump()) for d in view.decisions]
        if caller.has(Scope.PERSONAL_DATA):
            case.personal = PathwayPersonal(
                active_cer=view.active_cer.model_dump(mode="json") if view.active_cer else None,
                stage_history=[c.model_dump(mode="json") for c in view.stage_history],
                breaches=[b.model_dump(mode="json") for b in view.breaches],
                exit_reason=view.exit_reason.value if view.exit_reason else None,
            )
        return case
