"""Bad input is a 422 naming the field, and never echoes the value (a NIR may be in it)."""

from __future__ import annotations

import io
import json
import uuid

import httpx
import pytest

from domain.identity import nir_key
from workers.api import create_app
from workers.api.auth import ApiTokens, token_entry
from workers.runtime.config import Settings
from workers.runtime.logging import configure_logging

BODY13 = "2840375123456"
VALID_NIR = f"{BODY13}{nir_key(BODY13):02d}"
WRONG_KEY_NIR = f"{BODY13}{(nir_key(BODY13) % 97) + 1:02d}"
PATHWAY = "pathway-" + "a" * 32


@pytest.fixture
def token_and_app():
    entry = token_entry("ops")
    tokens = ApiTokens.parse(entry)
    return entry.split(":")[1], create_app(None, Settings(), None, tokens=tokens)


async def _post(token_and_app, path, body, headers=None):
    token, app = token_and_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
        return await client.post(path, json=body, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4()), "X-Actor": "agent:ops-0001",
            **(headers or {})})


def _start(**overrides):
    body = {"nir": VALID_NIR, "territory": "ARTOIS", "transmission_date": "2025-03-03", "subject_to_duties": True}
    body.update(overrides)
    return body


async def test_nir_with_a_wrong_key_names_the_field_and_is_not_echoed(token_and_app):
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    response = await _post(token_and_app, "/v1/pathways", _start(nir=WRONG_KEY_NIR))
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert body["field"] == "nir"
    assert "key does not match" in body["message"]
    assert BODY13 not in response.text
    assert "api_invalid_request" in stream.getvalue()
    assert BODY13 not in stream.getvalue()


async def test_nir_with_bad_characters_names_the_rule(token_and_app):
    response = await _post(token_and_app, "/v1/pathways", _start(nir="9" + VALID_NIR[1:]))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "nir"
    assert "must start with 1, 2, 3, 7 or 8" in response.json()["error"]["message"]
    assert VALID_NIR[1:] not in response.text


@pytest.mark.parametrize(
    "path, body, field, fragment",
    [
        ("/v1/pathways", _start(territory=None), "territory", "valid string"),
        ("/v1/pathways", {k: v for k, v in _start().items() if k != "subject_to_duties"}, "subject_to_duties",
         "required"),
        ("/v1/pathways", _start(transmission_date="2025-02-30"), "transmission_date", "date"),
        ("/v1/pathways", _start(nom="Dupont"), "nom", "not permitted"),
        (f"/v1/pathways/{PATHWAY}/left-rsa", {"end_of_payment_date": "tomorrow", "reason": "x"},
         "end_of_payment_date", "date"),
        (f"/v1/pathways/{PATHWAY}/appointments", {"kind": "CANCELLED", "appointment_date": "2025-03-03"}, "kind",
         "SCHEDULED"),
        (f"/v1/pathways/{PATHWAY}/orientation", {"target": "PLATFORM", "notified_on": "2025-03-03"}, "structure_id",
         "required"),
        (f"/v1/pathways/{PATHWAY}/cer",
         {"cer_id": "c1", "type": "SOLIDARITE", "start": "2025-03-01", "end": "2025-08-01", "signed_on": "2025-03-01",
          "actions": [{"start": "2025-03-01", "end": "never"}]}, "actions[0].end", "date"),
        (f"/v1/pathways/{PATHWAY}/bilan", {"completed_on": "2025-03-03", "decision": "MAYBE"}, "decision", "CONTINUE"),
        ("/v1/label-applications", {"structure_id": "S 1", "application_no": 1, "territory": "ARTOIS"},
         "structure_id", "pattern"),
        ("/v1/label-applications", {"structure_id": "S1", "application_no": 0, "territory": "ARTOIS"},
         "application_no", "greater than or equal to 1"),
        ("/v1/label-applications/label-S1-1/decision", {"outcome": "maybe"}, "outcome", "'grant' or 'refuse'"),
        ("/v1/label-applications/label-S1-1/admin-evaluation",
         {"training_ok": True, "cer_average": 11, "seed": "s"}, "cer_average", "less than or equal to 10"),
        ("/v1/labels/S1/commitment-breach", {"grounds": []}, "grounds", "at least 1"),
    ],
)
async def test_invalid_body_names_the_field(token_and_app, path, body, field, fragment):
    response = await _post(token_and_app, path, body)
    assert response.status_code == 422, response.text
    answer = response.json()["error"]
    assert answer["field"] == field
    assert fragment in answer["message"]
    assert answer["message"].startswith(f"{field}: ")
    assert all("input" not in item for item in answer["fields"])


async def test_every_error_is_listed(token_and_app):
    response = await _post(token_and_app, "/v1/pathways", {"nir": WRONG_KEY_NIR})
    fields = {item["field"] for item in response.json()["error"]["fields"]}
    assert fields == {"nir", "territory", "transmission_date", "subject_to_duties"}


@pytest.mark.parametrize("path", ["/v1/pathways/pathway-123/left-rsa", f"/v1/pathways/label-S1-1/left-rsa",
                                  "/v1/label-applications/labelled-S1/decision"])
async def test_case_id_of_the_wrong_shape_is_refused(token_and_app, path):
    response = await _post(token_and_app, path, {"end_of_payment_date": "2025-03-03", "reason": "x",
                                                 "outcome": "grant"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] in ("path pathway_id", "path application_id")


@pytest.mark.parametrize("key", ["x" * 256, "has space", "é"])
async def test_bad_idempotency_key_names_the_header(token_and_app, key):
    headers = {"Idempotency-Key": key.encode("utf-8")}
    response = await _post(token_and_app, f"/v1/pathways/{PATHWAY}/left-rsa",
                           {"end_of_payment_date": "2025-03-03", "reason": "x"}, headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "header Idempotency-Key"


async def test_malformed_json_is_a_clear_422(token_and_app):
    token, app = token_and_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
        response = await client.post("/v1/pathways", content=b'{"nir": "1', headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    json.dumps(response.json())  # plain JSON, nothing unserialisable
