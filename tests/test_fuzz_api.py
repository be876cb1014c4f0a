"""Fuzzing the HTTP API's inputs (hypothesis): random JSON bodies, mutated valid bodies, random case ids
and Idempotency-Keys sent to every POST endpoint.

Properties: never a 5xx; bad input is a 422 ``validation_error`` naming the field at fault (the dropped,
replaced or unknown one); a valid body reaches the workflow and is answered 2xx. Temporal is replaced by a
stand-in that serialises every message with the production data converter, answers like a running case or
refuses like one (409, 404), so the whole request path runs in-process in milliseconds.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.identity import nir_key
from workers.api import create_app
from workers.api.auth import ApiTokens, token_entry
from workers.runtime.config import Settings
from workers.runtime.converter import data_converter

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
PER_ROUTE = settings(max_examples=max(EXAMPLES // 6, 10), deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

BODY13 = "1840562123456"
VALID_NIR = f"{BODY13}{nir_key(BODY13):02d}"
PATH_EXAMPLES = {"pathway_id": "pathway-" + "0a" * 16, "application_id": "label-S1-1", "structure_id": "S1"}


# ---------------------------------------------------------------- Temporal stand-in


class _Handle:
    def __init__(self, temporal: "FakeTemporal", workflow_id: str) -> None:
        self.temporal, self.id = temporal, workflow_id

    async def signal(self, name: str, message: Any) -> None:
        await self.temporal.deliver(message)

    async def execute_update(self, name: str, message: Any) -> Any:
        await self.temporal.deliver(message)
        return {"stage": "CER_ACTIVE", "duplicate": False}

    async def describe(self) -> Any:
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")


class FakeTemporal:
    """Answers as a running case (``mode="ok"``), a refusing one (``"refused"``) or a missing one."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.converter = data_converter()
        self.delivered = 0
        self.calls = 0

    async def deliver(self, *messages: Any) -> None:
        self.calls += 1
        await self.converter.encode(list(messages))  # what the real client does first: must not fail
        if self.mode == "refused":
            raise WorkflowUpdateFailedError(ApplicationError("refused by the case", type="SOME_RULE",
                                                             non_retryable=True))
        if self.mode == "not_found":
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        self.delivered += 1

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> _Handle:
        return _Handle(self, workflow_id)

    async def start_workflow(self, _run: Any, arg: Any, *, id: str, start_signal_args=(), **_: Any) -> _Handle:
        await self.deliver(arg, *start_signal_args)
        return _Handle(self, id)

    async def execute_update_with_start_workflow(self, _name: str, message: Any, *, start_workflow_operation,
                                                 **_: Any) -> str:
        await self.deliver(message)
        return "DPID_ADMIN_EVALUATION"


TOKEN_ENTRY = token_entry("fuzz")
TEMPORAL = FakeTemporal()
APP = create_app(TEMPORAL, Settings(), None, tokens=ApiTokens.parse(TOKEN_ENTRY))
AUTH = {"Authorization": f"Bearer {TOKEN_ENTRY.split(':')[1]}"}


def post_routes() -> list[tuple[str, type[BaseModel]]]:
    return [(route.path, route.body_field.field_info.annotation) for route in APP.routes
            if "POST" in getattr(route, "methods", ()) and getattr(route, "body_field", None) is not None]


ROUTES = post_routes()


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_EXAMPLES[m.group(1)], path)


NEW_KEY: Any = object()  # a fresh UUID per request


async def post(path: str, body: Any = None, *, content: bytes | None = None, key: Any = NEW_KEY,
               mode: str = "ok") -> httpx.Response:
    """POST as a person's tool would (``X-Actor``); ``key`` None sends no Idempotency-Key."""
    TEMPORAL.mode = mode
    headers = {**AUTH, "X-Actor": "agent:fuzz-0001"}
    if key is not None:
        headers["Idempotency-Key"] = str(uuid.uuid4()) if key is NEW_KEY else key
    async with httpx.AsyncClient(transport=httpx.ASGITransport(APP), base_url="http://api") as client:
        if content is not None:
            return await client.post(path, content=content, headers={**headers, "Content-Type": "application/json"})
        return await client.post(path, json=body, headers=headers)


# ---------------------------------------------------------------- a valid body for each route, from its schema

_PATTERN_EXAMPLES = {  # each string pattern of a request body, with a value it accepts
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$": "S1",
    r"^[A-Z0-9][A-Z0-9 ]{5,29}$": "1A 123 456 7890 1",  # an LRAR number
}


def _resolve(schema: dict, defs: dict) -> dict:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example(schema: dict, defs: dict, name: str = "") -> Any:
    """The smallest value the schema accepts (required properties only)."""
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(s, defs).get("type") != "null"]
        return example(options[0], defs, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {key: example(sub, defs, key) for key, sub in schema.get("properties", {}).items()
                if key in schema.get("required", ())}
    if kind == "array":
        return [example(schema["items"], defs, name) for _ in range(max(schema.get("minItems", 1), 1))]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return int(low) if kind == "integer" else float(low)
    if kind == "string":
        if name == "nir":
            return VALID_NIR
        if schema.get("format") == "date":
            return "2025-03-03"
        if schema.get("format") == "date-time":
            return "2025-03-03T10:00:00Z"
        if "pattern" in schema:
            return _PATTERN_EXAMPLES[schema["pattern"]]
        return "x" * max(schema.get("minLength", 1), 1)
    raise AssertionError(f"no example for schema {schema}")


def valid_body(model: type[BaseModel]) -> dict:
    schema = model.model_json_schema()
    return example(schema, schema.get("$defs", {}))


def properties(model: type[BaseModel]) -> set[str]:
    return set(model.model_json_schema().get("properties", {}))


def required(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_json_schema().get("required", []))


# ---------------------------------------------------------------- strategies

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
MODES = st.sampled_from(["ok", "ok", "refused", "not_found"])
KEYS = st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=300)


def assert_clear_answer(response: httpx.Response) -> dict:
    """The error of a 4xx (``{"error": {...}}``), else the body."""
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code < 400:
        return body
    assert set(body) == {"error"}, body
    body = body["error"]
    assert isinstance(body.get("code"), str) and body["code"]
    assert isinstance(body.get("message"), str) and body["message"]
    if response.status_code == 422 and body["code"] == "validation_error":
        assert isinstance(body.get("field"), str) and body["field"]
        assert body["message"].startswith(body["field"] + ": ")
        assert all(item["field"] for item in body["fields"])
    return body


def named(answer: dict, key: str) -> bool:
    """Whether a validation error names the body property ``key`` (itself or inside it: ``actions[0].end``)."""
    if key == "":
        key = "body"  # an empty property name can only be called the body
    return any(f == key or f.startswith((key + ".", key + "[")) for f in (i["field"] for i in answer["fields"]))


# ---------------------------------------------------------------- properties


def test_every_post_endpoint_is_fuzzed_and_accepts_its_minimal_valid_body():
    assert len(ROUTES) >= 25  # pathways, label applications, labels


@pytest.mark.parametrize(("path", "model"), ROUTES, ids=[p for p, _ in ROUTES])
async def test_minimal_valid_body_is_accepted(path, model):
    body = valid_body(model)
    model.model_validate(body)
    response = await post(concrete(path), body)
    assert response.status_code in (200, 202), response.text
    calls = TEMPORAL.calls
    refused = await post(concrete(path), body, mode="refused")
    if TEMPORAL.calls > calls:  # the route talks to a workflow (not /resolve, which only computes an id)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "refused"


@pytest.mark.parametrize(("path", "model"), ROUTES, ids=[p for p, _ in ROUTES])
@PER_ROUTE
@given(data=st.data(), mode=MODES, key=KEYS)
async def test_mutated_body_is_answered_without_5xx_naming_the_field(path, model, data, mode, key):
    body = valid_body(model)
    names = sorted(properties(model))
    operation = data.draw(st.sampled_from(["drop", "replace", "extra"] if required(model) else ["replace", "extra"]))
    if operation == "drop":
        target = data.draw(st.sampled_from(required(model)))
        del body[target]
    elif operation == "replace":
        target = data.draw(st.sampled_from(names))
        body[target] = data.draw(JSON)
    else:
        target = data.draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in names))
        body[target] = data.draw(JSON)
    response = await post(concrete(path), body, key=key, mode=mode)
    answer = assert_clear_answer(response)
    if key is None:
        assert response.status_code == 428 and answer["code"] == "idempotency_key_required"
        return
    if operation in ("drop", "extra") and answer.get("field") != "header Idempotency-Key":
        assert response.status_code == 422 and named(answer, target), (operation, target, answer)
    if response.status_code == 422 and answer["code"] == "validation_error" and operation == "replace":
        others = [i["field"] for i in answer["fields"] if not named({"fields": [i]}, target)]
        assert set(others) <= {"header Idempotency-Key"}, (target, answer)


@pytest.mark.parametrize(("path", "model"), ROUTES, ids=[p for p, _ in ROUTES])
@PER_ROUTE
@given(body=JSON, mode=MODES)
async def test_random_json_body_is_answered_without_5xx(path, model, body, mode):
    response = await post(concrete(path), body, mode=mode)
    answer = assert_clear_answer(response)
    if not isinstance(body, dict):
        assert response.status_code == 422
    elif set(body) - properties(model):  # unknown properties are refused, each one named
        assert response.status_code == 422
        assert all(named(answer, key) for key in set(body) - properties(model)), answer


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(text=st.text(max_size=200))
async def test_text_that_is_not_json_is_a_clear_422(text):
    response = await post("/v1/pathways", content=text.encode("utf-8"))
    assert_clear_answer(response)
    assert response.status_code == 422


async def test_framework_errors_use_the_api_error_body():
    not_utf8 = await post("/v1/pathways", content=b'{"nir": "\x80"}')
    assert not_utf8.status_code == 422 and not_utf8.json()["error"]["code"] == "validation_error"
    no_route = await post("/v1/pathways/pathway-x/y/left-rsa", {})
    assert no_route.status_code == 404 and no_route.json()["error"]["code"] == "not_found"


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(route=st.sampled_from(ROUTES), case=st.text(min_size=1, max_size=80))
async def test_random_case_ids_never_reach_a_workflow_unchecked(route, case):
    path, model = route
    if "{" not in path:
        return
    url = re.sub(r"\{\w+\}", quote(case, safe=""), path)
    before = TEMPORAL.delivered
    response = await post(url, valid_body(model))
    if response.status_code in (404, 405) and response.json()["error"]["code"] in ("not_found", "method_not_allowed"):
        assert TEMPORAL.delivered == before
        return
    answer = assert_clear_answer(response)
    if response.status_code == 422:
        assert answer["field"].startswith("path ")
    elif response.status_code < 300:  # accepted: the id had the route's shape
        name = re.search(r"\{(\w+)\}", path).group(1)
        pattern = {"pathway_id": r"pathway-[0-9a-f]{32}", "structure_id": r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}",
                   "application_id": r"label-[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}-[1-9][0-9]{0,5}"}[name]
        assert re.fullmatch(pattern, case) and TEMPORAL.delivered == before + 1
