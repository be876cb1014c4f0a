"""Label additions at the API's edge: the structure registry claim and the letters' documents.

A filing is claimed before its application case starts.

A filing refused by the registry (another application open, or the structure's moratorium not over)
answers 409 with the rule (``L1``, ``L6``, ``L7``), the open application and ``until``, the first day a new
application is possible when known. A filing the case itself then refuses gives the claim back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Awaitable, Callable, Literal

import asyncpg
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import JSONResponse, Response

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.label import LabelRegistry
from domain.label_contract import RegisteredLetter
from domain.label_letters import document_of, render_html, render_pdf
from activities.label_registry import StructureRegistry
from domain.deadlines import paris_date
from domain.label_registry import ApplicationRefused, StructureRecord


def registry_for(pool: asyncpg.Pool | None) -> StructureRegistry | None:
    return StructureRegistry(pool) if pool is not None else None


def refusal_answer(error: ApplicationRefused) -> tuple[int, dict[str, Any]]:
    return 409, {
        "error": "refused",
        "message": error.message,
        "rule": error.rule,
        "open_application": error.open_application,
        "until": error.until.isoformat() if error.until else None,
    }


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
             summary="A label letter (PDF or HTML)", response_class=Response,
             responses={200: {"content": {"application/pdf": {}, "text/html": {}}}})
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
                    "letter", letter_key, result_type=RegisteredLetter, rpc_timeout=timedelta(seconds=10))
            except (RPCError, WorkflowQueryFailedError):
                return JSONResponse({"error": "query_failed", "message": "the letter's case could not be read now"},
                                    status_code=503)
        if letter is None:
            return JSONResponse({"error": "not_found", "message": "no such letter"}, status_code=404)
        document = document_of(letter)
        if format == "html":
            return Response(render_html(document), media_type="text/html; charset=utf-8")
        return Response(render_pdf(document), media_type="application/pdf")


def structure_route(app: FastAPI, pool: asyncpg.Pool | None, reader: Callable[..., Any], tag: str) -> None:
    """``GET /v1/label-structures/{structure_id}``: what the registry knows of a structure."""

    @app.get("/v1/label-structures/{structure_id}", tags=[tag], operation_id="label_structures_read",
             summary="A structure's open application, moratorium end and label", response_model=StructureRecord,
             responses={404: {"description": "No application nor label for this structure"}})
    async def read_structure(
        structure_id: str = Path(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"),
        _: Any = Depends(reader),
    ) -> Any:
        record = await StructureRegistry(pool).read(structure_id) if pool is not None else None
        if record is None:
            return JSONResponse({"error": "not_found", "message": "no application nor label for this structure"},
                                status_code=404)
        return record
