"""Caseload routes (workers/api/caseloads.py): pathways and label applications from the read model, by next deadline."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest
import pytest_asyncio

from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.runtime.config import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
READER = token_entry("dashboard", {Scope.CASE_READ})
HEADERS = {"Authorization": f"Bearer {READER.split(':')[1]}"}


@pytest_asyncio.fixture(loop_scope="session")
async def http(db_pool):
    app = create_app(None, Settings(), db_pool, tokens=ApiTokens.parse(READER))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def seed_pathways(db_pool) -> str:
    """Five pathways of a fresh territory: (stage, structure, next deadline, breaches)."""
    territory = f"T{uuid.uuid4().hex[:10]}"
    rows = [("AWAITING_ORIENTATION", None, date(2026, 1, 5), 1), ("AWAITING_ORIENTATION", None, date(2026, 1, 3), 0),
            ("CER_ACTIVE", "S-1", date(2026, 3, 1), 0), ("CER_ACTIVE", "S-1", None, 2),
            ("AWAITING_ORIENTATION", None, date(2026, 1, 4), 3)]
    for stage, structure, due, breaches in rows:
        await db_pool.execute(
            """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, referent_type,
                   referent_structure_id, next_deadline, breach_count, version)
               VALUES ($1, $2, $3, '2023.1', $4, $5, $6, $7, $8, 1)""",
            f"pathway-{uuid.uuid4().hex}", uuid.uuid4().hex, territory, stage,
            "REFERENT_SOLIDARITE" if structure else None, structure and f"{structure}-{territory}", due, breaches)
    return territory


async def pathways(http, **params) -> dict:
    response = await http.get("/v1/pathways", params=params, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_territorys_caseload_is_sorted_by_next_deadline_and_paged_by_cursor(http, db_pool):
    territory = await seed_pathways(db_pool)
    due, cursor = [], None
    while True:
        page = await pathways(http, territory=territory, limit=2, **({"cursor": cursor} if cursor else {}))
        due += [p["next_deadline"] for p in page["pathways"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert due == ["2026-01-03", "2026-01-04", "2026-01-05", "2026-03-01", None]
    assert all("person_id" not in p for p in page["pathways"])


async def test_overdue_for_orientation_and_a_structures_caseload(http, db_pool):
    territory = await seed_pathways(db_pool)
    overdue = await pathways(http, territory=territory, stage="AWAITING_ORIENTATION", breached="true")
    assert [(p["next_deadline"], p["breach_count"]) for p in overdue["pathways"]] == [("2026-01-04", 3), ("2026-01-05", 1)]
    structure = await pathways(http, referent_structure=f"S-1-{territory}")
    assert [p["stage"] for p in structure["pathways"]] == ["CER_ACTIVE", "CER_ACTIVE"]
    soon = await pathways(http, territory=territory, next_deadline_before="2026-01-05")
    assert len(soon["pathways"]) == 2


async def test_label_applications_by_stage(http, db_pool):
    structure = f"S{uuid.uuid4().hex[:8]}"
    for n, (stage, due) in enumerate([("DPID_ADMIN_EVALUATION", date(2031, 2, 1)),
                                      ("DPID_ADMIN_EVALUATION", date(2031, 1, 1)), ("GRANTED", None)], start=1):
        await db_pool.execute(
            """INSERT INTO label_applications (workflow_id, structure_id, application_no, territory, stage, next_deadline,
                   version) VALUES ($1, $2, $3, 'ARRAS', $4, $5, 1)""", f"label-{structure}-{n}", structure, n, stage, due)
    response = await http.get("/v1/label-applications", params={"stage": "DPID_ADMIN_EVALUATION", "limit": 200},
                              headers=HEADERS)
    mine = [a for a in response.json()["applications"] if a["structure_id"] == structure]
    assert [a["application_id"] for a in mine] == [f"label-{structure}-2", f"label-{structure}-1"]


@pytest.mark.parametrize("path", [
    "/v1/pathways?territory=X&stag=CER_ACTIVE", "/v1/pathways?stage=cer_active", "/v1/pathways?breached=yes",
    "/v1/pathways?next_deadline_before=1764547200", "/v1/pathways?referent_structure=a%20b",
    "/v1/pathways?cursor=bm9wZQ", "/v1/label-applications?stage=NOPE", "/v1/pathways?limit=0",
])
async def test_bad_filters_are_refused(http, path):
    response = await http.get(path, headers=HEADERS)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error", response.text
