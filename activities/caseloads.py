"""Caseloads from the read model: a territory's, a structure's or a stage's pathways, and label applications by
stage, sorted by next deadline (none last) with an opaque cursor. Ids, stages, dates and counts only."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
from pydantic import BaseModel

from activities.page_cursor import NO_DATE_SQL, decode_cursor, encode_cursor

_PATHWAY_COLUMNS = """pathway_id, territory, stage, referent_type, referent_structure_id, next_deadline, breach_count,
                      cer_count, updated_at"""
_APPLICATION_COLUMNS = """workflow_id AS application_id, workflow_id, structure_id, application_no, territory, stage,
                          filed_on, decided_on, outcome, next_deadline, instruction_breached, funding_blocked,
                          version, updated_at"""


class PathwayFilter(BaseModel):
    territory: str | None = None
    referent_structure: str | None = None
    stage: str | None = None
    next_deadline_before: date | None = None
    breached: bool | None = None


class CaseloadStore:
    """Adapter over ``pathways`` and ``label_applications`` (indexes of migration 025)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def pathways(self, where: PathwayFilter, *, limit: int, cursor: str | None = None
                       ) -> tuple[list[dict[str, Any]], str | None]:
        conditions = {
            "territory = {}": where.territory,
            "referent_structure_id = {}": where.referent_structure,
            "stage = {}": where.stage,
            "next_deadline < {}": where.next_deadline_before,
            "(breach_count > 0) = {}": where.breached,
        }
        return await self._page("pathways", _PATHWAY_COLUMNS, "pathway_id", conditions, limit, cursor)

    async def applications(self, stage: str | None, *, limit: int, cursor: str | None = None
                           ) -> tuple[list[dict[str, Any]], str | None]:
        return await self._page("label_applications", _APPLICATION_COLUMNS, "workflow_id", {"stage = {}": stage},
                                limit, cursor, key_alias="application_id")

    async def _page(self, table: str, columns: str, key: str, conditions: dict[str, Any], limit: int,
                    cursor: str | None, key_alias: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        clauses, args = [], []
        for template, value in conditions.items():
            if value is not None:
                args.append(value)
                clauses.append(template.format(f"${len(args)}"))
        if cursor is not None:
            day, after = decode_cursor(cursor, str)
            args += [day, after]
            clauses.append(f"(COALESCE(next_deadline, {NO_DATE_SQL}), {key}) > (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        rows = await self.pool.fetch(
            f"""SELECT {columns} FROM {table} {'WHERE ' + ' AND '.join(clauses) if clauses else ''}
                ORDER BY COALESCE(next_deadline, {NO_DATE_SQL}), {key} LIMIT ${len(args)}""", *args)
        page = [dict(r) for r in rows[:limit]]
        following = None
        if len(rows) > limit:
            last = page[-1]
            following = encode_cursor(last["next_deadline"], last[key_alias or key])
        return page, following
