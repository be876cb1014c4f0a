"""Link from labels to pathways: when a label is lost, signal every pathway whose referent is in the structure.

The pathway read model table ``pathways`` (written by the pathway workflow's activities) maps a pathway's
workflow id to its referent's structure (``referent_structure_id``). The signal ``structure_label_lost``
carries ``domain.label_events.StructureLabelLost``; its ``event_id`` is stable, so a retry that signals a
pathway twice is ignored by the pathway. A pathway that has already closed is skipped.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.label_contract import ACT_NOTIFY_PATHWAYS_LABEL_LOST, LabelLostNotice
from domain.label_events import STRUCTURE_LABEL_LOST_SIGNAL, StructureLabelLost, label_lost_event_id


class PathwayNotifier:
    """``table`` / ``id_column`` default to the pathway read model; tests may point them at a fixture table."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: Client | None = None,
        *,
        table: str = "pathways",
        id_column: str = "pathway_id",
    ) -> None:
        self._pool = pool
        self._client = client
        self._query = f"SELECT {id_column} FROM {table} WHERE referent_structure_id = $1 ORDER BY 1"

    async def pathway_ids(self, structure_id: str) -> list[str]:
        return [r[0] for r in await self._pool.fetch(self._query, structure_id)]

    @activity.defn(name=ACT_NOTIFY_PATHWAYS_LABEL_LOST)
    async def notify_pathways_label_lost(self, notice: LabelLostNotice) -> int:
        """Signal each pathway of the structure; return how many running pathways were signalled."""
        client = self._client or activity.client()
        payload = StructureLabelLost(
            event_id=label_lost_event_id(notice.label_workflow_id, notice.reason, notice.effective_date),
            structure_id=notice.structure_id,
            reason=notice.reason,
            effective_date=notice.effective_date,
        )
        ids = await self.pathway_ids(notice.structure_id)
        start = activity.info().heartbeat_details[0] if activity.info().heartbeat_details else 0
        signalled = 0
        for index in range(start, len(ids)):
            try:
                await client.get_workflow_handle(ids[index]).signal(STRUCTURE_LABEL_LOST_SIGNAL, payload)
                signalled += 1
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:  # closed or unknown pathway: nothing to reorient
                    raise
            activity.heartbeat(index + 1)
        return signalled
