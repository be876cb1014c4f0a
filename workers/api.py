"""HTTP API for the Département's other services (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Services that do not speak Temporal start pathways, send pathway events, file label applications and their
decisions, and read a case's state. Every route needs a bearer token with the route's scope
(``workers.api_auth``).

Personal data: the NIR arrives only in the body of ``POST /v1/pathways`` (and ``/v1/pathways/resolve``); it is
validated, turned into the opaque person id (HMAC, ``PARCOURS_PERSON_ID_SECRET``) and dropped. It never goes
into a workflow id, a log line, a stored idempotency record or a response. Validation errors name the field
but never echo the value.

Idempotency: every POST honours an ``Idempotency-Key`` header (per calling service). The first response is
stored (PostgreSQL, migration 007) and replayed to a retry with the same body (``Idempotent-Replayed: true``);
the same key with a different body is refused (422); a retry while the first is still running gets 409. Events
without an ``event_id`` get one derived from the key, so the workflow also drops a duplicate that slipped past.
"""

# No ``from __future__ import annotations`` here: the command routes are built in a loop with their body model
# as a real (not string) annotation, which FastAPI reads to validate the body and document it.

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Awaitable, Callable, Literal

import asyncpg
import structlog
from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain import label_messages as lm
from domain import pathway as pw
from domain.identity import NirError, person_id, validate_nir
from domain.label import application_workflow_id, label_workflow_id
from domain.pathway_rules import pathway_workflow_id
from workers.api_label_registry import file_with_claim, letter_route, registry_for, structure_route
from workers.api_auth import ApiTokens, Caller, Scope, load_api_tokens
from workers.config import Settings
from workflows import search_attributes as sa
from domain.label_contract import LABEL_APPLICATION_WORKFLOW
from workflows.label_application import LabelApplicationState
from workflows.pathway import signal_flow_record

log = structlog.get_logger("parcours.api")

API_VERSION = "1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
IDEMPOTENCY_RETENTION = timedelta(days=7)
QUERY_TIMEOUT = timedelta(seconds=10)


# ------------------------------------------------------------------------------------------------ errors


class ApiError(Exception):
    """An answer other than success: ``code`` is stable for programs, ``message`` is for people."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class ErrorBody(BaseModel):
    error: str = Field(description="Stable error code (validation_error, unauthorized, refused, ...)")
    message: str
    field: str | None = Field(None, description="The field at fault, when there is one")


def _field_name(loc: tuple[Any, ...]) -> str:
    """``("body", "cer", "actions", 0, "end")`` → ``cer.actions[0].end``; headers/path keep their place."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in ("body", "header", "path", "query") else None
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if where in ("header", "path", "query"):
        return f"{where} {text}".strip()
    return text or "body"


def _error_message(error: dict[str, Any]) -> str:
    """Pydantic's message without the input value (which may be a NIR) and without its "Value error," prefix."""
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message


def validation_error_response(errors: list[dict[str, Any]]) -> JSONResponse:
    fields = [{"field": _field_name(tuple(e.get("loc", ()))), "message": _error_message(e)} for e in errors]
    first = fields[0] if fields else {"field": "body", "message": "invalid request"}
    body = {
        "error": "validation_error",
        "message": f"{first['field']}: {first['message']}",
        "field": first["field"],
        "fields": fields,
    }
    return JSONResponse(body, status_code=422)


# ------------------------------------------------------------------------------------------------ idempotency


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


class IdempotencyStore:
    """Adapter over ``api_idempotency`` (migration 007): claim a key, store its response, replay it."""

    def __init__(self, pool: asyncpg.Pool, takeover_after: timedelta = timedelta(seconds=60)) -> None:
        self._pool = pool
        self._takeover_after = takeover_after

    async def claim(self, service: str, key: str, request_hash: bytes) -> StoredResponse | None:
        """None: this request owns the key and must run; a StoredResponse: replay it. Raises on conflicts."""
        for _ in range(3):
            inserted = await self._pool.fetchval(
                """INSERT INTO api_idempotency (service, idempotency_key, request_hash) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING RETURNING true""",
                service, key, request_hash,
            )
            if inserted:
                return None
            row = await self._pool.fetchrow(
                """SELECT request_hash, status_code, response, started_at,
                          started_at < now() - $3::interval AS stale
                     FROM api_idempotency WHERE service = $1 AND idempotency_key = $2""",
                service, key, self._takeover_after,
            )
            if row is None:
                continue  # released between our insert and select: try again
            if not hmac.compare_digest(bytes(row["request_hash"]), request_hash):
                raise ApiError(
                    422, "idempotency_key_reused",
                    f"this {IDEMPOTENCY_HEADER} was already used with a different request; use a new key",
                    field=f"header {IDEMPOTENCY_HEADER}",
                )
            if row["status_code"] is not None:
                return StoredResponse(row["status_code"], json.loads(row["response"]))
            if row["stale"]:
                taken = await self._pool.execute(
                    """UPDATE api_idempotency SET started_at = now()
                        WHERE service = $1 AND idempotency_key = $2 AND status_code IS NULL AND started_at = $3""",
                    service, key, row["started_at"],
                )
                if taken == "UPDATE 1":
                    return None
            raise ApiError(
                409, "idempotency_key_in_progress",
                f"a request with this {IDEMPOTENCY_HEADER} is still being processed; retry later",
                field=f"header {IDEMPOTENCY_HEADER}", headers={"Retry-After": "1"},
            )
        raise ApiError(503, "idempotency_store_busy", "the idempotency store is busy; retry later")

    async def complete(self, service: str, key: str, response: StoredResponse) -> None:
        await self._pool.execute(
            """UPDATE api_idempotency SET status_code = $3, response = $4::jsonb, completed_at = now()
                WHERE service = $1 AND idempotency_key = $2""",
            service, key, response.status, json.dumps(response.body),
        )

    async def release(self, service: str, key: str) -> None:
        """Forget a claim whose request failed for a transient reason, so a retry runs again."""
        await self._pool.execute(
            "DELETE FROM api_idempotency WHERE service = $1 AND idempotency_key = $2 AND status_code IS NULL",
            service, key,
        )

    async def purge(self, older_than: timedelta = IDEMPOTENCY_RETENTION) -> int:
        result = await self._pool.execute(
            "DELETE FROM api_idempotency WHERE started_at < now() - $1::interval", older_than
        )
        return int(result.split()[-1])


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass
class PostContext:
    """What every POST handler receives: the caller, its optional idempotency key, the request."""

    caller: Caller
    key: str | None
    method: str
    path: str

    def event_id(self, given: str | None) -> str:
        """The caller's event id, else one derived from the idempotency key (stable across retries)."""
        if given:
            return given
        if self.key:
            digest = hashlib.sha256(f"{self.caller.service}\n{self.key}".encode("utf-8")).hexdigest()[:32]
            return f"api-{digest}"
        return f"api-{uuid.uuid4().hex}"


class Api:
    """State shared by the routes: the Temporal client, settings, idempotency store."""

    def __init__(self, client: Client, settings: Settings, store: IdempotencyStore | None) -> None:
        self.client = client
        self.settings = settings
        self.store = store

    def request_hash(self, ctx: PostContext, fingerprint: Any) -> bytes:
        """Keyed hash of what the request does (never the NIR itself: fingerprints carry the person id)."""
        text = json.dumps([ctx.method, ctx.path, _canonical(fingerprint)], sort_keys=True, separators=(",", ":"))
        return hmac.new(self.settings.person_id_key, text.encode("utf-8"), hashlib.sha256).digest()

    async def idempotent(self, ctx: PostContext, fingerprint: Any,
                         action: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> JSONResponse:
        """Run ``action`` once per (service, key); replay its stored answer to retries with the same body."""
        if ctx.key is None or self.store is None:
            status, body = await _answer(action)
            return JSONResponse(body, status_code=status)
        service = ctx.caller.service
        stored = await self.store.claim(service, ctx.key, self.request_hash(ctx, fingerprint))
        if stored is not None:
            log.info("api_idempotent_replay", service=service, path=ctx.path, status=stored.status)
            return JSONResponse(stored.body, status_code=stored.status, headers={REPLAYED_HEADER: "true"})
        try:
            status, body = await _answer(action)
        except BaseException:
            await self.store.release(service, ctx.key)
            raise
        if status >= 500:
            await self.store.release(service, ctx.key)
        else:
            await self.store.complete(service, ctx.key, StoredResponse(status, body))
        return JSONResponse(body, status_code=status)


async def _answer(action: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> tuple[int, dict[str, Any]]:
    """The action's answer; business refusals (ApiError 4xx) are answers too, stored and replayed."""
    try:
        return await action()
    except ApiError as error:
        if error.status >= 500 or error.headers:
            raise
        return error.status, error.body()


# ------------------------------------------------------------------------------------------------ Temporal calls


def _temporal_error(error: BaseException, what: str) -> ApiError:
    """Translate a client error into an answer (never leaking payloads: messages are the workflow's own)."""
    if isinstance(error, WorkflowUpdateFailedError):
        cause = error.cause
        if isinstance(cause, ApplicationError):
            return ApiError(409, "refused", cause.message or "refused by the case", rule=cause.type or "refused")
        return ApiError(409, "refused", str(getattr(cause, "message", "") or "refused by the case"), rule="refused")
    if isinstance(error, WorkflowUpdateRPCTimeoutOrCancelledError):
        return ApiError(504, "timeout", f"{what} did not answer in time; retry with the same {IDEMPOTENCY_HEADER}")
    if isinstance(error, WorkflowAlreadyStartedError):
        return ApiError(409, "case_closed", f"{what} is closed; it cannot be started again")
    if isinstance(error, WorkflowQueryFailedError):
        return ApiError(503, "query_failed", f"{what} could not be read right now")
    if isinstance(error, RPCError):
        if error.status == RPCStatusCode.NOT_FOUND:
            if "already completed" in (error.message or ""):
                return ApiError(409, "case_closed", f"{what} is closed; it accepts no more events")
            return ApiError(404, "not_found", f"{what} does not exist")
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                            RPCStatusCode.RESOURCE_EXHAUSTED):
            return ApiError(503, "temporal_unavailable", "the workflow service is unavailable; retry later")
    return ApiError(500, "internal_error", f"{what}: unexpected error ({type(error).__name__})")


_TEMPORAL_ERRORS = (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowAlreadyStartedError,
                    WorkflowQueryFailedError, RPCError)


async def _call(what: str, coro: Awaitable[Any]) -> Any:
    try:
        return await coro
    except _TEMPORAL_ERRORS as error:
        raise _temporal_error(error, what) from None


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"


# ------------------------------------------------------------------------------------------------ request bodies


_BODIES: dict[type[BaseModel], type[BaseModel]] = {}


def api_body(message: type[BaseModel]) -> type[BaseModel]:
    """The request body of a workflow message: same fields, ``event_id`` optional, unknown fields refused."""
    if message in _BODIES:
        return _BODIES[message]
    namespace = {
        "__module__": __name__,
        "__doc__": message.__doc__,
        "__annotations__": {"event_id": str | None},
        "event_id": Field(
            None, min_length=1, max_length=200,
            description="Id of the event in the sender's system; a re-sent id is ignored by the case. "
                        f"Default: derived from {IDEMPOTENCY_HEADER}, else random.",
        ),
        "model_config": ConfigDict(extra="forbid"),
    }
    _BODIES[message] = type(f"{message.__name__}Request", (message,), namespace)
    return _BODIES[message]


def to_message(message: type[BaseModel], body: BaseModel, event_id: str) -> BaseModel:
    data = {name: getattr(body, name) for name in message.model_fields}
    data["event_id"] = event_id
    return message.model_validate(data)


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


class EventAccepted(BaseModel):
    """A signal delivered to the case; it is applied asynchronously (duplicates ignored by event id)."""

    case_id: str
    event: str
    event_id: str
    status: Literal["accepted"] = "accepted"


# ------------------------------------------------------------------------------------------------ app


def create_app(client: Client, settings: Settings, pool: asyncpg.Pool | None, *,
               tokens: ApiTokens | None = None) -> FastAPI:
    """The API app. ``pool`` backs the Idempotency-Key store (None: keys are not honoured — tests of auth
    only); ``tokens`` default to ``PARCOURS_API_TOKENS`` (production)."""
    tokens = tokens if tokens is not None else load_api_tokens(None)
    api = Api(client, settings, IdempotencyStore(pool) if pool is not None else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if api.store is not None:
            try:
                purged = await api.store.purge()
                if purged:
                    log.info("api_idempotency_purged", rows=purged)
            except Exception as error:  # never block startup on housekeeping
                log.warning("api_idempotency_purge_failed", error=type(error).__name__)
        yield

    app = FastAPI(
        title="parcours-rsa API",
        version=API_VERSION,
        description=(__doc__ or "").strip(),
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.api = api

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _framework_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        """The framework's own refusals (no such route, unreadable body) in the API's error body too."""
        if error.status_code == 400:  # a body that is not valid UTF-8 / JSON
            return validation_error_response([{"loc": ("body",), "msg": "the body is not valid JSON text"}])
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(error.detail)}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        log.info("api_invalid_request", path=_route_path(request),
                 fields=[_field_name(tuple(e.get("loc", ()))) for e in errors])
        return validation_error_response(errors)

    @app.middleware("http")
    async def _access_log(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        caller = getattr(request.state, "caller", None)
        log.info("api_request", method=request.method, path=_route_path(request), status=response.status_code,
                 service=caller.service if caller else None, ms=round((time.perf_counter() - started) * 1000, 1))
        return response

    bearer = HTTPBearer(auto_error=False, description="Token of the calling service (PARCOURS_API_TOKENS)")

    def require(*scopes: Scope) -> Callable[..., Caller]:
        """Dependency: the caller, holding at least one of ``scopes``."""

        def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
            token = credentials.credentials if credentials else None
            if not token:
                raise ApiError(401, "unauthorized", "bearer token required",
                               headers={"WWW-Authenticate": "Bearer"})
            caller = tokens.authenticate(token)
            if caller is None:
                log.warning("api_unknown_token", path=_route_path(request))
                raise ApiError(401, "unauthorized", "token not recognised",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            request.state.caller = caller
            if not any(caller.has(scope) for scope in scopes):
                needed = " or ".join(s.value for s in scopes)
                log.warning("api_forbidden", service=caller.service, path=_route_path(request), needed=needed)
                raise ApiError(403, "forbidden", f"this token lacks the scope {needed}",
                               headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'})
            return caller

        return dependency

    def post_context(*scopes: Scope) -> Callable[..., PostContext]:
        """Dependency of every POST: caller + validated Idempotency-Key."""
        auth = require(*scopes)

        def dependency(
            request: Request,
            caller: Caller = Depends(auth),
            key: str | None = Header(
                None, alias=IDEMPOTENCY_HEADER, min_length=1, max_length=MAX_KEY_LENGTH,
                pattern=r"^[\x21-\x7e]+$",
                description="Any unique string (e.g. a UUID) chosen by the caller; a retry with the same key and "
                            "body gets the first response again.",
            ),
        ) -> PostContext:
            return PostContext(caller, key, request.method, request.url.path)

        return dependency

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    _pathway_routes(app, api, require, post_context)
    _label_routes(app, api, require, post_context, pool)
    return app


def _route_path(request: Request) -> str:
    """The route template (``/v1/pathways/{pathway_id}``) when matched, else the raw path."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or request.url.path


# ------------------------------------------------------------------------------------------------ routes

UPDATE_TIMEOUT = timedelta(seconds=30)
_STRUCTURE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_PATHWAY_PATTERN = r"^pathway-[0-9a-f]{32}$"
_APPLICATION_PATTERN = r"^label-[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}-[1-9][0-9]{0,5}$"
_TERRITORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


@dataclass(frozen=True)
class Command:
    """One POST route sending a workflow message: a signal (202, applied later) or an update (200, answered)."""

    path: str
    name: str  # the workflow's signal or update name
    kind: Literal["signal", "update"]
    message: type[BaseModel]
    scope: Scope
    summary: str


class CommandAnswer(BaseModel):
    """An update's answer: the case's stage after it; ``duplicate`` when the event id was already applied."""

    case_id: str
    event: str
    event_id: str
    stage: str
    duplicate: bool = False


async def _send(api: Api, workflow_id: str, what: str, command: Command, message: BaseModel) -> tuple[int, dict]:
    handle = api.client.get_workflow_handle(workflow_id)
    event_id = getattr(message, "event_id")
    try:
        if command.kind == "signal":
            await _call(what, handle.signal(command.name, message))
            return 202, EventAccepted(case_id=workflow_id, event=command.name,
                                      event_id=event_id).model_dump(mode="json")
        try:
            result = await asyncio.wait_for(_call(what, handle.execute_update(command.name, message)),
                                            UPDATE_TIMEOUT.total_seconds())
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout",
                           f"{what} did not answer in time; retry with the same {IDEMPOTENCY_HEADER}") from None
    except ApiError as error:
        if error.code == "not_found":
            raise await _closed_or_missing(handle, what, error) from None
        raise
    if isinstance(result, dict):  # pathway CommandResult {"stage", "duplicate"} (no result type given)
        stage, duplicate = str(result.get("stage")), bool(result.get("duplicate", False))
    else:  # label workflows answer their stage
        stage, duplicate = str(getattr(result, "value", result)), False
    answer = CommandAnswer(case_id=workflow_id, event=command.name, event_id=event_id, stage=stage, duplicate=duplicate)
    return 200, answer.model_dump(mode="json")


async def _closed_or_missing(handle: Any, what: str, not_found: ApiError) -> ApiError:
    """A signal or update to a closed case is refused as NOT_FOUND by the server: tell the two apart."""
    try:
        description = await handle.describe()
    except _TEMPORAL_ERRORS:
        return not_found
    if description.status != WorkflowExecutionStatus.RUNNING:
        return ApiError(409, "case_closed", f"{what} is closed ({_status_name(description.status)}); "
                                            "it accepts no more events")
    return not_found


def _add_command(app: FastAPI, api: Api, post_context: Callable[..., Callable[..., PostContext]], *,
                 prefix: str, id_name: str, id_pattern: str, to_workflow_id: Callable[[str], str],
                 what: str, tag: str, command: Command) -> None:
    """``POST {prefix}/{id}/{command.path}``: the body is the workflow message with an optional event id."""
    body_model = api_body(command.message)
    answer_model = EventAccepted if command.kind == "signal" else CommandAnswer
    status = 202 if command.kind == "signal" else 200
    context = post_context(command.scope)

    async def endpoint(
        body: body_model,  # type: ignore[valid-type]
        case: str = Path(..., alias=id_name, pattern=id_pattern),
        ctx: PostContext = Depends(context),
    ) -> JSONResponse:
        workflow_id = to_workflow_id(case)
        message = to_message(command.message, body, ctx.event_id(body.event_id))

        async def action() -> tuple[int, dict]:
            return await _send(api, workflow_id, what, command, message)

        return await api.idempotent(ctx, {"case": workflow_id, "message": message}, action)

    app.post(
        f"{prefix}/{{{id_name}}}/{command.path}",
        summary=command.summary,
        tags=[tag],
        status_code=status,
        response_model=answer_model,
        operation_id=f"{tag.replace(' ', '_')}_{command.name}",
        responses=_ERROR_RESPONSES,
        description=f"Sends the `{command.name}` {command.kind} to the case. Scope: `{command.scope.value}`.",
    )(endpoint)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown token"},
    403: {"model": ErrorBody, "description": "The token lacks the route's scope"},
    404: {"model": ErrorBody, "description": "No such case"},
    409: {"model": ErrorBody, "description": "Refused by the case (its rule in `rule`), case closed, or the "
                                             "Idempotency-Key is still in progress"},
    422: {"model": ErrorBody, "description": "Invalid request (the field is named), or an Idempotency-Key reused "
                                             "with a different body"},
}


def _search_attribute(description: Any, key: Any) -> Any:
    try:
        return description.typed_search_attributes.get(key)
    except Exception:
        return None


# ------------------------------------------------------------------------------------------------ pathways


class StartPathwayRequest(NirBody):
    """A person's CAF/MSA flow record: starts the pathway, or is an event on the running one."""

    territory: str = Field(pattern=_TERRITORY_PATTERN, description="Territory code (coarse, never an address)")
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


def _pathway_routes(app: FastAPI, api: Api, require: Callable[..., Callable[..., Caller]],
                    post_context: Callable[..., Callable[..., PostContext]]) -> None:
    tag = "pathways"
    settings = api.settings

    @app.post("/v1/pathways", tags=[tag], status_code=202, response_model=PathwayStarted,
              responses=_ERROR_RESPONSES, operation_id="pathways_start",
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
            handle = await _call("the pathway", signal_flow_record(
                api.client, pid, body.territory, record, task_queue=settings.temporal_task_queue))
            return 202, PathwayStarted(pathway_id=handle.id, event_id=record.event_id).model_dump(mode="json")

        return await api.idempotent(ctx, {"person_id": pid, "territory": body.territory, "record": record}, action)

    @app.post("/v1/pathways/resolve", tags=[tag], response_model=ResolvedPathway, responses=_ERROR_RESPONSES,
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
        _add_command(app, api, post_context, prefix="/v1/pathways", id_name="pathway_id", id_pattern=_PATHWAY_PATTERN,
                     to_workflow_id=lambda case: case, what="the pathway", tag=tag, command=command)

    @app.get("/v1/pathways/{pathway_id}", tags=[tag], response_model=PathwayCase, responses=_ERROR_RESPONSES,
             response_model_exclude_none=False, operation_id="pathways_read", summary="A pathway's state")
    async def read_pathway(
        pathway_id: str = Path(..., pattern=_PATHWAY_PATTERN),
        caller: Caller = Depends(require(Scope.CASE_READ)),
    ) -> PathwayCase:
        """Ids, stage and deadlines (from the workflow; from its search attributes if no worker answers).
        ``personal`` (CER dates, stage history, breaches, exit reason) needs the ``personal_data`` scope."""
        handle = api.client.get_workflow_handle(pathway_id)
        description = await _call("the pathway", handle.describe())
        case = PathwayCase(
            pathway_id=pathway_id,
            status=_status_name(description.status),
            source="search_attributes",
            stage=_search_attribute(description, sa.STAGE),
            territory=_search_attribute(description, sa.TERRITORY),
            rule_set=_search_attribute(description, sa.RULE_SET),
            subject_to_duties=_search_attribute(description, sa.SUBJECT_TO_DUTIES),
            referent_type=_search_attribute(description, sa.REFERENT_TYPE),
            next_deadline=_search_attribute(description, sa.NEXT_DEADLINE),
            breach_count=_search_attribute(description, sa.BREACH_COUNT),
        )
        try:
            view: pw.PathwayView = await handle.query("view", result_type=pw.PathwayView,
                                                      rpc_timeout=QUERY_TIMEOUT)
        except _TEMPORAL_ERRORS as error:
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


# ------------------------------------------------------------------------------------------------ labels


class SubmitApplicationRequest(BaseModel):
    """A label application filed on epartenaires (L1): creates the application case and submits it."""

    model_config = ConfigDict(extra="forbid")

    structure_id: str = Field(pattern=_STRUCTURE_PATTERN, description="Opaque structure id")
    application_no: int = Field(ge=1, le=999999, description="1 for the structure's first application, then 2, ...")
    territory: str = Field(pattern=_TERRITORY_PATTERN, description="Territory of the lead SLAI")
    other_territories: list[Annotated[str, Field(pattern=_TERRITORY_PATTERN)]] = Field(
        [], max_length=10, description="Other territories the structure works on: their SLAIs are consulted (G-L22)")
    filed_on: date | None = Field(None, description="Filing date (default: today)")
    event_id: str | None = Field(None, min_length=1, max_length=200)


class CaseState(BaseModel):
    """A label case's state (no personal data: structures are organisations)."""

    case_id: str
    status: str
    stage: str | None
    next_deadline: datetime | None
    state: dict[str, Any] | None = Field(None, description="The workflow's state (without its technical fields)")


APPLICATION_COMMANDS = (
    Command("admin-evaluation", "record_admin_evaluation", "update", lm.AdminEvaluation, Scope.LABEL_DECIDE,
            "DPID administrative evaluation (L3)"),
    Command("evaluation", "submit_evaluation", "update", lm.EvaluationSubmitted, Scope.LABEL_DECIDE,
            "DPID evaluation from the file: attestations and Annexe 2 grids; the case computes coverage, "
            "the seeded sample and the averages (L3)"),
    Command("slai-opinion", "record_slai_opinion", "update", lm.SlaiOpinion, Scope.LABEL_DECIDE,
            "SLAI confirms or reworks the DPID opinion"),
    Command("territory-opinion", "record_territory_opinion", "update", lm.TerritoryOpinion, Scope.LABEL_DECIDE,
            "Opinion of a consulted SLAI (G-L22: structure working on several territories)"),
    Command("joint-review", "record_joint_review", "update", lm.JointReview, Scope.LABEL_DECIDE,
            "Siège–SLAI joint review below 80 % (L4)"),
    Command("decision", "decide", "update", lm.Decision, Scope.LABEL_DECIDE, "Grant or refuse the label"),
    Command("receipt", "acknowledge_receipt", "update", lm.ReceiptAcknowledged, Scope.LABEL_DECIDE,
            "Acknowledgement of receipt of the registered letter (its date is the notification date)"),
    Command("letter-sent", "record_letter_sent", "update", lm.LetterSent, Scope.LABEL_DECIDE,
            "The refusal letter was posted by LRAR (number, date): the receipt reminder runs from it"),
    Command("moratorium-sheet", "record_moratorium_sheet", "update", lm.MoratoriumSheet, Scope.LABEL_DECIDE,
            "Annexe 4 moratorium follow-up sheet"),
    Command("reapplication", "reapply", "update", lm.Reapplication, Scope.LABEL_APPLY,
            "New application after the moratorium (L7)"),
    Command("recours-gracieux", "file_recours_gracieux", "update", lm.AppealFiled, Scope.LABEL_APPLY,
            "Recours gracieux filed (within 2 months of the notification)"),
    Command("recours-gracieux-answer", "answer_recours_gracieux", "update", lm.GracieuxAnswer, Scope.LABEL_DECIDE,
            "Answer to the recours gracieux"),
    Command("recours-contentieux", "file_recours_contentieux", "update", lm.AppealFiled, Scope.LABEL_APPLY,
            "Recours contentieux filed at the tribunal administratif"),
    Command("judgment", "record_judgment", "update", lm.Judgment, Scope.LABEL_DECIDE, "The tribunal's judgment"),
)

LABEL_NOTICE_COMMANDS = tuple(
    c for c in APPLICATION_COMMANDS if c.name in ("record_letter_sent", "acknowledge_receipt", "file_recours_gracieux", "answer_recours_gracieux",
                  "file_recours_contentieux", "record_judgment")
)  # a withdrawal or a renewal refusal is notified and appealed as a refused application is

LABEL_COMMANDS = (
    Command("annual-review", "record_annual_review", "update", lm.AnnualReview, Scope.LABEL_DECIDE,
            "Yearly charte qualité and training review (L15)"),
    Command("renewal-request", "request_renewal", "update", lm.RenewalRequest, Scope.LABEL_APPLY,
            "Renewal requested (January–July of the last year)"),
    Command("renewal-decision", "decide_renewal", "update", lm.RenewalDecision, Scope.LABEL_DECIDE,
            "Renewal granted or refused"),
    Command("mission-ended", "end_mission", "update", lm.MissionEnded, Scope.LABEL_APPLY,
            "The structure ends its RSA accompaniment mission (W1: the label lapses)"),
    Command("commitment-breach", "report_commitment_breach", "update", lm.CommitmentBreach, Scope.LABEL_DECIDE,
            "Commitments not respected: prior notice, 1 month of observations (W2)"),
    Command("observations", "record_observations", "update", lm.ObservationsReceived, Scope.LABEL_APPLY,
            "The structure's observations"),
    Command("withdrawal-decision", "decide_withdrawal", "update", lm.WithdrawalDecision, Scope.LABEL_DECIDE,
            "Withdraw or maintain the label (W2)"),
    Command("quality-issue", "report_quality_issue", "update", lm.QualityIssue, Scope.LABEL_DECIDE,
            "CER quality no longer assured: 6 months of SLAI support (W3)"),
    Command("remediation-outcome", "decide_remediation", "update", lm.RemediationOutcome, Scope.LABEL_DECIDE,
            "New study after the SLAI support (W3)"),
    *LABEL_NOTICE_COMMANDS,
)

_HIDDEN_STATE_FIELDS = {"seen_event_ids", "version"}


async def _read_label_case(api: Api, workflow_id: str, what: str, state_type: type[BaseModel] | None) -> CaseState:
    handle = api.client.get_workflow_handle(workflow_id)
    description = await _call(what, handle.describe())
    case = CaseState(
        case_id=workflow_id,
        status=_status_name(description.status),
        stage=_search_attribute(description, sa.LABEL_STAGE),
        next_deadline=_search_attribute(description, sa.NEXT_DEADLINE),
    )
    try:
        state = await handle.query("state", result_type=state_type, rpc_timeout=QUERY_TIMEOUT)
    except _TEMPORAL_ERRORS as error:
        log.warning("api_query_failed", case=what, error=type(error).__name__)
        return case
    data = state.model_dump(mode="json") if isinstance(state, BaseModel) else dict(state)
    case.state = {k: v for k, v in data.items() if k not in _HIDDEN_STATE_FIELDS}
    case.stage = data.get("stage", case.stage)
    return case


def _label_routes(app: FastAPI, api: Api, require: Callable[..., Callable[..., Caller]],
                  post_context: Callable[..., Callable[..., PostContext]], pool: asyncpg.Pool | None) -> None:
    settings = api.settings
    registry = registry_for(pool)
    tag = "label applications"

    @app.post("/v1/label-applications", tags=[tag], response_model=CommandAnswer, responses=_ERROR_RESPONSES,
              operation_id="label_applications_submit", summary="File a label application (L1)")
    async def submit_application(
        body: SubmitApplicationRequest, ctx: PostContext = Depends(post_context(Scope.LABEL_APPLY))
    ) -> JSONResponse:
        """Creates the application case ``label-<structure id>-<n>`` and submits it (update-with-start); a
        retry is answered from the running case. The structure registry refuses (409, with ``rule`` and
        ``until``) a filing while another application of the structure is open or its moratorium runs; a
        filing after the moratorium is the structure's reapplication. Scope: ``label.apply``."""
        workflow_id = application_workflow_id(body.structure_id, body.application_no)
        message = lm.ApplicationSubmitted(event_id=ctx.event_id(body.event_id), filed_on=body.filed_on)

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
                stage = await asyncio.wait_for(
                    _call("the application", api.client.execute_update_with_start_workflow(
                        "submit", message, start_workflow_operation=start)),
                    UPDATE_TIMEOUT.total_seconds())
            except asyncio.TimeoutError:
                raise ApiError(504, "timeout", "the application did not answer in time; retry with the same "
                                               f"{IDEMPOTENCY_HEADER}") from None
            except ApiError as error:
                if error.status >= 500 or error.headers:
                    raise
                return error.status, error.body()
            answer = CommandAnswer(case_id=workflow_id, event="submit", event_id=message.event_id, stage=str(stage))
            return 200, answer.model_dump(mode="json")

        async def action() -> tuple[int, dict]:
            return await file_with_claim(registry, body.structure_id, workflow_id, body.filed_on, submit)

        fingerprint = {"case": workflow_id, "territory": body.territory, "message": message}
        if body.other_territories:
            fingerprint["others"] = body.other_territories
        return await api.idempotent(ctx, fingerprint,
                                    action)

    for command in APPLICATION_COMMANDS:
        _add_command(app, api, post_context, prefix="/v1/label-applications", id_name="application_id",
                     id_pattern=_APPLICATION_PATTERN, to_workflow_id=lambda case: case, what="the application",
                     tag=tag, command=command)

    @app.get("/v1/label-applications/{application_id}", tags=[tag], response_model=CaseState,
             responses=_ERROR_RESPONSES, operation_id="label_applications_read", summary="An application's state")
    async def read_application(
        application_id: str = Path(..., pattern=_APPLICATION_PATTERN),
        _: Caller = Depends(require(Scope.CASE_READ)),
    ) -> CaseState:
        return await _read_label_case(api, application_id, "the application", LabelApplicationState)

    letter_route(app, pool, api.client, require(Scope.CASE_READ), tag)
    structure_route(app, pool, require(Scope.CASE_READ), tag)

    label_tag = "labels"
    for command in LABEL_COMMANDS:
        _add_command(app, api, post_context, prefix="/v1/labels", id_name="structure_id",
                     id_pattern=_STRUCTURE_PATTERN, to_workflow_id=label_workflow_id, what="the label",
                     tag=label_tag, command=command)

    @app.get("/v1/labels/{structure_id}", tags=[label_tag], response_model=CaseState, responses=_ERROR_RESPONSES,
             operation_id="labels_read", summary="A structure's granted label (validity, reviews, withdrawal)")
    async def read_label(
        structure_id: str = Path(..., pattern=_STRUCTURE_PATTERN),
        _: Caller = Depends(require(Scope.CASE_READ)),
    ) -> CaseState:
        return await _read_label_case(api, label_workflow_id(structure_id), "the label", None)
