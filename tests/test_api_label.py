"""Label application endpoints against the real workflows on a dev server (update round-trips)."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import date, timedelta

import httpx
import pytest
from temporalio.worker import Worker

from tests.api_harness import _auth, env  # noqa: F401  (env: fixture)
from workers.api import create_app
from workers.api_auth import ALL_SCOPES, ApiTokens, Scope, token_entry
from workers.config import Settings
from workers.registry import WORKFLOWS, Dependencies, build_activities
from workers.sandbox import workflow_runner

DEPOSANT = token_entry("epartenaires", {Scope.LABEL_APPLY, Scope.CASE_READ})
DPID = token_entry("dpid", {Scope.LABEL_DECIDE, Scope.CASE_READ})
ADMIN = token_entry("admin", ALL_SCOPES)


@asynccontextmanager
async def _api(env, task_queue, db_pool):
    settings = Settings(temporal_task_queue=task_queue, temporal_namespace=env.client.namespace)
    app = create_app(env.client, settings, db_pool, tokens=ApiTokens.parse(",".join((DEPOSANT, DPID, ADMIN))))
    worker = Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS,
                    activities=build_activities(Dependencies(pool=db_pool)), workflow_runner=workflow_runner())
    async with worker:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
            yield client


@pytest.fixture
def structure() -> str:
    return f"S{uuid.uuid4().hex[:10]}"


async def test_application_submitted_evaluated_and_granted(env, task_queue, db_pool, structure):
    today = date.today()
    async with _api(env, task_queue, db_pool) as api:
        key = str(uuid.uuid4())
        body = {"structure_id": structure, "application_no": 1, "territory": "ARTOIS",
                "filed_on": (today - timedelta(days=20)).isoformat()}
        submitted = await api.post("/v1/label-applications", json=body, headers=_auth(DEPOSANT, key))
        assert submitted.status_code == 200, submitted.text
        application = submitted.json()["case_id"]
        assert application == f"label-{structure}-1"
        assert submitted.json()["stage"] == "DPID_ADMIN_EVALUATION"

        replay = await api.post("/v1/label-applications", json=body, headers=_auth(DEPOSANT, key))
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == submitted.json()
        changed = await api.post("/v1/label-applications", json={**body, "territory": "AUDOMAROIS"},
                                 headers=_auth(DEPOSANT, key))
        assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"

        twice = await api.post("/v1/label-applications", json=body, headers=_auth(DEPOSANT, str(uuid.uuid4())))
        assert twice.status_code == 409
        assert twice.json()["error"]["code"] == "refused" and "already" in twice.json()["error"]["message"]

        early = await api.post(f"/v1/label-applications/{application}/decision", json={"outcome": "grant"},
                               headers=_auth(DPID))
        assert early.status_code == 409
        assert "no consolidated evaluation" in early.json()["error"]["message"]

        evaluated = await api.post(
            f"/v1/label-applications/{application}/admin-evaluation",
            json={"training_ok": True, "cer_average": 8.4, "seed": "seed-1", "sampled_cer_ids": ["c1", "c2"]},
            headers=_auth(DPID, str(uuid.uuid4())),
        )
        assert evaluated.status_code == 200 and evaluated.json()["stage"] == "SLAI_CONSOLIDATION"
        opinion = await api.post(f"/v1/label-applications/{application}/slai-opinion",
                                 json={"confirmed": True, "training_ok": True, "cer_average": 8.4},
                                 headers=_auth(DPID))
        assert opinion.status_code == 200

        deposant_decides = await api.post(f"/v1/label-applications/{application}/decision",
                                          json={"outcome": "grant"}, headers=_auth(DEPOSANT))
        assert deposant_decides.status_code == 403

        granted = await api.post(f"/v1/label-applications/{application}/decision",
                                 json={"outcome": "grant", "decided_on": today.isoformat()},
                                 headers=_auth(DPID, str(uuid.uuid4())))
        assert granted.status_code == 200, granted.text
        assert granted.json()["stage"] in ("GRANTED", "LABELLED")

        read = await api.get(f"/v1/label-applications/{application}", headers=_auth(DEPOSANT))
        assert read.status_code == 200
        case = read.json()
        assert case["state"]["structure_id"] == structure
        assert case["state"]["decisions"][0]["outcome"] == "grant"
        assert "seen_event_ids" not in case["state"]

        label = await api.get(f"/v1/labels/{structure}", headers=_auth(DEPOSANT))
        assert label.status_code == 200, label.text
        assert label.json()["state"]["application_workflow_id"] == application
        assert label.json()["state"]["expires_on"] > today.isoformat()

        outside = await api.post(f"/v1/labels/{structure}/renewal-request", json={"requested_on": today.isoformat()},
                                 headers=_auth(DEPOSANT))
        assert outside.status_code == 409
        assert outside.json()["error"]["rule"] == "OutsideRenewalWindow"


async def test_unknown_application_is_404(env, task_queue, db_pool, structure):
    async with _api(env, task_queue, db_pool) as api:
        sent = await api.post(f"/v1/label-applications/label-{structure}-7/decision",
                              json={"outcome": "refuse", "reasons": ["x"]}, headers=_auth(DPID))
        read = await api.get(f"/v1/label-applications/label-{structure}-7", headers=_auth(DPID))
    assert sent.status_code == 404 and sent.json()["error"]["code"] == "not_found"
    assert read.status_code == 404
