"""Caseload routes: ``GET /v1/pathways`` (a territory's, a structure's or a stage's pathways, overdue ones) and
``GET /v1/label-applications`` (by stage), from the read model, sorted by next deadline, paginated by cursor.

Rows hold ids, stages, dates and counts only (no person id, no personal data): ``case.read`` is enough.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Callable, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from activities.caseloads import CaseloadStore, PathwayFilter
from activities.page_cursor import InvalidCursor
from activities.label import ApplicationSnapshot
from domain.label import LabelStage
from domain.pathway import OrientationTarget, Stage
from workers.api.auth import Caller, Scope
from workers.api.commands import STRUCTURE_PATTERN as _STRUCTURE_PATTERN
from workers.api.commands import TERRITORY_PATTERN as _TERRITORY_PATTERN
from workers.api.errors import ApiError
from workers.api.query import Whole
from workers.api.tasks import _ERRORS, MAX_PAGE, IsoDate, _only

CURSOR = Query(None, max_length=300, pattern=r"^[A-Za-z0-9_\-]+$", description="next_cursor of the previous page")
Limit = Annotated[Whole, Query(ge=1, le=MAX_PAGE)]


class PathwayItem(BaseModel):
    pathway_id: str
    territory: str
    stage: Stage
    referent_type: OrientationTarget | None
    referent_structure_id: str | None
    next_deadline: date | None = Field(description="Last allowed day of the next running clock")
    breach_count: int
    cer_count: int
    updated_at: datetime


class PathwayPage(BaseModel):
    pathways: list[PathwayItem]
    next_cursor: str | None


class ApplicationItem(ApplicationSnapshot):
    """The application's read-model row (``workflow_id`` is the application id)."""

    application_id: str
    updated_at: datetime


class ApplicationPage(BaseModel):
    applications: list[ApplicationItem]
    next_cursor: str | None


def router(pool: asyncpg.Pool | None, require: Callable[..., Callable[..., Caller]]) -> APIRouter:
    routes = APIRouter()
    read = Depends(require(Scope.CASE_READ))

    def store() -> CaseloadStore:
        if pool is None:
            raise ApiError(503, "unavailable", "caseloads need the database; retry later")
        return CaseloadStore(pool)

    async def paged(fetch: Any) -> tuple[list[dict[str, Any]], str | None]:
        try:
            return await fetch
        except InvalidCursor as error:
            raise ApiError(422, "validation_error", str(error), field="query cursor") from None

    @routes.get("/v1/pathways", tags=["pathways"], response_model=PathwayPage, responses=_ERRORS,
                openapi_extra={"x-scopes": [Scope.CASE_READ.value]},
                dependencies=[read, Depends(_only("territory", "referent_structure", "stage", "next_deadline_before",
                                                  "breached", "limit", "cursor"))])
    async def list_pathways(
        territory: str | None = Query(None, pattern=_TERRITORY_PATTERN),
        referent_structure: str | None = Query(None, pattern=_STRUCTURE_PATTERN,
                                               description="The accompanying structure (platform or referent)"),
        stage: Stage | None = None,
        next_deadline_before: IsoDate | None = Query(None, description="Next deadline strictly before this day"),
        breached: Literal["true", "false"] | None = Query(None, description="true: at least one breached deadline; "
                                                                            "false: none"),
        limit: Limit = 50,
        cursor: str | None = CURSOR,
    ) -> dict[str, Any]:
        """A caseload, by next deadline (none last): e.g. a territory's pathways overdue for orientation
        (``territory=…&stage=AWAITING_ORIENTATION&breached=true``) or a structure's (``referent_structure=…``)."""
        where = PathwayFilter(territory=territory, referent_structure=referent_structure,
                              stage=stage.value if stage else None, next_deadline_before=next_deadline_before,
                              breached=None if breached is None else breached == "true")
        rows, following = await paged(store().pathways(where, limit=limit, cursor=cursor))
        return {"pathways": rows, "next_cursor": following}

    @routes.get("/v1/label-applications", tags=["label applications"], response_model=ApplicationPage,
                openapi_extra={"x-scopes": [Scope.CASE_READ.value]},
                responses=_ERRORS, dependencies=[read, Depends(_only("stage", "limit", "cursor"))])
    async def list_applications(stage: LabelStage | None = None, limit: Limit = 50,
                                cursor: str | None = CURSOR) -> dict[str, Any]:
        """Label applications by next deadline (none last), e.g. those awaiting the DPID's evaluation."""
        rows, following = await paged(store().applications(stage.value if stage else None, limit=limit, cursor=cursor))
        return {"applications": rows, "next_cursor": following}

    return routes
