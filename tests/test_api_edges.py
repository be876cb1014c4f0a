"""The API's edges outside the JSON bodies: the task inbox takes the actors it documents, query days lie in the
bounded window, and the caseload upload takes only its flags (``true``/``false``), its media types and a strict
mapping. Every refusal is a 4xx naming the parameter; nothing is started or written."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import httpx
import pytest
import pytest_asyncio

from test_api_tasks import READER, WORKER, auth, seed
from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.runtime.config import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

IMPORTER = token_entry("dpt", {Scope.PATHWAY_START})


@pytest_asyncio.fixture(loop_scope="session")
async def http(db_pool):
    app = create_app(None, Settings(), db_pool, tokens=ApiTokens.parse(f"{READER},{WORKER},{IMPORTER}"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


@pytest.mark.parametrize("actor", ["service:nightly-batch", "agent:a1"])
async def test_the_task_inbox_takes_service_actors_and_short_agent_ids_as_documented(http, db_pool, actor):
    wid, _ = await seed(db_pool, 1)
    (task,) = (await http.get("/v1/tasks", params={"pathway": wid}, headers=auth(READER))).json()["tasks"]
    claimed = await http.post(f"/v1/tasks/{task['task_id']}/claim", headers=auth(WORKER, **{"X-Actor": actor}))
    assert (claimed.status_code, claimed.json()["claimed_by"]) == (200, actor), claimed.text


@pytest.mark.parametrize("path, parameter", [("/v1/tasks", "due_before"), ("/v1/pathways", "next_deadline_before")])
@pytest.mark.parametrize("day, accepted", [
    (date(1900, 1, 1), False), (date(2009, 5, 31), False), (date(9999, 12, 31), False),
    (date.today() + timedelta(days=3 * 366), False), (date.today() + timedelta(days=300), True),
    (date(2009, 6, 1), True),
])
async def test_query_days_lie_in_the_window_with_the_planning_horizon(http, path, parameter, day, accepted):
    response = await http.get(path, params={parameter: day.isoformat()}, headers=auth(READER))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert (response.status_code, response.json()["error"]["field"]) == (422, f"query {parameter}"), response.text


def _upload(headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {IMPORTER.split(':')[1]}", "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "text/csv", **(headers or {})}


@pytest.mark.parametrize("query, headers, status, field", [
    ("past_breaches=yes", {}, 422, "query past_breaches"),
    ("update=1", {}, 422, "query update"),
    ("past_breach=false", {}, 422, "query past_breach"),
    ("", {"Content-Type": "image/png"}, 415, "header Content-Type"),
    ("", {"X-Caseload-Mapping": json.dumps({"columns": {"nir": "NIR"}, "delimitr": ","})}, 422,
     "header X-Caseload-Mapping"),
    ("", {"X-Caseload-Mapping": json.dumps({"columns": {"nir": "NIR", "territory": "T", "stage": "S",
                                                        "caf_transmission_date": "D"}, "delimiter": ";;"})}, 422,
     "header X-Caseload-Mapping"),
    ("", {"X-Caseload-Mapping": json.dumps({"columns": {"nir": "NIR", "territory": "T", "stage": "S",
                                                        "caf_transmission_date": "D"}, "delimiter": 5})}, 422,
     "header X-Caseload-Mapping"),
    ("", {"X-Caseload-Mapping": json.dumps({"columns": {"nir": "NIR", "territory": "T", "stage": "S",
                                                        "caf_transmission_date": "D"}, "encoding": "klingon"})}, 422,
     "header X-Caseload-Mapping"),
])
async def test_a_caseload_upload_with_a_bad_flag_type_or_mapping_is_refused_naming_it(http, tmp_path, monkeypatch,
                                                                                      query, headers, status, field):
    monkeypatch.setenv("PARCOURS_DROP_DIR", str(tmp_path / "drop"))
    response = await http.post(f"/v1/caseload-imports?{query}", content=b"nir;territory\n", headers=_upload(headers))
    assert (response.status_code, response.json()["error"]["field"]) == (status, field), response.text
    assert not list((tmp_path / "drop").glob("caseload-*"))  # nothing kept, nothing started


@pytest.mark.parametrize("url, field", [
    ("/v1/tasks?limit=5.0", "query limit"),
    ("/v1/tasks?limit=%2B5", "query limit"),
    ("/v1/tasks?limit=%205", "query limit"),
    ("/v1/tasks/1.0", "path task_id"),
    ("/v1/tasks/%2B1", "path task_id"),
    ("/v1/pathways?limit=1e1", "query limit"),
    ("/v1/label-applications?limit=10.0", "query limit"),
    ("/v1/caf/quota?year=2025.0", "query year"),
    ("/v1/caf/quota?year=2025&etp=1.5", "query etp"),
    ("/v1/caf/quota?year=2025&etps=2", "query etps"),
    ("/v1/caf/reports/%2B2025", "path year"),
    ("/v1/label-letters/label-S1-1:refusal:1?fromat=html", "query fromat"),
])
async def test_numbers_are_digits_and_unknown_parameters_are_refused_on_the_read_routes(http, url, field):
    response = await http.get(url, headers=auth(READER))
    assert (response.status_code, response.json()["error"]["field"]) == (422, field), response.text


async def test_digits_still_read_as_numbers(http):
    assert (await http.get("/v1/tasks?limit=5", headers=auth(READER))).status_code == 200
    assert (await http.get("/v1/tasks/999999999999", headers=auth(READER))).status_code == 404
    assert (await http.get("/v1/caf/quota?year=2025&etp=2", headers=auth(READER))).status_code == 200
