"""Temporal calls made by the routes, and their failures translated into API answers (never leaking payloads:
messages are the workflow's own)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Awaitable

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workers.api.errors import ApiError
from workers.api.idempotency import IDEMPOTENCY_HEADER

QUERY_TIMEOUT = timedelta(seconds=10)
UPDATE_TIMEOUT = timedelta(seconds=30)

TEMPORAL_ERRORS = (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowAlreadyStartedError,
                   WorkflowQueryFailedError, RPCError)


#: The domain reference a refusal's message starts with (``R13: a CER lasts at most…``, ``§3.5: …``, ``T12: …``).
_REFERENCE = re.compile(r"^((?:[RTLW]\d+[a-z]?)|(?:G-[A-Z]+\d+)|(?:§[\d.]*\d)):")


def refused(message: str, rule: str) -> ApiError:
    """409 ``refused``: ``rule`` is the domain's stable code; ``reference`` the rule of the domain reference."""
    extra = {"rule": rule}
    found = _REFERENCE.match(message)
    if found:
        extra["reference"] = found.group(1)
    return ApiError(409, "refused", message, **extra)


def temporal_error(error: BaseException, what: str) -> ApiError:
    """Translate a client error into an answer."""
    if isinstance(error, WorkflowUpdateFailedError):
        cause = error.cause
        if isinstance(cause, ApplicationError):
            return refused(cause.message or "refused by the case", cause.type or "refused")
        return refused(str(getattr(cause, "message", "") or "refused by the case"), "refused")
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


async def call(what: str, coro: Awaitable[Any]) -> Any:
    """Await a client call; its Temporal failure becomes an ``ApiError``."""
    try:
        return await coro
    except TEMPORAL_ERRORS as error:
        raise temporal_error(error, what) from None


def status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"


def search_attribute(description: Any, key: Any) -> Any:
    try:
        return description.typed_search_attributes.get(key)
    except Exception:
        return None


async def closed_or_missing(handle: Any, what: str, not_found: ApiError) -> ApiError:
    """A signal or update to a closed case is refused as NOT_FOUND by the server: tell the two apart."""
    try:
        description = await handle.describe()
    except TEMPORAL_ERRORS:
        return not_found
    if description.status != WorkflowExecutionStatus.RUNNING:
        return ApiError(409, "case_closed", f"{what} is closed ({status_name(description.status)}); "
                                            "it accepts no more events")
    return not_found
