"""Codec server: token required, decodes audited in PostgreSQL, CORS for the Web UI, protocol JSON."""

from __future__ import annotations

import stat
import uuid

import asyncpg
import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from temporalio.converter import WorkflowSerializationContext

from workers.runtime.codec import ENCODING, KEY_ID_METADATA, WORKFLOW_ID_METADATA, EncryptionCodec
from workers.codec_server import (
    DEFAULT_UI_ORIGIN,
    MAX_BODY_BYTES,
    TOKENS_ENV_VAR,
    AccessTokens,
    TokenConfigError,
    create_app,
    load_codec_tokens,
)
from workers.runtime.keys import Keyring

TOKEN = "tok-agent-" + "a" * 24
OTHER_TOKEN = "tok-other-" + "b" * 24
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"nom": "Martin-Confidentiel"}')


@pytest.fixture(scope="module")
def codec() -> EncryptionCodec:
    return EncryptionCodec(Keyring.generate("k-srv"))


@pytest.fixture
def client(codec, db_pool):
    app = create_app(
        codec,
        AccessTokens.from_pairs({"agent.dpid": TOKEN, "auditor": OTHER_TOKEN}),
        pool=db_pool,
        cors_origins=[DEFAULT_UI_ORIGIN],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test")


def body_of(*payloads: Payload) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def payloads_of(response: httpx.Response) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in response.json()["payloads"]]


async def audit_rows(db_pool, workflow_id: str) -> list[asyncpg.Record]:
    return await db_pool.fetch("SELECT * FROM codec_audit WHERE workflow_id = $1 ORDER BY id", workflow_id)


async def test_decode_with_token_returns_clear_payloads_and_writes_an_audit_row(client, codec, db_pool):
    [sealed] = await codec.encode([CLEAR])
    workflow_id = f"parcours-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/decode",
        json=body_of(sealed, CLEAR),
        headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "parcours-rsa", "X-Workflow-Id": workflow_id},
    )
    assert response.status_code == 200, response.text
    assert payloads_of(response) == [CLEAR, CLEAR]

    [row] = await audit_rows(db_pool, workflow_id)
    assert row["token_name"] == "agent.dpid" and row["namespace"] == "parcours-rsa"
    assert row["payload_count"] == 2 and row["key_ids"] == ["k-srv"] and row["outcome"] == "decoded"
    assert row["occurred_at"] is not None
    assert "Martin" not in repr(dict(row))  # the audit log records who and what, never the content


async def test_workflow_id_is_taken_from_the_body_or_the_ui_referer(client, codec, db_pool):
    [sealed] = await codec.encode([CLEAR])
    from_body = f"wf-body-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/decode", json={**body_of(sealed), "workflowId": from_body}, headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
    )
    assert response.status_code == 200
    assert [r["token_name"] for r in await audit_rows(db_pool, from_body)] == ["auditor"]

    from_referer = f"wf-ref-{uuid.uuid4().hex[:8]}"
    referer = f"{DEFAULT_UI_ORIGIN}/namespaces/parcours-rsa/workflows/{from_referer}/run-1/history"
    response = await client.post(
        "/decode", json=body_of(sealed), headers={"Authorization": f"Bearer {TOKEN}", "Referer": referer}
    )
    assert response.status_code == 200
    assert len(await audit_rows(db_pool, from_referer)) == 1


@pytest.mark.parametrize("path", ["/decode", "/encode"])
async def test_refused_without_a_token_and_with_a_wrong_token(client, codec, db_pool, path):
    [sealed] = await codec.encode([CLEAR])
    workflow_id = f"wf-refused-{uuid.uuid4().hex[:8]}"
    headers = {"X-Workflow-Id": workflow_id}

    missing = await client.post(path, json=body_of(sealed), headers=headers)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.post(path, json=body_of(sealed), headers={**headers, "Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 403
    basic = await client.post(path, json=body_of(sealed), headers={**headers, "Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    for response in (missing, wrong, basic):
        assert "payloads" not in response.json() and b"Martin" not in response.content
    assert await audit_rows(db_pool, workflow_id) == []


async def test_token_in_the_endpoint_path_for_the_dev_web_ui(client, codec, db_pool):
    [sealed] = await codec.encode([CLEAR])
    workflow_id = f"wf-path-{uuid.uuid4().hex[:8]}"
    ok = await client.post(f"/t/{TOKEN}/decode", json=body_of(sealed), headers={"X-Workflow-Id": workflow_id})
    assert ok.status_code == 200 and payloads_of(ok) == [CLEAR]
    assert [r["token_name"] for r in await audit_rows(db_pool, workflow_id)] == ["agent.dpid"]
    wrong = await client.post(f"/t/{TOKEN}x/decode", json=body_of(sealed))
    assert wrong.status_code == 403


async def test_encode_needs_its_own_scope_and_is_audited(codec, db_pool):
    app = create_app(codec, AccessTokens.parse(f"agent.dpid:{TOKEN},signal.desk:{OTHER_TOKEN}:encode"), pool=db_pool)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test") as client:
        workflow_id = f"wf-encode-{uuid.uuid4().hex[:8]}"
        decoder = await client.post("/encode", json=body_of(CLEAR),
                                    headers={"Authorization": f"Bearer {TOKEN}", "X-Workflow-Id": workflow_id})
        assert decoder.status_code == 403 and "encode" in decoder.json()["error"]
        assert "payloads" not in decoder.json()

        response = await client.post("/encode", json=body_of(CLEAR, CLEAR),
                                     headers={"Authorization": f"Bearer {OTHER_TOKEN}", "X-Workflow-Id": workflow_id})
        assert response.status_code == 200
        sealed = payloads_of(response)
        assert all(p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID_METADATA] == b"k-srv" for p in sealed)
        assert await codec.decode(sealed) == [CLEAR, CLEAR]
        [row] = await audit_rows(db_pool, workflow_id)
        assert (row["operation"], row["outcome"], row["token_name"]) == ("encode", "encoded", "signal.desk")
        assert row["payload_count"] == 2 and row["workflow_id_source"] == "client"

        # The encode-only token cannot read payloads.
        assert (await client.post("/decode", json=body_of(sealed[0]),
                                  headers={"Authorization": f"Bearer {OTHER_TOKEN}"})).status_code == 403


async def test_one_audit_row_per_case_named_by_the_payloads_not_by_the_client(client, codec, db_pool):
    ids = [f"pathway-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    sealed = []
    for workflow_id in ids:
        case_codec = codec.with_context(WorkflowSerializationContext(namespace="parcours-rsa", workflow_id=workflow_id))
        sealed += await case_codec.encode([CLEAR, CLEAR])
    [unnamed] = await codec.encode([CLEAR])
    claimed = f"wf-claimed-{uuid.uuid4().hex[:8]}"
    response = await client.post("/decode", json=body_of(*sealed, unnamed),
                                 headers={"Authorization": f"Bearer {TOKEN}", "X-Workflow-Id": claimed})
    assert response.status_code == 200 and payloads_of(response) == [CLEAR] * 7
    for workflow_id in ids:
        [row] = await audit_rows(db_pool, workflow_id)
        assert row["payload_count"] == 2 and row["workflow_id_source"] == "payload" and row["outcome"] == "decoded"
    [row] = await audit_rows(db_pool, claimed)  # only the payload that names no case is put on the client's word
    assert row["payload_count"] == 1 and row["workflow_id_source"] == "client"


async def test_a_payload_relabelled_to_another_case_is_refused_and_audited_under_its_claimed_case(client, codec,
                                                                                                  db_pool):
    real, other = f"pathway-{uuid.uuid4().hex[:8]}", f"pathway-{uuid.uuid4().hex[:8]}"
    case_codec = codec.with_context(WorkflowSerializationContext(namespace="parcours-rsa", workflow_id=real))
    [sealed] = await case_codec.encode([CLEAR])
    sealed.metadata[WORKFLOW_ID_METADATA] = other.encode()
    response = await client.post("/decode", json=body_of(sealed), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422 and b"Martin" not in response.content
    assert [r["outcome"] for r in await audit_rows(db_pool, other)] == ["failed"]


async def test_tampered_payload_is_refused_and_the_attempt_audited(client, codec, db_pool):
    [sealed] = await codec.encode([CLEAR])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    workflow_id = f"wf-tamper-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/decode", json=body_of(sealed), headers={"Authorization": f"Bearer {TOKEN}", "X-Workflow-Id": workflow_id}
    )
    assert response.status_code == 422 and "authentication" in response.json()["error"]
    assert [r["outcome"] for r in await audit_rows(db_pool, workflow_id)] == ["failed"]


@pytest.mark.parametrize("content", [
    b"not json",
    b"[1, 2]",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"payloads": ' + b"[" * 900 + b"]" * 900 + b"}",
    b'{"workflowId": ' + b"[" * 900 + b"]" * 900 + b', "payloads": []}',
    b'{"payloads": [{"metadata": {"encoding": 5}, "data": "eA=="}]}',
    b'{"payloads": [{"data": "!!not base64!!"}]}',
    b'{"payloads": "x"}',
    b"\xff\xfe",
])
@pytest.mark.parametrize("path", ["/decode", "/encode"])
async def test_malformed_or_deep_bodies_are_a_json_4xx(codec, db_pool, content, path):
    app = create_app(codec, AccessTokens.parse(f"agent:{TOKEN}:decode+encode"), pool=db_pool)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test") as client:
        response = await client.post(path, content=content, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert response.status_code in (200, 400), response.text  # 200 only when the body is a valid empty list
    assert "error" in response.json() or response.json() == {"payloads": []}
    if response.status_code == 200:
        assert content.startswith(b'{"workflowId"')


async def test_too_large_body_is_a_413(client):
    big = b'{"payloads": [{"data": "' + b"A" * (MAX_BODY_BYTES + 4) + b'"}]}'
    response = await client.post("/decode", content=big, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 413 and "error" in response.json()


async def test_no_decode_when_the_audit_row_cannot_be_written(codec, database_url):
    broken = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await broken.close()
    app = create_app(codec, AccessTokens.from_pairs({"agent": TOKEN}), pool=broken)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test") as client:
        [sealed] = await codec.encode([CLEAR])
        response = await client.post("/decode", json=body_of(sealed), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 503 and b"Martin" not in response.content


async def test_cors_preflight_answered_for_the_ui_origin_only(client):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    ok = await client.options("/decode", headers={"Origin": DEFAULT_UI_ORIGIN, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == DEFAULT_UI_ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    allowed = ok.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in ("authorization", "content-type", "x-namespace"))

    other = await client.options("/decode", headers={"Origin": "http://evil.example", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers

    # The actual cross-origin POST carries the header too, so the browser hands the response to the UI.
    post = await client.post(
        "/decode", json={"payloads": []}, headers={"Origin": DEFAULT_UI_ORIGIN, "Authorization": f"Bearer {TOKEN}"}
    )
    assert post.status_code == 200 and post.headers["access-control-allow-origin"] == DEFAULT_UI_ORIGIN
    assert post.json() == {"payloads": []}


def test_tokens_from_env_or_a_private_dev_file(tmp_path):
    spec = f"ops.alice:{TOKEN}, ops.bob:{OTHER_TOKEN}"
    tokens = load_codec_tokens(tmp_path, environ={TOKENS_ENV_VAR: spec})
    assert tokens.who(TOKEN) == "ops.alice" and tokens.who(OTHER_TOKEN) == "ops.bob" and tokens.who("x" * 30) is None
    assert TOKEN.encode() not in repr(tokens).encode()
    assert not (tmp_path / "codec-tokens").exists()

    dev = load_codec_tokens(tmp_path, environ={})
    path = tmp_path / "codec-tokens"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dev_token = path.read_text().strip().splitlines()[-1].split(":", 1)[1]
    assert dev.who(dev_token) == "dev" and load_codec_tokens(tmp_path, environ={}).who(dev_token) == "dev"

    with pytest.raises(TokenConfigError, match=TOKENS_ENV_VAR):
        load_codec_tokens(None, environ={})
    with pytest.raises(TokenConfigError, match="too short"):
        AccessTokens.parse("alice:short")
    with pytest.raises(TokenConfigError, match="twice"):
        AccessTokens.parse(f"alice:{TOKEN},alice:{OTHER_TOKEN}")
    with pytest.raises(TokenConfigError, match="scopes"):
        AccessTokens.parse(f"alice:{TOKEN}:admin")
    scoped = AccessTokens.parse(f"alice:{TOKEN}, desk:{OTHER_TOKEN}:encode+decode")
    assert scoped.allows("alice", "decode") and not scoped.allows("alice", "encode")
    assert scoped.allows("desk", "encode") and scoped.allows("desk", "decode")
