"""API tokens: configuration, digests only, 401 without a known token, 403 without the route's scope."""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from workers.api import create_app
from workers.api.auth import (
    ALL_SCOPES,
    DEV_TOKENS_FILE,
    TOKENS_ENV_VAR,
    ApiTokenConfigError,
    ApiTokens,
    Scope,
    dev_token,
    load_api_tokens,
)
from workers.runtime.config import Settings

READER = "r" * 30
STARTER = "s" * 30


def test_parse_keeps_service_scopes_and_only_digests():
    tokens = ApiTokens.parse(f"caf:{STARTER}:pathway.start+pathway.events, dashboard:{READER}:case.read")
    caf = tokens.authenticate(STARTER)
    assert caf is not None and caf.service == "caf"
    assert caf.scopes == {Scope.PATHWAY_START, Scope.PATHWAY_EVENTS}
    assert tokens.authenticate(READER).scopes == {Scope.CASE_READ}
    assert tokens.authenticate("x" * 30) is None
    assert tokens.authenticate("") is None
    kept = repr(tokens) + "".join(repr(entry) for entry in tokens.entries)
    assert STARTER not in kept and READER not in kept


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("", "no API token"),
        (f"caf:{STARTER}", "service:token:scope1+scope2"),
        (f"caf:short:case.read", "too short"),
        (f"caf:{STARTER}:case.write", "unknown scope 'case.write'"),
        (f"caf:{STARTER}:", "has no scope"),
        (f"caf:{STARTER}:case.read,caf:{READER}:case.read", "appears twice"),
        (f"caf:{STARTER}:case.read,cnaf:{STARTER}:case.read", "also another service's token"),
        (f"c a f:{STARTER}:case.read", "invalid service name"),
    ],
)
def test_bad_configuration_is_refused_without_showing_tokens(spec, fragment):
    with pytest.raises(ApiTokenConfigError) as error:
        ApiTokens.parse(spec)
    assert fragment in str(error.value)
    assert STARTER not in str(error.value)


def test_production_requires_the_variable(tmp_path):
    with pytest.raises(ApiTokenConfigError, match=TOKENS_ENV_VAR):
        load_api_tokens(None, environ={})
    assert not (tmp_path / DEV_TOKENS_FILE).exists()


def test_variable_wins_over_dev_file(tmp_path):
    tokens = load_api_tokens(tmp_path, environ={TOKENS_ENV_VAR: f"caf:{STARTER}:case.read"})
    assert tokens.authenticate(STARTER).service == "caf"
    assert not (tmp_path / DEV_TOKENS_FILE).exists()


def test_dev_file_created_once_with_every_scope_and_mode_0600(tmp_path):
    tokens = load_api_tokens(tmp_path, environ={})
    path = tmp_path / DEV_TOKENS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = dev_token(tmp_path)
    caller = tokens.authenticate(token)
    assert caller.service == "dev" and caller.scopes == ALL_SCOPES
    again = load_api_tokens(tmp_path, environ={})
    assert again.authenticate(token) is not None  # same file, same token


@pytest.fixture
def app():
    tokens = ApiTokens.parse(f"dashboard:{READER}:case.read,caf:{STARTER}:pathway.start")
    # No Temporal client: every request here is answered before any workflow call.
    return create_app(None, Settings(), None, tokens=tokens)


async def _request(app, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
        return await client.request(method, path, headers=headers, **kwargs)


PATHWAY = "pathway-" + "0" * 32


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/pathways"),
        ("POST", f"/v1/pathways/{PATHWAY}/left-rsa"),
        ("POST", f"/v1/pathways/{PATHWAY}/cer"),
        ("GET", f"/v1/pathways/{PATHWAY}"),
        ("POST", "/v1/label-applications"),
        ("POST", "/v1/label-applications/label-S1-1/decision"),
        ("GET", "/v1/label-applications/label-S1-1"),
        ("POST", "/v1/labels/S1/renewal-request"),
        ("GET", "/v1/labels/S1"),
    ],
)
async def test_missing_or_unknown_token_is_401(app, method, path):
    missing = await _request(app, method, path, json={})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = await _request(app, method, path, token="u" * 30, json={})
    assert unknown.status_code == 401
    assert "invalid_token" in unknown.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "method, path, needed",
    [
        ("POST", "/v1/pathways", "pathway.start"),
        ("POST", f"/v1/pathways/{PATHWAY}/left-rsa", "pathway.events"),
        ("POST", f"/v1/pathways/{PATHWAY}/orientation", "pathway.events"),
        ("POST", "/v1/label-applications", "label.apply"),
        ("POST", "/v1/label-applications/label-S1-1/decision", "label.decide"),
    ],
)
async def test_token_without_the_scope_is_403(app, method, path, needed):
    response = await _request(app, method, path, token=READER, json={})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert needed in response.json()["error"]["message"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


async def test_read_route_refuses_a_write_only_token(app):
    response = await _request(app, "GET", f"/v1/pathways/{PATHWAY}", token=STARTER)
    assert response.status_code == 403
    assert "case.read" in response.json()["error"]["message"]


async def test_openapi_and_docs_are_served_with_bearer_scheme(app):
    document = (await _request(app, "GET", "/openapi.json")).json()
    assert document["info"]["title"] == "parcours-rsa API"
    assert any(s.get("scheme") == "bearer" for s in document["components"]["securitySchemes"].values())
    start = document["paths"]["/v1/pathways"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in start["parameters"])
    for path in ("/v1/pathways/{pathway_id}/left-rsa", "/v1/pathways/{pathway_id}/appointments",
                 "/v1/pathways/{pathway_id}/orientation", "/v1/pathways/{pathway_id}/cer",
                 "/v1/pathways/{pathway_id}/bilan", "/v1/label-applications/{application_id}/decision"):
        assert "post" in document["paths"][path]
    docs = await _request(app, "GET", "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
