"""Pathway endpoints through the real BeneficiaryPathway workflow and the production registry.

On the dev server: the updates' round-trips need no time skipping (a CER whose dates are past brings the bilan
due at once), and terminating a case with work in flight cannot stall the shared time-skipping server
(a known test-server bug leaks its time lock then).
"""

from __future__ import annotations

import io
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.service import RPCError
from temporalio.client import Client
from temporalio.worker import Worker

from domain.deadlines import add_months, paris_date
from domain.identity import nir_key, person_id
from workers.api import create_app
from workers.api_auth import ApiTokens, Scope, token_entry
from workers.codec import ENCODING
from workers.config import Settings
from workers.converter import data_converter
from workers.logging import configure_logging
from workers.registry import WORKFLOWS, Dependencies, build_activities
from workers.sandbox import workflow_runner

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
        "BeneficiaryPathway and its activities must be registered in workers/registry.py")
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


async def test_start_from_a_nir_gives_the_opaque_pathway_and_no_personal_data(env, task_queue, db_pool):
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    nir, body13 = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        key = str(uuid.uuid4())
        started = await api.start(nir, key)
        assert started.status_code == 202, started.text
        pathway_id = started.json()["pathway_id"]
        assert pathway_id == f"pathway-{person_id(nir, SETTINGS_SECRET)}"
        assert started.json()["event"] == "flow_record"

        replay = await api.start(nir, key)
        assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == started.json()
        other_person, _ = _new_nir()
        reused = await api.start(other_person, key)
        assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"

        case = await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        assert case["source"] == "workflow" and case["status"] == "running"
        orientation = [d for d in case["deadlines"] if d["kind"] == "ORIENTATION"]
        assert orientation and orientation[0]["due"] == add_months(await api.today(), 1).isoformat()
        assert case["personal"] is None

        second = await api.start(nir.replace("75", " 75 ", 1), str(uuid.uuid4()))  # same person, spaced
        assert second.status_code == 202 and second.json()["pathway_id"] == pathway_id
        resolved = await api.http.post("/v1/pathways/resolve", json={"nir": nir}, headers=_auth(DASHBOARD))
        assert resolved.json() == {"pathway_id": pathway_id}

        handle = env.client.get_workflow_handle(pathway_id)
        description = await handle.describe()
        history = await handle.fetch_history()
        started_input = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert started_input.metadata["encoding"] == ENCODING  # encrypted, as in production
        exposed = (pathway_id + str(description.typed_search_attributes) + str(description.raw_description)
                   + history.to_json() + stream.getvalue() + started.text + second.text)
        assert body13 not in exposed
        assert '"api_request"' in stream.getvalue()  # the access log was captured, and is clean


async def test_left_rsa_without_referent_closes_the_pathway(env, task_queue, db_pool):
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        pathway_id = (await api.start(nir)).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        body = {"end_of_payment_date": (await api.today()).isoformat(), "reason": "ressources"}
        left = await api.http.post(f"/v1/pathways/{pathway_id}/left-rsa", json=body, headers=_auth(CAF))
        assert left.status_code == 202, left.text
        assert left.json()["event"] == "left_rsa" and left.json()["event_id"].startswith("api-")

        closed = await api.read(pathway_id, REFERENT_TOOL, until=lambda c: c["stage"] == "CLOSED")
        assert closed["personal"]["exit_reason"] == "SORTIE_RSA"
        dashboard = await api.read(pathway_id)
        assert dashboard["personal"] is None  # same case, no personal_data scope


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


async def test_orientation_cer_appointment_and_left_rsa(env, task_queue, db_pool):
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        pathway_id = (await api.start(nir)).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        post = _poster(api, pathway_id)

        no_reason = await post("orientation", _orientation(today, bypass_reason=None))
        assert no_reason.status_code == 409
        assert no_reason.json()["error"]["rule"] == "ORIENTATION_BYPASS_REASON_REQUIRED"
        assert "needs a reason" in no_reason.json()["error"]["message"]

        key = str(uuid.uuid4())
        oriented = await post("orientation", _orientation(today), key)
        assert oriented.status_code == 200, oriented.text
        assert oriented.json()["stage"] == "REFERENT_DESIGNATED" and oriented.json()["duplicate"] is False
        again = await post("orientation", _orientation(today), key)
        assert again.headers["Idempotent-Replayed"] == "true" and again.json() == oriented.json()
        same_event = await post("orientation", _orientation(today, event_id=oriented.json()["event_id"]))
        assert same_event.status_code == 200 and same_event.json()["duplicate"] is True  # the workflow dedupes

        too_long = await post("cer", _cer(today, add_months(today, 7)))
        assert too_long.status_code == 409
        assert too_long.json()["error"]["rule"] == "CER_MAX_DURATION" and "6 months" in too_long.json()["error"]["message"]
        signed = await post("cer", _cer(today, add_months(today, 6) - timedelta(days=1)))
        assert signed.status_code == 200 and signed.json()["stage"] == "CER_ACTIVE"

        early_bilan = await post("bilan", {"completed_on": today.isoformat(), "decision": "CONTINUE"})
        assert early_bilan.status_code == 409 and early_bilan.json()["error"]["rule"] == "STAGE_NOT_ALLOWED"

        held = await post("appointments", {"kind": "HELD", "appointment_date": today.isoformat(), "physical": True})
        assert held.status_code == 200 and held.json()["event"] == "record_appointment"  # an update: answered
        case = await api.read(pathway_id, REFERENT_TOOL,
                              until=lambda c: (c["personal"]["active_cer"] or {}).get("physical_appointments") == 1)
        assert case["referent_type"] == "REFERENT_SOLIDARITE" and case["referent_structure_id"] == "CCAS-LENS"
        assert {d["kind"] for d in case["deadlines"]} >= {"CER_END", "BILAN_REMINDER"}
        assert (await api.read(pathway_id))["personal"] is None  # the same case without personal_data

        left = await post("left-rsa", {"end_of_payment_date": today.isoformat(), "reason": "emploi"})
        assert left.status_code == 202
        exit_case = await api.read(pathway_id, until=lambda c: c["stage"] == "EXIT_CHOICE_PENDING")
        assert "EXIT_CHOICE" in {d["kind"] for d in exit_case["deadlines"]}


async def test_bilan_once_the_cer_has_ended(env, task_queue, db_pool):
    """A CER signed with past dates: its end has passed, so the bilan is due at once (no time skipping)."""
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        entry = add_months(today, -8)
        pathway_id = (await api.start(nir, transmission_date=entry.isoformat())).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        post = _poster(api, pathway_id)
        designated = add_months(entry, 1) - timedelta(days=3)
        assert (await post("orientation", _orientation(designated))).status_code == 200
        signed = await post("cer", _cer(designated, add_months(designated, 6) - timedelta(days=1)))
        assert signed.status_code == 200, signed.text
        await api.read(pathway_id, until=lambda c: c["stage"] == "BILAN")

        reorient_without_reason = await post("bilan", {"completed_on": today.isoformat(), "decision": "REORIENT"})
        assert reorient_without_reason.status_code == 409
        assert reorient_without_reason.json()["error"]["rule"] == "BILAN_REORIENTATION_REASON_REQUIRED"
        bilan = await post("bilan", {"completed_on": today.isoformat(), "decision": "CONTINUE"})
        assert bilan.status_code == 200, bilan.text
        assert bilan.json()["stage"] == "CER_DRAFTING"
        case = await api.read(pathway_id, REFERENT_TOOL, until=lambda c: c["stage"] == "CER_DRAFTING")
        assert case["personal"]["active_cer"] is None
        assert [c["to_stage"] for c in case["personal"]["stage_history"]][-2:] == ["BILAN", "CER_DRAFTING"]


async def test_events_to_an_unknown_or_closed_pathway(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        unknown = "pathway-" + uuid.uuid4().hex
        body = {"end_of_payment_date": (await api.today()).isoformat(), "reason": "x"}
        missing = await api.http.post(f"/v1/pathways/{unknown}/left-rsa", json=body, headers=_auth(CAF))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert (await api.http.get(f"/v1/pathways/{unknown}", headers=_auth(DASHBOARD))).status_code == 404

        pathway_id = (await api.start(_new_nir()[0])).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        await env.client.get_workflow_handle(pathway_id).terminate("closed for the test")
        late = await api.http.post(f"/v1/pathways/{pathway_id}/left-rsa", json=body, headers=_auth(CAF))
        assert late.status_code == 409 and late.json()["error"]["code"] == "case_closed"
        closed = await api.http.get(f"/v1/pathways/{pathway_id}", headers=_auth(DASHBOARD))
        assert closed.status_code == 200 and closed.json()["status"] == "terminated"
