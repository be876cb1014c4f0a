"""A pathway's anomalies as the read model holds them (``pathway_anomalies``, migration 024), each with whether
it is still open: its ``REFUSED_EVENT`` task (``<pathway id>:REFUSED_EVENT:<anomaly id>``) is OPEN or CLAIMED.

Only the current pathway's: after a finished pathway, a new one under the same id counts its sequence from
above the former's (``pathways.seq_base``, migration 062), whose anomalies stay in the table but are not its.

Codes and categories only (the message's name, the rule's code, the stage it found, the day it arrived): what
``GET /v1/pathways/{id}`` shows under ``anomalies``. The event id, an id of the sender's system, stays here.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from domain.pathway_constants import MAX_ANOMALIES, REFUSED_EVENT
from domain.tasks import ACTIVE_STATUSES

_ACTIVE = [s.value for s in ACTIVE_STATUSES]


class PathwayAnomalies:
    """Reader over ``pathway_anomalies`` and the anomalies' tasks in ``human_tasks``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def of(self, pathway_id: str, limit: int = MAX_ANOMALIES) -> list[dict[str, Any]]:
        """The pathway's last ``limit`` anomalies, oldest first (``anomaly-<seq>``: shorter ids are older)."""
        rows = await self.pool.fetch(
            """SELECT * FROM (
                   SELECT a.anomaly_id, a.message, a.code, a.stage, a.received_on, a.recorded_at, t.status,
                          length(a.anomaly_id) AS id_length,
                          COALESCE(t.status = ANY($4::text[]), false) AS open
                     FROM pathway_anomalies a
                     LEFT JOIN human_tasks t ON t.task_key = a.pathway_id || ':' || $2 || ':' || a.anomaly_id
                    WHERE a.pathway_id = $1 AND a.anomaly_id ~ '^anomaly-[0-9]+$'
                      AND substr(a.anomaly_id, 9)::bigint > COALESCE(
                          (SELECT p.seq_base FROM pathways p WHERE p.pathway_id = $1), 0)
                    ORDER BY a.recorded_at DESC, length(a.anomaly_id) DESC, a.anomaly_id DESC LIMIT $3) last
               ORDER BY recorded_at, id_length, anomaly_id""",
            pathway_id, REFUSED_EVENT, limit, _ACTIVE,
        )
        return [{k: v for k, v in dict(r).items() if k not in ("recorded_at", "id_length")} for r in rows]
