"""Activities of the « perdus de vue » campaign: select from the read model, convoke through the pathways'
signal, record the campaign (definitions in ``domain/campaign.py``).

Every step can run twice: the selection only reads; a convocation re-sent carries the same event id, which the
pathway ignores; the record is an upsert of the campaign row and its items.
"""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.campaign import (
    CONVOKE,
    RECORD,
    SELECT,
    STAGES,
    CampaignRecord,
    ConvokeRequest,
    ConvokeResult,
    SelectRequest,
    convocation,
)
from domain.pathway_contract import Signal

CONCURRENCY = 20

# The pathways « sans accompagnement » since the cutoff: in a stage without a CER, entered on or before the
# cutoff, still subject to rights and duties, not closed, not convoked since the cutoff.
_SELECT = """
SELECT p.pathway_id
FROM pathways p
WHERE p.stage = ANY($1::text[]) AND p.closed_on IS NULL AND p.subject_to_duties IS TRUE
  AND ($3::text IS NULL OR p.territory = $3)
  AND (SELECT max(s.changed_on) FROM stage_changes s
       WHERE s.pathway_id = p.pathway_id AND s.to_stage = p.stage AND s.from_stage IS DISTINCT FROM s.to_stage) <= $2
  AND NOT EXISTS (SELECT 1 FROM lost_from_view_convocations c
                  WHERE c.pathway_id = p.pathway_id AND c.convoked_on > $2)
ORDER BY p.pathway_id
LIMIT $4
"""


class CampaignActivities:
    """The read model (``pool``) and the Temporal client that signals pathways (default: the worker's)."""

    def __init__(self, pool: asyncpg.Pool, client: Client | None = None) -> None:
        self._pool = pool
        self._client = client

    @activity.defn(name=SELECT)
    async def select(self, req: SelectRequest) -> list[str]:
        rows = await self._pool.fetch(_SELECT, list(STAGES), req.cutoff, req.territory, req.limit)
        return [r["pathway_id"] for r in rows]

    @activity.defn(name=CONVOKE)
    async def convoke(self, req: ConvokeRequest) -> ConvokeResult:
        client = self._client or activity.client()
        message = convocation(req.campaign_id, req.convoked_on, req.appointment_date)
        result = ConvokeResult()
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(pathway_id: str) -> None:
            async with limit:
                try:
                    await client.get_workflow_handle(pathway_id).signal(Signal.LOST_FROM_VIEW_CONVOCATION, message)
                    result.convoked.append(pathway_id)
                except RPCError as exc:
                    if exc.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    result.not_found.append(pathway_id)
                if activity.in_activity():
                    activity.heartbeat(len(result.convoked) + len(result.not_found))

        await asyncio.gather(*(one(pid) for pid in req.pathway_ids))
        result.convoked.sort()
        result.not_found.sort()
        return result

    @activity.defn(name=RECORD)
    async def record(self, rec: CampaignRecord) -> None:
        r = rec.report
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO lost_from_view_campaigns (campaign_id, run_on, cutoff, appointment_date, territory,
                       selected, convoked, not_found)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
                   ON CONFLICT (campaign_id) DO UPDATE SET selected = EXCLUDED.selected,
                       convoked = EXCLUDED.convoked, not_found = EXCLUDED.not_found""",
                r.campaign_id, r.run_on, r.cutoff, r.appointment_date, r.territory, r.selected, r.convoked,
                r.not_found)
            items = [(r.campaign_id, pid, "CONVOKED") for pid in rec.convoked]
            items += [(r.campaign_id, pid, "NOT_FOUND") for pid in rec.not_found]
            if items:
                await conn.executemany(
                    """INSERT INTO lost_from_view_campaign_items (campaign_id, pathway_id, outcome) VALUES ($1,$2,$3)
                       ON CONFLICT (campaign_id, pathway_id) DO UPDATE SET outcome = EXCLUDED.outcome""", items)

    def all(self) -> list:
        return [self.select, self.convoke, self.record]
