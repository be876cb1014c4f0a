"""CAF routes (domain.md §3.7): the quota and counts per CAF referent id and per ETP, live from the read model,
and the stored annual reports (``CafAnnualReport``). Counts and opaque ids only; read with the ``case.read``
scope.

    GET /v1/caf/quota?year=YYYY[&etp=N]   live counts against the convention in force that year
    GET /v1/caf/reports/{year}            the report stored on 31 January of year + 1 (404 until then)
"""

from __future__ import annotations

from typing import Annotated, Any, Callable

import asyncpg
from fastapi import APIRouter, Depends, Path, Query

from activities.caf_report import CafReportStore
from domain.caf_report import CafReport
from workers.api.auth import Scope
from workers.api.query import Whole, only


def caf_router(pool: asyncpg.Pool | None, require: Callable[..., Any], error: type[Exception]) -> APIRouter:
    """``require(scope)`` is the API's auth dependency; ``error(status, code, message)`` its error type."""
    router = APIRouter(prefix="/v1/caf", tags=["caf"])

    def store() -> CafReportStore:
        if pool is None:
            raise error(503, "unavailable", "the read model is not configured")
        return CafReportStore(pool)

    @router.get("/quota", response_model=CafReport, summary="CAF quota and counts per referent id and per ETP",
                openapi_extra={"x-scopes": [Scope.CASE_READ.value]}, dependencies=[Depends(only("year", "etp"))])
    async def quota(year: Annotated[Whole, Query(ge=2009, le=2100)],
                    etp: Annotated[Whole | None, Query(ge=1, le=10000)] = None,
                    _: Any = Depends(require(Scope.CASE_READ))) -> CafReport:
        return await store().report(year, etp)

    @router.get("/reports/{year}", response_model=CafReport, summary="The CAF's stored annual report",
                openapi_extra={"x-scopes": [Scope.CASE_READ.value]})
    async def report(year: Annotated[Whole, Path(ge=2009, le=2100)], _: Any = Depends(require(Scope.CASE_READ))) -> CafReport:
        stored = await store().stored(year)
        if stored is None:
            raise error(404, "not_found", f"no CAF report stored for {year} (built each 31 January of the next year)")
        return stored

    return router
