"""Idempotency: every POST honours an ``Idempotency-Key`` header (per calling service).

The first response is stored (PostgreSQL, migration 007) and replayed to a retry with the same body
(``Idempotent-Replayed: true``); the same key with a different body is refused (422); a retry while the first is
still running gets 409. Stored records hold a keyed hash of the request, never the request (which may hold a NIR).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Awaitable, Callable

import asyncpg
import structlog
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import Client

from domain.actor import Actor
from workers.api.auth import Caller
from workers.api.errors import ApiError
from workers.api.event_ids import EventIdStore, command_hash
from workers.runtime.config import Settings

log = structlog.get_logger("parcours.api")

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
IDEMPOTENCY_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


class IdempotencyStore:
    """Adapter over ``api_idempotency`` (migration 007): claim a key, store its response, replay it."""

    def __init__(self, pool: asyncpg.Pool, takeover_after: timedelta = timedelta(seconds=60)) -> None:
        self._pool = pool
        self._takeover_after = takeover_after

    async def claim(self, service: str, key: str, request_hash: bytes) -> StoredResponse | None:
        """None: this request owns the key and must run; a StoredResponse: replay it. Raises on conflicts."""
        for _ in range(3):
            inserted = await self._pool.fetchval(
                """INSERT INTO api_idempotency (service, idempotency_key, request_hash) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING RETURNING true""",
                service, key, request_hash,
            )
            if inserted:
                return None
            row = await self._pool.fetchrow(
                """SELECT request_hash, status_code, response, started_at,
                          started_at < now() - $3::interval AS stale
                     FROM api_idempotency WHERE service = $1 AND idempotency_key = $2""",
                service, key, self._takeover_after,
            )
            if row is None:
                continue  # released between our insert and select: try again
            if not hmac.compare_digest(bytes(row["request_hash"]), request_hash):
                raise ApiError(
                    422, "idempotency_key_reused",
                    f"this {IDEMPOTENCY_HEADER} was already used with a different request; use a new key",
                    field=f"header {IDEMPOTENCY_HEADER}",
                )
            if row["status_code"] is not None:
                return StoredResponse(row["status_code"], json.loads(row["response"]))
            if row["stale"]:
                taken = await self._pool.execute(
                    """UPDATE api_idempotency SET started_at = now()
                        WHERE service = $1 AND idempotency_key = $2 AND status_code IS NULL AND started_at = $3""",
                    service, key, row["started_at"],
                )
                if taken == "UPDATE 1":
                    return None
            raise ApiError(
                409, "idempotency_key_in_progress",
                f"a request with this {IDEMPOTENCY_HEADER} is still being processed; retry later",
                field=f"header {IDEMPOTENCY_HEADER}", headers={"Retry-After": "1"},
            )
        raise ApiError(503, "idempotency_store_busy", "the idempotency store is busy; retry later")

    async def complete(self, service: str, key: str, response: StoredResponse) -> None:
        await self._pool.execute(
            """UPDATE api_idempotency SET status_code = $3, response = $4::jsonb, completed_at = now()
                WHERE service = $1 AND idempotency_key = $2""",
            service, key, response.status, json.dumps(response.body),
        )

    async def release(self, service: str, key: str) -> None:
        """Forget a claim whose request failed for a transient reason, so a retry runs again."""
        await self._pool.execute(
            "DELETE FROM api_idempotency WHERE service = $1 AND idempotency_key = $2 AND status_code IS NULL",
            service, key,
        )

    async def purge(self, older_than: timedelta = IDEMPOTENCY_RETENTION) -> int:
        result = await self._pool.execute(
            "DELETE FROM api_idempotency WHERE started_at < now() - $1::interval", older_than
        )
        return int(result.split()[-1])


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass
class PostContext:
    """What every POST handler receives: the caller, its idempotency key, the request, the acting person."""

    caller: Caller
    key: str | None
    method: str
    path: str
    person: str | None = None  # X-Actor: the acting person's opaque id

    def actor(self) -> Actor:
        return Actor(service=self.caller.service, person=self.person)

    def event_id(self, given: str | None) -> str:
        """The caller's event id, else one derived from the idempotency key (stable across retries)."""
        if given:
            return given
        if self.key:
            digest = hashlib.sha256(f"{self.caller.service}\n{self.key}".encode("utf-8")).hexdigest()[:32]
            return f"api-{digest}"
        return f"api-{uuid.uuid4().hex}"


class Api:
    """State shared by the routes: the Temporal client, settings, idempotency and event-id stores."""

    def __init__(self, client: Client, settings: Settings, store: IdempotencyStore | None,
                 event_ids: EventIdStore | None = None) -> None:
        self.client = client
        self.settings = settings
        self.store = store
        self.event_ids = event_ids

    async def claim_event_id(self, ctx: PostContext, workflow_id: str, event_id: str, fingerprint: Any) -> bool:
        """True when the event id was sent to this case before with the same command (a duplicate); 409 when
        with another one. Without a store (tests of auth only) nothing is checked."""
        if self.event_ids is None:
            return False
        return await self.event_ids.claim(workflow_id, event_id,
                                          command_hash(self.settings.person_id_key, _canonical(fingerprint)))

    def request_hash(self, ctx: PostContext, fingerprint: Any) -> bytes:
        """Keyed hash of what the request does (never the NIR itself: fingerprints carry the person id)."""
        text = json.dumps([ctx.method, ctx.path, _canonical(fingerprint)], sort_keys=True, separators=(",", ":"))
        return hmac.new(self.settings.person_id_key, text.encode("utf-8"), hashlib.sha256).digest()

    async def idempotent(self, ctx: PostContext, fingerprint: Any,
                         action: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> JSONResponse:
        """Run ``action`` once per (service, key); replay its stored answer to retries with the same body."""
        if ctx.key is None or self.store is None:
            status, body = await _answer(action)
            return JSONResponse(body, status_code=status)
        service = ctx.caller.service
        stored = await self.store.claim(service, ctx.key, self.request_hash(ctx, fingerprint))
        if stored is not None:
            log.info("api_idempotent_replay", service=service, path=ctx.path, status=stored.status)
            return JSONResponse(stored.body, status_code=stored.status, headers={REPLAYED_HEADER: "true"})
        try:
            status, body = await _answer(action)
        except BaseException:
            await self.store.release(service, ctx.key)
            raise
        if status >= 500:
            await self.store.release(service, ctx.key)
        else:
            await self.store.complete(service, ctx.key, StoredResponse(status, body))
        return JSONResponse(body, status_code=status)


async def _answer(action: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> tuple[int, dict[str, Any]]:
    """The action's answer; business refusals (ApiError 4xx) are answers too, stored and replayed."""
    try:
        return await action()
    except ApiError as error:
        if error.status >= 500 or error.headers:
            raise
        return error.status, error.body()
