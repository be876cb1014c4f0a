"""The Idempotency-Key store (migration 007): replay, mismatch, in-progress, takeover, release."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest

from domain.identity import nir_key
from workers.api import Api, ApiError, IdempotencyStore, PostContext, StoredResponse, create_app
from workers.api.auth import ApiTokens, Caller, Scope, token_entry
from workers.runtime.config import Settings


def _nir(body13: str) -> str:
    return f"{body13}{nir_key(body13):02d}"


@pytest.fixture
def store(db_pool) -> IdempotencyStore:
    return IdempotencyStore(db_pool)


def _key() -> str:
    return f"k-{uuid.uuid4()}"


async def test_first_claim_runs_then_the_stored_answer_is_replayed(store):
    key = _key()
    assert await store.claim("caf", key, b"h1") is None
    await store.complete("caf", key, StoredResponse(202, {"pathway_id": "pathway-x"}))
    assert await store.claim("caf", key, b"h1") == StoredResponse(202, {"pathway_id": "pathway-x"})


async def test_same_key_with_another_body_is_422(store):
    key = _key()
    await store.claim("caf", key, b"h1")
    await store.complete("caf", key, StoredResponse(200, {}))
    with pytest.raises(ApiError) as error:
        await store.claim("caf", key, b"h2")
    assert error.value.status == 422 and error.value.code == "idempotency_key_reused"
    assert error.value.field == "header Idempotency-Key"


async def test_keys_are_per_service(store):
    key = _key()
    assert await store.claim("caf", key, b"h1") is None
    assert await store.claim("msa", key, b"other") is None  # another service's key space


async def test_a_request_still_running_is_409_with_retry_after(store):
    key = _key()
    await store.claim("caf", key, b"h1")
    with pytest.raises(ApiError) as error:
        await store.claim("caf", key, b"h1")
    assert error.value.status == 409 and error.value.headers["Retry-After"] == "1"


async def test_a_stale_claim_is_taken_over_once(db_pool):
    store = IdempotencyStore(db_pool, takeover_after=timedelta(seconds=60))
    key = _key()
    await store.claim("caf", key, b"h1")
    await db_pool.execute("UPDATE api_idempotency SET started_at = now() - interval '2 minutes' "
                          "WHERE service = 'caf' AND idempotency_key = $1", key)
    outcomes = await asyncio.gather(store.claim("caf", key, b"h1"), store.claim("caf", key, b"h1"),
                                    return_exceptions=True)
    assert sum(o is None for o in outcomes) == 1  # exactly one retry takes the crashed request over
    assert sum(isinstance(o, ApiError) and o.status == 409 for o in outcomes) == 1


async def test_release_lets_a_retry_run_again(store):
    key = _key()
    await store.claim("caf", key, b"h1")
    await store.release("caf", key)
    assert await store.claim("caf", key, b"h1") is None


async def test_purge_forgets_old_keys_only(db_pool, store):
    old, new = _key(), _key()
    for key in (old, new):
        await store.claim("caf", key, b"h")
        await store.complete("caf", key, StoredResponse(200, {}))
    await db_pool.execute("UPDATE api_idempotency SET started_at = now() - interval '8 days' "
                          "WHERE idempotency_key = $1", old)
    assert await store.purge(timedelta(days=7)) >= 1
    assert await store.claim("caf", old, b"other") is None  # forgotten: the key is free again
    with pytest.raises(ApiError):
        await store.claim("caf", new, b"other")


async def test_server_errors_are_not_stored_and_business_refusals_are(db_pool):
    api = Api(None, Settings(), IdempotencyStore(db_pool))
    ctx = PostContext(Caller("caf", frozenset({Scope.PATHWAY_EVENTS})), _key(), "POST", "/v1/x")
    calls = []

    async def unavailable():
        calls.append("503")
        raise ApiError(503, "temporal_unavailable", "down")

    with pytest.raises(ApiError):
        await api.idempotent(ctx, {"a": 1}, unavailable)

    async def refused():
        calls.append("409")
        raise ApiError(409, "refused", "not now", rule="STAGE")

    first = await api.idempotent(ctx, {"a": 1}, refused)
    again = await api.idempotent(ctx, {"a": 1}, refused)
    assert calls == ["503", "409"]  # the retry after a 503 ran; the retry after the refusal was replayed
    assert first.status_code == again.status_code == 409
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body) == json.loads(first.body)


async def test_http_replay_and_mismatch_on_resolve(db_pool):
    entry = token_entry("caf", {Scope.CASE_READ})
    app = create_app(None, Settings(), db_pool, tokens=ApiTokens.parse(entry))
    headers = {"Authorization": f"Bearer {entry.split(':')[1]}", "Idempotency-Key": _key()}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
        first = await client.post("/v1/pathways/resolve", json={"nir": _nir("1850178006048")}, headers=headers)
        again = await client.post("/v1/pathways/resolve", json={"nir": _nir("1850178006048")}, headers=headers)
        other = await client.post("/v1/pathways/resolve", json={"nir": _nir("2840375123456")}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and first.json()["pathway_id"].startswith("pathway-")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    stored = await db_pool.fetchrow("SELECT request_hash, response::text FROM api_idempotency "
                                    "WHERE idempotency_key = $1", headers["Idempotency-Key"])
    assert "1850178006048" not in stored["response"] and b"1850178006048" not in bytes(stored["request_hash"])
