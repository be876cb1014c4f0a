"""Issue 13 at the API's edge (in-process, no Temporal): every POST needs an Idempotency-Key (428), bodies are
strict (JSON types only, plausible dates, identifiers by pattern, no control characters, bounded), a body over
the limit is 413; and issue 12's contract: every public message of the pathway and label workflows has a route
declaring it (``x-temporal-message``), printed by ``parcours api --openapi``."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from temporalio import workflow
from typer.testing import CliRunner

from domain.actor import Actor, valid_actor
from workers.api import create_app
from workers.api.bodies import MAX_BODY_BYTES, server_today
from workers.api.auth import ApiTokens, token_entry
from workers.cli.app import app as cli
from workers.runtime.config import Settings
from domain.label_contract import INTERNAL_SIGNALS as LABEL_INTERNAL_SIGNALS
from workflows.label import LabelWorkflow
from workflows.label_application import LabelApplicationWorkflow
from workflows.pathway import BeneficiaryPathway
from workflows.pathway_settings import INTERNAL_SIGNALS, SIGNALS_REPLACED_BY_UPDATES

ENTRY = token_entry("ops")
APP = create_app(None, Settings(), None, tokens=ApiTokens.parse(ENTRY))  # type: ignore[arg-type]
PATHWAY = "pathway-" + "b" * 32
TODAY = server_today()


def _headers(**extra: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ENTRY.split(':')[1]}", "Idempotency-Key": str(uuid.uuid4()),
               "X-Actor": "agent:ops-0001", **extra}
    return {k: v for k, v in headers.items() if v is not None}


async def _post(path: str, body: Any = None, *, content: Any = None, **headers: str | None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(APP), base_url="http://api") as client:
        if content is not None:
            return await client.post(path, content=content, headers={**_headers(**headers),
                                                                     "Content-Type": "application/json"})
        return await client.post(path, json=body, headers=_headers(**headers))


def _openapi() -> dict:
    return APP.openapi()


def _orientation(**overrides: Any) -> dict:
    return {"target": "PLATFORM", "structure_id": "PLAT-1", "notified_on": TODAY.isoformat(), **overrides}


# ---------------------------------------------------------------- one route per message


def _messages(workflow_class: type) -> set[str]:
    definition = workflow._Definition.from_class(workflow_class)
    return set(definition.signals) | set(definition.updates)


def test_every_public_message_has_a_route_declaring_it():
    declared = {op["x-temporal-message"] for ops in _openapi()["paths"].values() for op in ops.values()
                if "x-temporal-message" in op and op.get("x-temporal-message-kind") != "query"}
    pathway = _messages(BeneficiaryPathway) - INTERNAL_SIGNALS - set(SIGNALS_REPLACED_BY_UPDATES)
    assert pathway <= declared, pathway - declared
    assert set(SIGNALS_REPLACED_BY_UPDATES.values()) <= declared
    labels = (_messages(LabelApplicationWorkflow) | _messages(LabelWorkflow)) - LABEL_INTERNAL_SIGNALS
    assert labels <= declared, labels - declared
    assert len(pathway) >= 24


def test_every_post_declares_its_message_kind_and_sender_and_the_message_schema():
    paths = _openapi()["paths"]
    schemas = _openapi()["components"]["schemas"]
    for path, ops in paths.items():
        op = ops.get("post")
        if op is None or path in ("/v1/pathways/resolve", "/v1/caseload-imports"):  # computed; a file upload
            continue
        if path.startswith("/v1/tasks/"):  # the task inbox acts on the read model, not on a workflow
            assert op["x-actor"] == "person" and op["x-scopes"], path
            assert {p["name"] for p in op["parameters"]} >= {"Idempotency-Key", "X-Actor"}, path
            continue
        assert op["x-temporal-message-kind"] in ("update", "signal") and op["x-actor"] in ("person", "system"), path
        names = {p["name"]: p for p in op["parameters"]}
        assert names["Idempotency-Key"]["in"] == "header"
        assert names["X-Actor"]["required"] is (op["x-actor"] == "person"), path
        body = schemas[op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
        assert "actor" not in body["properties"] and body.get("additionalProperties") is False, path
    sign_cer = paths["/v1/pathways/{pathway_id}/cer"]["post"]
    assert sign_cer["x-temporal-message"] == "sign_cer" and sign_cer["x-actor"] == "person"


def test_openapi_is_printed_without_a_server_or_temporal():
    result = CliRunner().invoke(cli, ["api", "--openapi"], env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["paths"]["/v1/pathways/{pathway_id}/diagnostic"]["post"]["x-temporal-message"] == \
        "record_diagnostic"


# ---------------------------------------------------------------- idempotency, sizes, actors


@pytest.mark.parametrize("path", sorted(p.replace("{pathway_id}", PATHWAY).replace("{application_id}", "label-S1-1")
                                        .replace("{structure_id}", "S1")
                                        for p, ops in APP.openapi()["paths"].items() if "post" in ops))
async def test_every_post_without_an_idempotency_key_is_428(path):
    response = await _post(path, {}, **{"Idempotency-Key": None})
    assert response.status_code == 428, response.text
    assert response.json() == {"error": {
        "code": "idempotency_key_required", "field": "header Idempotency-Key",
        "message": "every POST needs an Idempotency-Key header (a unique string, e.g. a UUID)"}}


async def test_a_body_over_the_limit_is_413_whether_announced_or_streamed():
    big = {"target": "PLATFORM", "structure_id": "S" * (3 * 1024 * 1024), "notified_on": TODAY.isoformat()}
    announced = await _post(f"/v1/pathways/{PATHWAY}/orientation", big)
    assert announced.status_code == 413 and announced.json()["error"]["code"] == "body_too_large"

    async def chunks():
        yield b'{"target": "PLATFORM", "structure_id": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"S" * 1024
        yield b'", "notified_on": "2025-01-01"}'

    streamed = await _post(f"/v1/pathways/{PATHWAY}/orientation", content=chunks())
    assert streamed.status_code == 413, streamed.text


def test_an_actor_is_an_opaque_id_never_a_name():
    assert valid_actor("agent:7f3a9c01") and valid_actor("agent:slai_0042")
    for name in ("Jean Dupont", "agent:jean.dupont", "agent:jean@cd62.fr", "agent:abc", "user:7f3a9c01", "agent:"):
        assert not valid_actor(name), name
    assert Actor(service="sdis", person="agent:7f3a9c01").label() == "agent:7f3a9c01 via sdis"


# ---------------------------------------------------------------- strict bodies


@pytest.mark.parametrize("path, body, field", [
    ("/v1/pathways", {"nir": "1840562123456 12", "territory": "ARTOIS", "transmission_date": "2025-03-03",
                      "subject_to_duties": "yes"}, "subject_to_duties"),
    ("/v1/pathways", {"nir": "1840562123456 12", "territory": "ARTOIS", "transmission_date": 1764547200,
                      "subject_to_duties": True}, "transmission_date"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(notified_on="1900-01-01"), "notified_on"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(notified_on="2100-01-01"), "notified_on"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(structure_id="CCAS\x00LENS"), "structure_id"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(structure_id="CCAS LENS"), "structure_id"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(bypass_reason="suivi\x07"), "bypass_reason"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(bypass_reason="x" * 2001), "bypass_reason"),
    (f"/v1/pathways/{PATHWAY}/orientation", _orientation(event_id="evt 1"), "event_id"),
    (f"/v1/pathways/{PATHWAY}/appointments", {"kind": "HELD", "appointment_date": TODAY.isoformat(),
                                              "physical": 1}, "physical"),
    (f"/v1/pathways/{PATHWAY}/cer", {"cer_id": "c1", "type": "SOLIDARITE", "start": TODAY.isoformat(),
                                     "end": "2100-01-01", "signed_on": TODAY.isoformat(),
                                     "actions": [{"start": TODAY.isoformat(), "end": TODAY.isoformat()}]}, "end"),
    ("/v1/label-applications/label-S1-1/decision", {"outcome": "refuse", "decided_on": "0001-01-01"},
     "decided_on"),
    ("/v1/labels/S1/commitment-breach", {"grounds": ["a\x00b"]}, "grounds[0]"),
])
async def test_a_loose_or_implausible_value_is_422_naming_the_field(path, body, field):
    from domain.identity import nir_key

    if path == "/v1/pathways":
        body = {**body, "nir": f"1840562123456{nir_key('1840562123456'):02d}"}
    response = await _post(path, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["field"] == field, error
    assert "\x00" not in response.text and "LENS" not in response.text


class _Accepting:
    """A Temporal client stand-in whose cases accept every update (the edge's verdict alone is tested)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def get_workflow_handle(self, workflow_id: str) -> "_Accepting":
        return self

    async def execute_update(self, name: str, message: Any) -> dict:
        self.sent.append(message)
        return {"stage": "CER_ACTIVE", "duplicate": False}


async def test_planned_dates_may_lie_ahead_within_the_horizon_and_the_actor_is_set_by_the_api():
    """A CER ends up to 6 months after it starts: planned dates are not bounded by the 31-day margin."""
    client = _Accepting()
    app = create_app(client, Settings(), None, tokens=ApiTokens.parse(ENTRY))  # type: ignore[arg-type]
    start, end = TODAY, TODAY + timedelta(days=180)
    body = {"cer_id": "c1", "type": "SOLIDARITE", "start": start.isoformat(), "end": end.isoformat(),
            "signed_on": start.isoformat(), "actions": [{"start": start.isoformat(), "end": end.isoformat()}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http:
        response = await http.post(f"/v1/pathways/{PATHWAY}/cer", json=body, headers=_headers())
        forged = await http.post(f"/v1/pathways/{PATHWAY}/cer", headers=_headers(),
                                 json={**body, "actor": {"service": "other", "person": "agent:forged-01"}})
    assert response.status_code == 200, response.text
    assert date.fromisoformat(body["end"]) > TODAY + timedelta(days=31)
    assert client.sent[0].actor == Actor(service="ops", person="agent:ops-0001")
    assert forged.status_code == 422 and forged.json()["error"]["field"] == "actor" and len(client.sent) == 1


def test_the_readme_lists_every_route_with_its_message_and_scope():
    from pathlib import Path

    from workers.api.catalogue import route_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = route_table(_openapi())
    assert table in readme, "README's HTTP API table is stale: python -m workers.api.catalogue"
    assert table.count("\n") == sum(len(ops) for ops in _openapi()["paths"].values()) + 1
