"""Label routes over the structure registry and the letters: the registry's claim around a filing, a
structure's record, a letter's document.

A filing is claimed before its application case starts. A filing refused by the registry (another application
open, or the structure's moratorium not over) answers 409 ``refused`` with the rule (``L1``, ``L6``, ``L7``), the
open application and ``until``, the first day a new application is possible when known. A filing the case itself
then refuses gives the claim back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Awaitable, Callable, Literal

import asyncpg
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import Response

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.label import LabelRegistry
from activities.label_registry import StructureRegistry
from domain.deadlines import paris_date
from domain.label_contract import LETTER_QUERY, RegisteredLetter
from domain.label_letters import document_of, render_html, render_pdf
from domain.label_registry import ApplicationRefused, StructureRecord
from workers.api.auth import Scope
from workers.api.commands import STRUCTURE_PATTERN, message_extension
from workers.api.errors import ERROR_RESPONSES, ApiError
from workers.api.query import only


def registry_for(pool: asyncpg.Pool | None) -> StructureRegistry | None:
    return StructureRegistry(pool) if pool is not None else None


def refusal_answer(error: ApplicationRefused) -> tuple[int, dict[str, Any]]:
    """The registry's refusal in the API's error body, with the open application and ``until``."""
    answer = ApiError(409, "refused", error.message, rule=error.rule, open_application=error.open_application,
                      until=error.until.isoformat() if error.until else None)
    return answer.status, answer.body()


async def file_with_claim(registry: StructureRegistry | None, structure_id: str, workflow_id: str,
                          filed_on: date | None,
                          submit: Callable[[str | None], Awaitable[tuple[int, dict[str, Any]]]]
                          ) -> tuple[int, dict[str, Any]]:
    """Claim the structure for ``workflow_id``, then ``submit(superseded application or None)``."""
    if registry is None:
        return await submit(None)
    day = filed_on or paris_date(datetime.now(UTC))
    try:
        superseded, before = await registry.claim(structure_id, workflow_id, day)
    except ApplicationRefused as error:
        return refusal_answer(error)
    try:
        status, body = await submit(superseded)
    except BaseException:
        await registry.release(workflow_id, before)
        raise
    if status >= 400:
        await registry.release(workflow_id, before)
    return status, body


def letter_route(app: FastAPI, pool: asyncpg.Pool | None, client: Client, reader: Callable[..., Any],
                 tag: str) -> None:
    """``GET /v1/label-letters/{letter_key}?format=pdf|html``: a letter, rendered from its case (the text,
    with its free-text reasons, is kept only in the encrypted workflow state)."""

    @app.get("/v1/label-letters/{letter_key}", tags=[tag], operation_id="label_letters_read",
             summary="A label letter (PDF or HTML)", response_class=Response, dependencies=[Depends(only("format"))],
             openapi_extra=message_extension(LETTER_QUERY, "query", (Scope.CASE_READ,)),
             responses={**ERROR_RESPONSES, 200: {"content": {"application/pdf": {}, "text/html": {}}}})
    async def read_letter(
        letter_key: str = Path(..., pattern=r"^label(led)?-[A-Za-z0-9_.\-]{1,140}:[a-z_]{3,30}:[0-9A-Za-z\-]{1,12}$"),
        format: Literal["pdf", "html"] = Query("pdf"),
        _: Any = Depends(reader),
    ) -> Response:
        row = await LabelRegistry(pool).letter(letter_key) if pool is not None else None
        letter = None
        if row is not None:
            try:
                letter = await client.get_workflow_handle(row["workflow_id"]).query(
                    LETTER_QUERY, letter_key, result_type=RegisteredLetter, rpc_timeout=timedelta(seconds=10))
            except (RPCError, WorkflowQueryFailedError):
                raise ApiError(503, "query_failed", "the letter's case could not be read now") from None
        if letter is None:
            raise ApiError(404, "not_found", "no such letter")
        document = document_of(letter)
        if format == "html":
            return Response(render_html(document), media_type="text/html; charset=utf-8")
        return Response(render_pdf(document), media_type="application/pdf")


def structure_route(app: FastAPI, pool: asyncpg.Pool | None, reader: Callable[..., Any], tag: str) -> None:
    """``GET /v1/label-structures/{structure_id}``: what the registry knows of a structure."""

    @app.get("/v1/label-structures/{structure_id}", tags=[tag], operation_id="label_structures_read",
             summary="A structure's open application, moratorium end and label", response_model=StructureRecord,
             openapi_extra=message_extension(None, None, (Scope.CASE_READ,)),
             responses=ERROR_RESPONSES)
    async def read_structure(
        structure_id: str = Path(..., pattern=STRUCTURE_PATTERN),
        _: Any = Depends(reader),
    ) -> Any:
        record = await StructureRegistry(pool).read(structure_id) if pool is not None else None
        if record is None:
            raise ApiError(404, "not_found", "no application nor label for this structure")
        return record
