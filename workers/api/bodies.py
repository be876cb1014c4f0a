"""Strict request bodies: what a case may receive is decided here, at the edge, so no input can poison a case.

* Types are strict (JSON types only: no ``"yes"`` for a boolean, no number for a date or a string): the body is
  validated again from its raw JSON with pydantic's strict mode (FastAPI's own pass, lax, documents the body).
* Every date in the body lies in the plausible window of ``domain.rules.check_plausible_date`` (today: the
  server's clock, Paris date). Planned dates (a CER's and its actions' ``start``/``end``, an amended CER's ``new_end``, an appointment's
  date, a label's ``anniversary``) may lie further ahead: their window ends ``PLANNING_HORIZON`` later.
* Every string is bounded and free of control characters (NUL included); identifiers (``event_id``, fields named
  ``*_id`` / ``*_ids``) match ``IDENTIFIER_PATTERN``; lists are bounded.
* The whole body is bounded (``MAX_BODY_BYTES``; 413 beyond, before it is read).
Failures are 422 with the API's error body naming the field, never echoing the value.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr, ValidationError

from domain.deadlines import paris_date
from domain.rules import ImplausibleDate, check_plausible_date
from workers.api.errors import ApiError

EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$"
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
MAX_TEXT = 2000
MAX_ITEMS = 200
MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = "parcours.body_too_large"
PLANNED_DATE_FIELDS = frozenset({"start", "end", "new_end", "anniversary", "appointment_date"})
PLANNING_HORIZON = timedelta(days=2 * 366)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def server_today() -> date:
    return paris_date(datetime.now(timezone.utc))


def body_problems(body: BaseModel, today: date) -> list[dict[str, Any]]:
    """The body's values outside what a case may receive, as validation errors (``loc`` from ``body``)."""
    problems: list[dict[str, Any]] = []
    _walk(body, ("body",), today, problems)
    return problems


def _walk(value: Any, loc: tuple[Any, ...], today: date, problems: list[dict[str, Any]]) -> None:
    name = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if isinstance(value, BaseModel):
        for field in type(value).model_fields:
            _walk(getattr(value, field), loc + (field,), today, problems)
    elif isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            problems.append({"loc": loc, "msg": f"at most {MAX_ITEMS} items"})
        for index, item in enumerate(value[:MAX_ITEMS]):
            _walk(item, loc + (index,), today, problems)
    elif isinstance(value, dict):
        for key, item in list(value.items())[:MAX_ITEMS]:
            _walk(item, loc + (str(key),), today, problems)
    elif isinstance(value, (date, datetime)):
        day = value.date() if isinstance(value, datetime) else value
        horizon = PLANNING_HORIZON if name in PLANNED_DATE_FIELDS else timedelta(0)
        try:
            check_plausible_date(day, today + horizon, field=name or "date")
        except ImplausibleDate as error:
            problems.append({"loc": loc, "msg": str(error)})
    elif isinstance(value, (Enum, SecretStr, bool, int, float)) or value is None:
        return
    elif isinstance(value, str):
        _check_text(value, loc, name, problems)


def _check_text(value: str, loc: tuple[Any, ...], name: str, problems: list[dict[str, Any]]) -> None:
    if _CONTROL.search(value):
        problems.append({"loc": loc, "msg": "control characters are not allowed"})
    elif name == "event_id":
        if not _EVENT_ID.fullmatch(value):
            problems.append({"loc": loc, "msg": f"an event id matches {EVENT_ID_PATTERN}"})
    elif name.endswith(("_id", "_ids")):
        if not _IDENTIFIER.fullmatch(value):
            problems.append({"loc": loc, "msg": f"an identifier matches {IDENTIFIER_PATTERN}"})
    elif len(value) > MAX_TEXT:
        problems.append({"loc": loc, "msg": f"at most {MAX_TEXT} characters"})


async def strict_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request body validated strictly from its raw JSON, then checked value by value (called by the route
    once FastAPI's own validation of the path, headers and body has passed)."""
    raw = await request.body()
    try:
        body = model.model_validate_json(raw, strict=True)
    except ValidationError as error:
        raise RequestValidationError(
            [{"loc": ("body",) + tuple(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        ) from None
    problems = body_problems(body, server_today())
    if problems:
        raise RequestValidationError(problems)
    return body


class BodyLimit:
    """ASGI middleware: a body longer than ``limit`` bytes is refused with 413 — at once when its
    ``Content-Length`` says so, else as soon as the bytes read exceed it (the rest is never buffered)."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES, larger: dict[str, int] | None = None) -> None:
        """``larger``: path prefixes with their own limit (a file upload)."""
        self.app, self.limit, self.larger = app, limit, larger or {}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path") or ""
        limit = next((n for prefix, n in self.larger.items() if path.startswith(prefix)), self.limit)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_large_response(limit)(scope, receive, send)
            return
        received = 0

        async def limited() -> dict:
            nonlocal received
            if scope.get(TOO_LARGE):
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    scope[TOO_LARGE] = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        await self.app(scope, limited, send)


def too_large_response(limit: int = MAX_BODY_BYTES) -> JSONResponse:
    error = ApiError(413, "body_too_large", f"the request body is limited to {limit} bytes")
    return JSONResponse(error.body(), status_code=error.status)
