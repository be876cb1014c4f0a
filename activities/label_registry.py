"""The structure registry row (``label_structures``): claimed by the API, kept by the application snapshots.

``claim`` runs in one transaction with the row locked (``SELECT ... FOR UPDATE`` after an insert that
creates it), so two concurrent filings for one structure are decided one after the other by
``domain.label_registry.check_new_application``. The application workflows keep the row current through
``record_snapshot`` (called by ``label.record_application`` inside its transaction): an application
owns the row while it is open, and releases it when it closes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from domain.label_registry import StructureRecord, check_new_application

_READ = """SELECT s.structure_id, s.open_application, a.stage AS open_stage, s.moratorium_application,
                  s.moratorium_until, s.label_workflow_id, s.label_status
           FROM label_structures s LEFT JOIN label_applications a ON a.workflow_id = s.open_application
           WHERE s.structure_id = $1"""


class StructureRegistry:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def read(self, structure_id: str) -> StructureRecord | None:
        row = await self._pool.fetchrow(_READ, structure_id)
        return StructureRecord(**dict(row)) if row is not None else None

    async def claim(self, structure_id: str, workflow_id: str, filed_on: date) -> tuple[str | None, StructureRecord]:
        """Make ``workflow_id`` the structure's open application, or raise ``ApplicationRefused``.

        Returns the superseded application (moratorium over) and the row as it was, for ``release``."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO label_structures (structure_id) VALUES ($1) ON CONFLICT (structure_id) DO NOTHING",
                structure_id)
            await conn.execute("SELECT 1 FROM label_structures WHERE structure_id = $1 FOR UPDATE", structure_id)
            before = StructureRecord(**dict(await conn.fetchrow(_READ, structure_id)))
            superseded = check_new_application(before, workflow_id, filed_on)
            if before.open_application != workflow_id:
                await conn.execute(
                    """UPDATE label_structures SET open_application = $2, moratorium_application = NULL,
                           moratorium_until = NULL, updated_at = now() WHERE structure_id = $1""",
                    structure_id, workflow_id)
            return superseded, before

    async def release(self, workflow_id: str, before: StructureRecord) -> None:
        """Undo a claim whose filing the application refused (the row goes back to what it was)."""
        await self._pool.execute(
            """UPDATE label_structures SET open_application = $3, moratorium_application = $4,
                   moratorium_until = $5, updated_at = now()
               WHERE structure_id = $1 AND open_application = $2""",
            before.structure_id, workflow_id, before.open_application, before.moratorium_application,
            before.moratorium_until)


async def record_snapshot(conn: Any, structure_id: str, workflow_id: str, *, is_open: bool,
                          in_moratorium: bool, moratorium_until: date | None) -> None:
    """An application's snapshot: it (re)takes the row when free or already its own, and releases it on close."""
    await conn.execute(
        """INSERT INTO label_structures (structure_id, open_application, moratorium_application, moratorium_until)
           VALUES ($1, CASE WHEN $3 THEN $2 END, CASE WHEN $3 AND $4 THEN $2 END, CASE WHEN $3 AND $4 THEN $5::date END)
           ON CONFLICT (structure_id) DO UPDATE SET open_application = EXCLUDED.open_application,
               moratorium_application = EXCLUDED.moratorium_application,
               moratorium_until = EXCLUDED.moratorium_until, updated_at = now()
           WHERE label_structures.open_application IS NULL OR label_structures.open_application = $2""",
        structure_id, workflow_id, is_open, in_moratorium, moratorium_until)


async def record_label(conn: Any, structure_id: str, workflow_id: str, status: str, expires_on: date) -> None:
    await conn.execute(
        """INSERT INTO label_structures (structure_id, label_workflow_id, label_status, label_expires_on)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (structure_id) DO UPDATE SET label_workflow_id = $2, label_status = $3,
               label_expires_on = $4, updated_at = now()""",
        structure_id, workflow_id, status, expires_on)
