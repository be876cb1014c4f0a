"""Codec server in OIDC mode: the Web UI's forwarded access token decodes, audited under the user; bad tokens don't."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from workers.codec_server import TOKENS_ENV_VAR, AccessTokens, create_app
from workers.runtime.codec import EncryptionCodec
from workers.runtime.codec_oidc import (
    ALGORITHMS_VAR,
    AUDIENCE_VAR,
    DECODE_CLAIM_VAR,
    DECODE_VALUES_VAR,
    ISSUER_VAR,
    JWKS_FILE_VAR,
    JWKS_URL_VAR,
    OidcConfigError,
    load_oidc_verifier,
)
from workers.runtime.keys import ENV_VAR as KEYS_VAR
from workers.runtime.keys import Keyring

ISSUER = "https://sso.cd62.test/realms/agents"
AUDIENCE = "temporal-ui"
GROUP = "parcours-codec-decode"
STATIC = "tok-static-" + "s" * 24
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"nom": "Martin-Confidentiel"}')


@pytest.fixture(scope="module")
def keys():
    return {"rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
            "rsa-rotated": rsa.generate_private_key(public_exponent=65537, key_size=2048)}


def jwk_of(kid: str, private_key) -> dict:
    rsa_key = isinstance(private_key, rsa.RSAPrivateKey)
    algorithm = jwt.algorithms.RSAAlgorithm if rsa_key else jwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(private_key.public_key())), "kid": kid, "use": "sig"}


@pytest.fixture
def env(tmp_path, keys):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_of("rsa-1", keys["rsa-1"]), jwk_of("ec-1", keys["ec-1"])]}))
    return {ISSUER_VAR: ISSUER, AUDIENCE_VAR: AUDIENCE, JWKS_FILE_VAR: str(jwks), DECODE_VALUES_VAR: GROUP}


def mint(keys, kid="rsa-1", alg="RS256", **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "f3a9-uuid", "email": "alice.agent@cd62.test",
              "groups": ["agents", GROUP], "iat": now, "exp": now + 300, **overrides}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, keys[kid], algorithm=alg,
                      headers={"kid": kid})


@pytest.fixture(scope="module")
def codec() -> EncryptionCodec:
    return EncryptionCodec(Keyring.generate("k-oidc"))


def client_for(codec, db_pool, verifier) -> httpx.AsyncClient:
    app = create_app(codec, AccessTokens.parse(f"ops:{STATIC}:decode+encode"), pool=db_pool, oidc=verifier)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec.test")


async def decode_as(client, codec, token: str, path: str = "/decode") -> tuple[httpx.Response, str]:
    [sealed] = await codec.encode([CLEAR])
    workflow_id = f"wf-oidc-{uuid.uuid4().hex[:8]}"
    response = await client.post(path, json={"payloads": [json_format.MessageToDict(sealed)]},
                                 headers={"Authorization": f"Bearer {token}", "X-Workflow-Id": workflow_id})
    return response, workflow_id


async def who_decoded(db_pool, workflow_id: str) -> list[str]:
    return [r["token_name"] for r in
            await db_pool.fetch("SELECT token_name FROM codec_audit WHERE workflow_id = $1", workflow_id)]


@pytest.mark.parametrize("kid, alg", [("rsa-1", "RS256"), ("ec-1", "ES256")])
async def test_a_valid_access_token_decodes_and_the_audit_row_names_the_user(codec, db_pool, env, keys, kid, alg,
                                                                              capsys):
    async with client_for(codec, db_pool, load_oidc_verifier(env)) as client:
        response, workflow_id = await decode_as(client, codec, mint(keys, kid, alg))
    assert response.status_code == 200, response.text
    assert json_format.ParseDict(response.json()["payloads"][0], Payload()) == CLEAR
    assert await who_decoded(db_pool, workflow_id) == ["oidc:alice.agent@cd62.test"]
    assert "alice" not in capsys.readouterr().out  # the user's name goes to the audit table only


async def test_the_user_falls_back_to_sub_and_the_decode_claim_may_be_nested(codec, db_pool, env, keys):
    env = {**env, DECODE_CLAIM_VAR: "realm_access.roles"}
    token = mint(keys, email=None, groups=None, realm_access={"roles": [GROUP]})
    async with client_for(codec, db_pool, load_oidc_verifier(env)) as client:
        response, workflow_id = await decode_as(client, codec, token)
    assert response.status_code == 200, response.text
    assert await who_decoded(db_pool, workflow_id) == ["oidc:f3a9-uuid"]


def _public_pem(keys) -> bytes:
    return keys["rsa-1"].public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("case, status, reason", [
    ("expired", 401, "expired"),
    ("not yet valid", 401, "not yet valid"),
    ("wrong issuer", 401, "issuer"),
    ("wrong audience", 401, "audience"),
    ("unknown kid", 401, "unknown signing key"),
    ("alg none", 401, "algorithm"),
    ("HS256 with the public key", 401, "algorithm"),
    ("ES256 header on the RSA key", 401, "algorithm"),
    ("tampered claims", 401, "signature"),
    ("no exp", 401, "exp"),
    ("missing group", 403, "decode values"),
])
async def test_bad_tokens_are_refused_with_a_reason_and_decode_nothing(codec, db_pool, env, keys, case, status,
                                                                       reason, capsys):
    now = int(time.time())
    token = {
        "expired": lambda: mint(keys, exp=now - 120),
        "not yet valid": lambda: mint(keys, nbf=now + 600),
        "wrong issuer": lambda: mint(keys, iss="https://evil.test"),
        "wrong audience": lambda: mint(keys, aud="another-app"),
        "unknown kid": lambda: mint(keys, kid="rsa-rotated"),
        "alg none": lambda: jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "email": "x@y", "groups": [GROUP],
                                        "exp": now + 300}, None, algorithm="none", headers={"kid": "rsa-1"}),
        "HS256 with the public key": lambda: _hs256_with(_public_pem(keys), now),
        "ES256 header on the RSA key": lambda: _swap_alg(mint(keys), "ES256"),
        "tampered claims": lambda: _tamper(mint(keys), now),
        "no exp": lambda: mint(keys, exp=None),
        "missing group": lambda: mint(keys, groups=["agents"]),
    }[case]()
    async with client_for(codec, db_pool, load_oidc_verifier(env)) as client:
        response, workflow_id = await decode_as(client, codec, token)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"] and "payloads" not in response.json()
    assert response.headers["www-authenticate"].startswith("Bearer error=")
    assert await who_decoded(db_pool, workflow_id) == []
    assert token not in capsys.readouterr().out


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256_with(secret: bytes, now: int) -> str:
    """The classic confusion attack: sign with HMAC, using the RSA public key as the shared secret."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "email": "x@y", "groups": [GROUP],
                            "exp": now + 300}).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _swap_alg(token: str, alg: str) -> str:
    head, body, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return f"{_b64(json.dumps({**header, 'alg': alg}).encode())}.{body}.{signature}"


def _tamper(token: str, now: int) -> str:
    head, _, signature = token.split(".")
    body = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "email": "mallory@y", "groups": [GROUP],
                            "exp": now + 300}).encode())
    return f"{head}.{body}.{signature}"


async def test_encode_is_never_granted_to_an_oidc_token_and_static_tokens_are_unchanged(codec, db_pool, env, keys):
    async with client_for(codec, db_pool, load_oidc_verifier(env)) as client:
        refused, workflow_id = await decode_as(client, codec, mint(keys), path="/encode")
        assert refused.status_code == 403 and "encode" in refused.json()["error"]
        assert await who_decoded(db_pool, workflow_id) == []

        for path in ("/decode", "/encode"):
            static, workflow_id = await decode_as(client, codec, STATIC, path=path)
            assert static.status_code == 200 and await who_decoded(db_pool, workflow_id) == ["ops"]
        via_path = await client.post(f"/t/{STATIC}/decode", json={"payloads": []})
        assert via_path.status_code == 200
        assert (await decode_as(client, codec, STATIC + "x"))[0].status_code == 403
        # An OIDC token is only read from the header, never from the URL.
        assert (await client.post(f"/t/{mint(keys)}/decode", json={"payloads": []})).status_code == 403


async def test_without_oidc_settings_a_jwt_is_just_an_unknown_token(codec, db_pool, keys):
    assert load_oidc_verifier({}) is None
    async with client_for(codec, db_pool, None) as client:
        response, _ = await decode_as(client, codec, mint(keys))
    assert response.status_code == 403 and response.json()["error"] == "token not accepted"


async def test_the_jwks_url_is_fetched_at_start_and_again_for_an_unknown_kid(codec, db_pool, env, keys):
    served = {"keys": [jwk_of("ec-1", keys["ec-1"])]}
    fetches = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return httpx.Response(200, json=served)

    env = {**env, JWKS_URL_VAR: "https://sso.cd62.test/jwks"}
    verifier = load_oidc_verifier(env, transport=httpx.MockTransport(handler))
    assert fetches == ["https://sso.cd62.test/jwks"]
    served["keys"].append(jwk_of("rsa-rotated", keys["rsa-rotated"]))  # the provider rotates its key
    async with client_for(codec, db_pool, verifier) as client:
        rotated, workflow_id = await decode_as(client, codec, mint(keys, kid="rsa-rotated"))
        assert rotated.status_code == 200, rotated.text
        assert await who_decoded(db_pool, workflow_id) == ["oidc:alice.agent@cd62.test"]
        unknown = jwt.encode({"iss": ISSUER}, keys["rsa-1"], algorithm="RS256", headers={"kid": "nobody"})
        assert (await decode_as(client, codec, unknown))[0].status_code == 401
    assert len(fetches) == 2  # no second refresh within the minute: unknown kids cannot make it hammer the provider


def test_the_server_starts_offline_when_the_jwks_url_is_unreachable(env):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable", request=request)

    verifier = load_oidc_verifier({**env, JWKS_URL_VAR: "https://sso.cd62.test/jwks"},
                                  transport=httpx.MockTransport(down))
    assert verifier is not None and set(verifier._keys) == {"rsa-1", "ec-1"}


@pytest.mark.parametrize("change, message", [
    ({AUDIENCE_VAR: ""}, AUDIENCE_VAR),
    ({DECODE_VALUES_VAR: ""}, DECODE_VALUES_VAR),
    ({JWKS_FILE_VAR: "/nonexistent/jwks.json"}, JWKS_FILE_VAR),
    ({ALGORITHMS_VAR: "RS256,HS256"}, ALGORITHMS_VAR),
    ({ALGORITHMS_VAR: "none"}, ALGORITHMS_VAR),
    ({JWKS_URL_VAR: "http://sso.cd62.test/jwks"}, JWKS_URL_VAR),
])
def test_incomplete_or_unsafe_settings_stop_the_start(env, change, message):
    with pytest.raises(OidcConfigError, match=message):
        load_oidc_verifier({**env, **change})


def test_a_jwks_file_without_usable_keys_stops_the_start(env, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}))
    with pytest.raises(OidcConfigError, match="no RS256/ES256"):
        load_oidc_verifier({**env, JWKS_FILE_VAR: str(empty)})


def test_codec_server_refuses_to_start_on_incomplete_oidc_settings(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PARCOURS_")},
           "PARCOURS_HOME": str(tmp_path), "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
           KEYS_VAR: Keyring.generate("k1").to_spec(), TOKENS_ENV_VAR: f"ops:{STATIC}", ISSUER_VAR: ISSUER}
    result = subprocess.run([sys.executable, "-m", "workers.cli", "codec-server", "--port", "0"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "cannot start" in result.stderr
    assert AUDIENCE_VAR in result.stderr and JWKS_FILE_VAR in result.stderr
