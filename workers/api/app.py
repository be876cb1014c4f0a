"""HTTP API for the Département's other services (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Services that do not speak Temporal start pathways, send pathway events, file label applications and their
decisions, and read a case's state. Every route needs a bearer token with the route's scope
(``workers.api.auth``).

Personal data: the NIR arrives only in the body of ``POST /v1/pathways`` (and ``/v1/pathways/resolve``); it is
validated, turned into the opaque person id (HMAC, ``PARCOURS_PERSON_ID_SECRET``) and dropped. It never goes
into a workflow id, a log line, a stored idempotency record or a response. Validation errors name the field
but never echo the value.

Idempotency: every POST needs an ``Idempotency-Key`` header (per calling service; 428 without). The first
response is stored (PostgreSQL, migration 007) and replayed to a retry with the same body
(``Idempotent-Replayed: true``); the same key with a different body is refused (422); a retry while the first is
still running gets 409. Events without an ``event_id`` get one derived from the key; an ``event_id`` reused with
another command is refused (409, migration 019).

Commands: a person's command is an update, answered once the case has applied it, or refused with the rule
(409 ``refused``, nothing recorded); it names who decided (``X-Actor: agent:<id>``). Facts from other systems are
signals (202). Errors: ``{"error": {"code": ..., "message": ..., "field"?, "rule"?}}``.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from workers.api.auth import ApiTokens, load_api_tokens
from workers.api.caseload_imports import MAX_CASELOAD_BYTES, caseload_import_router
from workers.api.caseload_imports import PREFIX as CASELOAD_PREFIX
from workers.api.bodies import TOO_LARGE, BodyLimit, too_large_response
from workers.api.dependencies import require, route_path
from workers.api.errors import ApiError, field_name, validation_error_response
from workers.api.event_ids import EventIdStore
from workers.api.idempotency import Api, IdempotencyStore
from workers.api.labels import add_label_routes
from workers.api.pathways import add_pathway_routes
from workers.api.caseloads import router as caseloads_router
from workers.api.tasks import router as tasks_router
from workers.api.caf import caf_router
from workers.api.territory import territory_router
from workers.runtime.config import Settings

log = structlog.get_logger("parcours.api")

API_VERSION = "1"


def create_app(client: Client, settings: Settings, pool: asyncpg.Pool | None, *,
               tokens: ApiTokens | None = None) -> FastAPI:
    """The API app. ``pool`` backs the Idempotency-Key store (None: keys are not honoured — tests of auth
    only); ``tokens`` default to ``PARCOURS_API_TOKENS`` (production)."""
    tokens = tokens if tokens is not None else load_api_tokens(None)
    api = Api(client, settings, IdempotencyStore(pool) if pool is not None else None,
              EventIdStore(pool) if pool is not None else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        for name, store in (("idempotency", api.store), ("event_ids", api.event_ids)):
            if store is None:
                continue
            try:
                purged = await store.purge()
                if purged:
                    log.info("api_store_purged", store=name, rows=purged)
            except Exception as error:  # never block startup on housekeeping
                log.warning("api_store_purge_failed", store=name, error=type(error).__name__)
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
    app.state.tokens = tokens
    _add_error_handlers(app)
    app.add_middleware(BodyLimit, larger={CASELOAD_PREFIX: MAX_CASELOAD_BYTES})

    @app.middleware("http")
    async def _access_log(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        caller = getattr(request.state, "caller", None)
        log.info("api_request", method=request.method, path=route_path(request), status=response.status_code,
                 service=caller.service if caller else None, ms=round((time.perf_counter() - started) * 1000, 1))
        return response

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    add_pathway_routes(app, api, pool)
    add_label_routes(app, api, pool)
    app.include_router(tasks_router(pool, require, api))
    app.include_router(caseloads_router(pool, require))
    app.include_router(caf_router(pool, require, ApiError))
    app.include_router(territory_router(api))
    app.include_router(caseload_import_router(pool))
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _framework_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        """The framework's own refusals (no such route, unreadable body) in the API's error body too."""
        if request.scope.get(TOO_LARGE):
            return too_large_response()
        if error.status_code == 400:  # a body that is not valid UTF-8 / JSON
            return validation_error_response([{"loc": ("body",), "msg": "the body is not valid JSON text"}])
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        answer = ApiError(error.status_code, code, str(error.detail))
        return JSONResponse(answer.body(), status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        if request.scope.get(TOO_LARGE):
            return too_large_response()
        errors = list(error.errors())
        log.info("api_invalid_request", path=route_path(request),
                 fields=[field_name(tuple(e.get("loc", ()))) for e in errors])
        return validation_error_response(errors)
