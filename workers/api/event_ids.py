"""Event ids per case (migration 019): the same ``event_id`` sent again with the same command is a duplicate
(the case ignores it, the answer says ``duplicate``); with another command or content it is refused (409
``event_id_reused``) — a workflow alone cannot tell the two apart and would drop the second silently."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from workers.api.errors import ApiError

EVENT_ID_RETENTION = timedelta(days=400)


def fingerprint_event(name: str, message: BaseModel | dict[str, Any]) -> Any:
    """What identifies a command besides its event id: the message name and content, without id and actor."""
    data = message.model_dump(mode="json") if isinstance(message, BaseModel) else dict(message)
    data.pop("event_id", None)
    data.pop("actor", None)
    return [name, data]


class EventIdStore:
    """Adapter over ``api_event_ids``: remember which command each (case, event id) carried."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, workflow_id: str, event_id: str, command_hash: bytes) -> bool:
        """True when this event id was already sent to this case with the same command; raises on another."""
        inserted = await self._pool.fetchval(
            """INSERT INTO api_event_ids (workflow_id, event_id, command_hash) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            workflow_id, event_id, command_hash,
        )
        if inserted:
            return False
        known = await self._pool.fetchval(
            "SELECT command_hash FROM api_event_ids WHERE workflow_id = $1 AND event_id = $2", workflow_id, event_id)
        if known is not None and not hmac.compare_digest(bytes(known), command_hash):
            raise ApiError(409, "event_id_reused",
                           "this event_id was already sent to this case with another command or content; "
                           "use a new event_id", field="event_id")
        return True

    async def release(self, workflow_id: str, event_id: str) -> None:
        """Forget a first claim whose case does not exist (404): nothing at all is kept for it."""
        await self._pool.execute("DELETE FROM api_event_ids WHERE workflow_id = $1 AND event_id = $2",
                                 workflow_id, event_id)

    async def purge(self, older_than: timedelta = EVENT_ID_RETENTION) -> int:
        result = await self._pool.execute(
            "DELETE FROM api_event_ids WHERE first_seen_at < now() - $1::interval", older_than)
        return int(result.split()[-1])


def command_hash(key: bytes, fingerprint: Any) -> bytes:
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
