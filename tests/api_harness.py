"""The HTTP API against the real ``BeneficiaryPathway`` workflow on the dev server: tokens, an ASGI client on
``create_app`` with the production registry's worker, and helpers to post commands (each with an
``Idempotency-Key`` and an ``X-Actor``) and read a case until a condition holds."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

import httpx
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from domain.deadlines import add_months, paris_date
from domain.identity import nir_key
from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.runtime.config import Settings
from workers.runtime.converter import data_converter
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
from workers.runtime.sandbox import workflow_runner

CAF = token_entry("caf", {Scope.PATHWAY_START, Scope.PATHWAY_EVENTS})
DASHBOARD = token_entry("dashboard", {Scope.CASE_READ})
REFERENT_TOOL = token_entry("referent-tool", {Scope.PATHWAY_EVENTS, Scope.CASE_READ, Scope.PERSONAL_DATA})
SETTINGS_SECRET = "api-test-person-id-secret"


def _auth(entry: str, key: str | None = None, actor: str = "agent:test-0001") -> dict[str, str]:
    """A service's token, an Idempotency-Key (a new one unless given) and the acting person."""
    return {"Authorization": f"Bearer {entry.split(':')[1]}", "Idempotency-Key": key or str(uuid.uuid4()),
            "X-Actor": actor}


def _new_nir() -> tuple[str, str]:
    """A valid random NIR and its 13-character body (what must never leak)."""
    body = f"1{uuid.uuid4().int % 10**12:012d}"
    body = body[:5] + "75" + body[7:]  # Paris department: always a valid shape
    return f"{body}{nir_key(body):02d}", body


class Api:
    def __init__(self, env, client: httpx.AsyncClient, settings: Settings) -> None:
        self.env, self.http, self.settings = env, client, settings
        self.started: list[str] = []

    async def today(self):
        return paris_date(await self.env.get_current_time())

    async def start(self, nir: str, key: str | None = None, **fields) -> httpx.Response:
        body = {"nir": nir, "territory": "LENS-LIEVIN", "transmission_date": (await self.today()).isoformat(),
                "subject_to_duties": True, **fields}
        response = await self.http.post("/v1/pathways", json=body, headers=_auth(CAF, key))
        if response.status_code == 202:
            self.started.append(response.json()["pathway_id"])
        return response

    async def read(self, pathway_id: str, entry: str = DASHBOARD, until=lambda case: True, attempts: int = 200):
        """GET until ``until`` holds: signals are applied asynchronously by the workflow."""
        case = None
        for _ in range(attempts):
            response = await self.http.get(f"/v1/pathways/{pathway_id}", headers=_auth(entry))
            assert response.status_code == 200, response.text
            case = response.json()
            if until(case):
                return case
        raise AssertionError(f"condition never held; last case: {case}")


class _Env:
    """The dev server seen through an encrypting client, as production processes see theirs."""

    def __init__(self, dev_env, client: Client) -> None:
        self.client = client
        self.get_current_time = dev_env.get_current_time


@pytest_asyncio.fixture
async def env(dev_env, test_keyring) -> _Env:
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  namespace=dev_env.client.namespace, data_converter=data_converter(test_keyring))
    return _Env(dev_env, client)


@asynccontextmanager
async def _api(env, task_queue, db_pool):
    assert any(w.__name__ == "BeneficiaryPathway" for w in WORKFLOWS), (
        "BeneficiaryPathway and its activities must be registered in workers/runtime/registry.py")
    settings = Settings(temporal_task_queue=task_queue, temporal_namespace=env.client.namespace,
                        person_id_secret=SETTINGS_SECRET)
    app = create_app(env.client, settings, db_pool, tokens=ApiTokens.parse(",".join((CAF, DASHBOARD, REFERENT_TOOL))))
    worker = Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS,
                    activities=build_activities(Dependencies(pool=db_pool)), workflow_runner=workflow_runner())
    async with worker:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
            api = Api(env, client, settings)
            try:
                yield api
            finally:
                for pathway_id in dict.fromkeys(api.started):
                    try:
                        await env.client.get_workflow_handle(pathway_id).terminate("test over")
                    except RPCError:
                        pass  # already closed


def _poster(api: Api, pathway_id: str):
    def post(path: str, body: dict, key: str | None = None):
        return api.http.post(f"/v1/pathways/{pathway_id}/{path}", json=body, headers=_auth(REFERENT_TOOL, key))
    return post


def _orientation(day, **extra) -> dict:
    return {"target": "REFERENT_SOLIDARITE", "structure_id": "CCAS-LENS", "notified_on": day.isoformat(),
            "bypass_reason": "suivi social en cours", **extra}


def _cer(start, end) -> dict:
    return {"cer_id": f"cer-{start.isoformat()}", "type": "SOLIDARITE", "start": start.isoformat(),
            "end": end.isoformat(), "signed_on": start.isoformat(),
            "actions": [{"start": start.isoformat(), "end": add_months(start, 2).isoformat()}]}
