"""Caseload imports through the API (issue 19): the file in, a ``CaseloadImport`` workflow out, its status back.

    POST /v1/caseload-imports        body: the caseload file (text/csv, or an .xlsx sheet); header X-Caseload-Mapping:
                                     the column mapping as JSON (default: field names as headers); query
                                     past_breaches=false for migration facts instead of breaches, update=true to
                                     re-adopt changed rows. 202 with the id.
    GET  /v1/caseload-imports/{id}   progress and counts, and the rejected rows with their reasons

The same bytes are one import (its id is the file's digest), so a retried POST joins the first; a retry with the same
``Idempotency-Key`` and request is answered the first answer (replayed, nothing started again). The file is kept in
the drop directory (mode 0600) for the worker; responses name rows by number, never a NIR or a matricule. Unknown query
parameters are refused, flags are ``true``/``false``, another Content-Type is a 415.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from pathlib import Path as FilePath
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, ValidationError
from temporalio.service import RPCError, RPCStatusCode

from activities.caseload_file import CaseloadMapping, caseload_rows, default_mapping
from activities.caseload_import import CaseloadImporter
from activities.cnaf_parser import FluxUnreadable
from activities.drop_files import private_dir, write_private_bytes
from domain.caseload_import import CaseloadImportInput, CaseloadImportProgress, RowOutcome
from workers.api.auth import Scope
from workers.api.dependencies import api_of, post_context, require
from workers.api.errors import ApiError
from workers.api.idempotency import PostContext
from workers.api.query import Flag, only
from workers.runtime.config import drop_directory

PREFIX = "/v1/caseload-imports"
MAX_CASELOAD_BYTES = 64 * 1024 * 1024
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ID_PATTERN = r"^caseload-import-[0-9a-f]{64}(-no-past-breaches)?(-update)?$"


class CaseloadImportStatus(CaseloadImportProgress):
    id: str
    rejections: list[RowOutcome] = []


class CaseloadImportStarted(BaseModel):
    id: str
    file_digest: str


def _mapping(text: str | None) -> CaseloadMapping:
    """The header's mapping, strictly: JSON types only, known keys only, a one-character delimiter, a known
    encoding."""
    if not text:
        return default_mapping()
    try:
        given = json.loads(text)
        unknown = sorted(set(given) - set(CaseloadMapping.model_fields)) if isinstance(given, dict) else []
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        mapping = CaseloadMapping.model_validate(given, strict=True)
        if len(mapping.delimiter) != 1:
            raise ValueError("the delimiter is one character")
        codecs.lookup(mapping.encoding)
        return mapping
    except (ValueError, ValidationError, LookupError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ApiError(422, "invalid_mapping", f"X-Caseload-Mapping is not a valid mapping: {message}",
                       field="header X-Caseload-Mapping") from None


_PARAMETERS = only("past_breaches", "update")


def caseload_import_router(pool: asyncpg.Pool | None) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["caseload"])

    @router.post("", status_code=202, response_model=CaseloadImportStarted, dependencies=[Depends(_PARAMETERS)],
                 summary="Adopt a caseload file: each pathway at its stage with its clocks",
                 openapi_extra={"x-scopes": [Scope.PATHWAY_START.value], "x-temporal-message": "CaseloadImport",
                                "x-temporal-message-kind": "workflow start", "x-actor": "system",
                                "requestBody": {"required": True, "content": {
                                    "text/csv": {"schema": {"type": "string", "format": "binary"}},
                                    XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
    async def start(request: Request, past_breaches: Flag = Query("true"), update: Flag = Query("false"),
                    content_type: str = Header("text/csv", alias="Content-Type", max_length=200),
                    mapping_header: str | None = Header(None, alias="X-Caseload-Mapping", max_length=8000),
                    ctx: PostContext = Depends(post_context(Scope.PATHWAY_START))) -> Any:
        api = api_of(request)
        media = content_type.split(";")[0].strip().lower()
        if media not in (CSV, XLSX):
            raise ApiError(415, "unsupported_media_type", f"the caseload file is sent as {CSV} or {XLSX}",
                           field="header Content-Type")
        mapping = _mapping(mapping_header)
        data = await request.body()
        if not data:
            raise ApiError(422, "empty_file", "the body is the caseload file; it is empty", field="body")
        digest = hashlib.sha256(data).hexdigest()
        suffix = ".xlsx" if media == XLSX else ".csv"

        target = private_dir(drop_directory(api.settings)) / f"caseload-{digest}{suffix}"
        fresh = not target.exists()
        if fresh:
            write_private_bytes(data, target)
        try:  # a file that cannot be read is refused like an invalid body: before the key is taken
            next(iter(caseload_rows(target, mapping)), None)
        except FluxUnreadable as exc:
            if fresh:
                target.unlink(missing_ok=True)  # nothing will read it
            raise ApiError(422, "unreadable_file", str(exc), field="body") from None

        async def action() -> tuple[int, dict[str, Any]]:
            from workflows.caseload_import import start_caseload_import

            inp = CaseloadImportInput(file_path=str(target), file_digest=digest, file_name=FilePath(target).name,
                                      mapping=mapping.model_dump(), past_breaches=past_breaches == "true",
                                      update=update == "true")
            handle = await start_caseload_import(api.client, inp, task_queue=api.settings.temporal_task_queue)
            return 202, CaseloadImportStarted(id=handle.id, file_digest=digest).model_dump(mode="json")

        fingerprint = {"file": digest, "format": suffix, "mapping": mapping.model_dump(mode="json"),
                       "past_breaches": past_breaches, "update": update}
        return await api.idempotent(ctx, fingerprint, action)

    @router.get("/{import_id}", response_model=CaseloadImportStatus, summary="A caseload import's progress",
                openapi_extra={"x-scopes": [Scope.CASE_READ.value], "x-temporal-message": "progress",
                               "x-temporal-message-kind": "query"})
    async def status(request: Request, import_id: str = Path(..., pattern=ID_PATTERN),
                     _: Any = Depends(require(Scope.CASE_READ))) -> CaseloadImportStatus:
        api = api_of(request)
        try:
            progress = await api.client.get_workflow_handle(import_id).query(
                "progress", result_type=CaseloadImportProgress)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise ApiError(404, "not_found", "no caseload import with this id") from None
            raise
        digest = import_id.removeprefix("caseload-import-")[:64]
        rejections = await CaseloadImporter(pool, b"-", api.client).rejections(digest) if pool is not None else []
        return CaseloadImportStatus(id=import_id, **progress.model_dump(), rejections=rejections)

    return router

