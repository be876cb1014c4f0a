"""MonJob62 adapter against the real local simulator (uvicorn on a free port, embedded PostgreSQL).

Injected failures (5xx, timeouts, 429) are retried by a real Temporal run of the pathway's push activity (with the
pathway's options) and leave exactly one stored record; refusals are not retried; an idempotency key used twice
stores one record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
import pytest_asyncio
from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

from activities.monjob import (
    PAYLOAD_INVALID,
    RATE_LIMITED,
    REFUSED,
    TIMEOUT,
    UNAVAILABLE,
    UNREACHABLE,
    MonJob62Client,
    MonJob62HttpPort,
    MonJobBilan,
    MonJobCer,
    MonJobExit,
    MonJobReceipt,
    retry_after,
    wire_payload,
)
from activities.pathway import PathwayActivities
from domain.pathway import MonJob62Push
from domain.pathway_contract import PUSH_MONJOB62
from served_app import serve
from workers.dev.embedded import free_port
from workers.runtime.sandbox import workflow_runner
from workflows.pathway_settings import PUSH_OPTIONS


class PushOutcome(BaseModel):
    answer: str
    elapsed: timedelta


@workflow.defn(name="MonJobPushTest")
class PushWorkflow:
    """Pushes one item as the pathway does (its activity, its options) and measures (workflow) time spent."""

    @workflow.run
    async def run(self, item: MonJob62Push) -> PushOutcome:
        started = workflow.now()
        answer = await workflow.execute_activity(PUSH_MONJOB62, item, result_type=str, **PUSH_OPTIONS)
        return PushOutcome(answer=answer, elapsed=workflow.now() - started)


def _push_activities(monjob: MonJob62Client) -> list:
    """The production push activity over the HTTP adapter (it writes nothing to the read model)."""
    return [PathwayActivities(None, MonJob62HttpPort(monjob)).push_monjob62]  # type: ignore[arg-type]


@dataclass
class Simulator:
    url: str
    http: httpx.AsyncClient  # control client

    async def faults(self, *rules: dict) -> None:
        (await self.http.post("/_control/faults", json=list(rules))).raise_for_status()

    async def requests(self, key: str) -> list[dict]:
        response = await self.http.get("/_control/requests", params={"idempotency_key": key})
        return response.json()["requests"]

    async def records(self, key: str) -> list[dict]:
        response = await self.http.get("/_control/records", params={"idempotency_key": key})
        return response.json()["records"]


@pytest_asyncio.fixture(scope="module")
async def simulator_server(db_pool):
    from workers.dev.monjob_sim import create_app

    port = free_port()
    server, task = await serve(create_app(pool=db_pool), port)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        try:
            yield Simulator(url, http)
        finally:
            server.should_exit = True
            await task


@pytest_asyncio.fixture
async def sim(simulator_server):
    await simulator_server.http.delete("/_control/faults")
    yield simulator_server
    await simulator_server.http.delete("/_control/faults")


@pytest_asyncio.fixture
async def monjob(sim):
    """The adapter with a short client timeout (production: 10 s), so injected timeouts are quick."""
    async with httpx.AsyncClient(base_url=sim.url, timeout=httpx.Timeout(0.5)) as http:
        yield MonJob62Client(http)


def _cer(person: str, cer_id: str = "cer-1", ends_on: date = date(2024, 9, 14)) -> MonJobCer:
    return MonJobCer(person_id=person, cer_id=cer_id, cer_type="SOCIOPROFESSIONNEL", signed_on=date(2024, 3, 12),
                     starts_on=date(2024, 3, 15), ends_on=ends_on)


def _cause(err: BaseException) -> ApplicationError:
    assert isinstance(err, WorkflowFailureError)
    assert isinstance(err.cause, ActivityError)
    assert isinstance(err.cause.cause, ApplicationError)
    return err.cause.cause


async def test_transient_failures_are_retried_by_temporal_and_store_one_record(ts_env, task_queue, sim, monjob, unique_id):
    person = f"p{unique_id}"
    workflow_id = f"monjob-test-{unique_id}"
    item = _push("CER", "cer-1", person, _CER_DATA)
    key = item.idempotency_key
    await sim.faults(
        {"mode": "5xx", "phase": "after"},  # stored, then the answer is lost
        {"mode": "timeout", "delay": 10, "phase": "after"},  # stored (replay), client gives up after 0.5 s
        {"mode": "429", "retry_after": 600},
    )
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PushWorkflow],
                      activities=_push_activities(monjob), workflow_runner=workflow_runner()):
        outcome = await ts_env.client.execute_workflow(
            PushWorkflow.run, item, id=workflow_id, task_queue=task_queue, result_type=PushOutcome
        )

    records = await sim.records(key)
    assert len(records) == 1
    assert records[0]["person_id"] == person and records[0]["business_ref"] == "cer-1"
    assert outcome.answer == "duplicate"  # the last attempt found the record the lost answers had stored
    assert [r["outcome"] for r in await sim.requests(key)] == [
        "stored+fault:5xx", "stored+fault:timeout", "fault:429", "replayed",
    ]
    # Backoff alone (5 s, 10 s, 20 s) is 35 s; Retry-After replaced the third interval with 600 s.
    assert outcome.elapsed >= timedelta(seconds=5 + 10 + 600)


async def test_refusal_is_not_retried(ts_env, task_queue, sim, monjob, unique_id):
    workflow_id = f"monjob-test-{unique_id}"
    bilan = _push("BILAN", "never-sent", f"p{unique_id}", {"decision": "CONTINUE", "completed_on": "2024-09-14",
                                                          "cer_id": "never-sent"})
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PushWorkflow],
                      activities=_push_activities(monjob), workflow_runner=workflow_runner()):
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_env.client.execute_workflow(PushWorkflow.run, bilan, id=workflow_id, task_queue=task_queue)
    error = _cause(failure.value)
    assert error.type == REFUSED and error.non_retryable
    key = bilan.idempotency_key
    assert [r["outcome"] for r in await sim.requests(key)] == ["refused:unknown_cer"]
    assert await sim.records(key) == []


async def test_same_key_twice_stores_one_record_and_returns_the_original_answer(sim, monjob, unique_id):
    key = f"wf-{unique_id}:cer:cer-1"
    first = await monjob.push_cer(_cer(f"p{unique_id}"), idempotency_key=key)
    second = await monjob.push_cer(_cer(f"p{unique_id}"), idempotency_key=key)
    assert not first.replayed and second.replayed
    assert second.record_id == first.record_id
    assert len(await sim.records(key)) == 1

    with pytest.raises(ApplicationError) as reused:
        await monjob.push_cer(_cer(f"p{unique_id}", ends_on=date(2024, 8, 31)), idempotency_key=key)
    assert reused.value.type == REFUSED and reused.value.non_retryable
    assert reused.value.details[0]["error"] == "idempotency_key_reused"
    assert len(await sim.records(key)) == 1


async def test_concurrent_duplicates_store_one_record(sim, monjob, unique_id):
    key = f"wf-{unique_id}:exit:exit-1"
    exit_ = MonJobExit(person_id=f"p{unique_id}", exit_id="exit-1", exited_on=date(2024, 10, 1),
                       reason="NON_RESPECT_OBLIGATIONS")
    receipts = await asyncio.gather(*(monjob.push_exit(exit_, idempotency_key=key) for _ in range(8)))
    assert len({r.record_id for r in receipts}) == 1
    assert sum(not r.replayed for r in receipts) == 1
    assert len(await sim.records(key)) == 1


async def test_bilan_accepted_after_its_cer(sim, monjob, unique_id):
    person = f"p{unique_id}"
    await monjob.push_cer(_cer(person, cer_id="cer-7"), idempotency_key=f"wf-{unique_id}:cer:cer-7")
    receipt = await monjob.push_bilan(
        MonJobBilan(person_id=person, bilan_id="bilan-7", cer_id="cer-7", completed_on=date(2024, 9, 14),
                    decision="REORIENT"),
        idempotency_key=f"wf-{unique_id}:bilan:bilan-7",
    )
    assert receipt.kind == "bilan" and not receipt.replayed


@pytest.mark.parametrize(
    ("rule", "error_type", "non_retryable"),
    [
        ({"mode": "5xx"}, UNAVAILABLE, False),
        ({"mode": "5xx", "status": 502}, UNAVAILABLE, False),
        ({"mode": "timeout", "delay": 10}, TIMEOUT, False),
        ({"mode": "429", "retry_after": 30}, RATE_LIMITED, False),
        ({"mode": "4xx", "status": 403}, REFUSED, True),
    ],
)
async def test_error_classification(sim, monjob, unique_id, rule, error_type, non_retryable):
    await sim.faults(rule)
    with pytest.raises(ApplicationError) as raised:
        await monjob.push_cer(_cer(f"p{unique_id}"), idempotency_key=f"wf-{unique_id}:cer:cer-1")
    assert raised.value.type == error_type
    assert raised.value.non_retryable is non_retryable
    if error_type == RATE_LIMITED:
        assert raised.value.next_retry_delay == timedelta(seconds=30)


async def test_business_refusals(sim, monjob, unique_id):
    too_long = _cer(f"p{unique_id}", ends_on=date(2024, 9, 16))  # starts 15 March: 6 months end 15 September
    with pytest.raises(ApplicationError) as raised:
        await monjob.push_cer(too_long, idempotency_key=f"wf-{unique_id}:cer:cer-1")
    assert raised.value.type == REFUSED and raised.value.details[0]["error"] == "cer_too_long"

    response = await sim.http.post("/v1/cer", json=_cer(f"p{unique_id}").model_dump(mode="json"))
    assert response.status_code == 400 and response.json()["error"] == "idempotency_key_required"

    body = {**_cer(f"p{unique_id}").model_dump(mode="json"), "nom": "DUPONT"}
    response = await sim.http.post("/v1/cer", json=body, headers={"Idempotency-Key": f"k-{unique_id}"})
    assert response.status_code == 422 and response.json()["error"] == "invalid_payload"
    assert "DUPONT" not in response.text  # refusals never echo what was sent


async def test_unreachable_is_retryable(unique_id):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2) as http:
        with pytest.raises(ApplicationError) as raised:
            await MonJob62Client(http).push_cer(_cer(f"p{unique_id}"), idempotency_key=f"wf-{unique_id}:cer:c")
    assert raised.value.type == UNREACHABLE and not raised.value.non_retryable


def test_payloads_carry_no_identity_fields():
    with pytest.raises(ValidationError):
        MonJobExit.model_validate({"person_id": "p1234567", "exit_id": "e1", "exited_on": "2024-10-01",
                                   "reason": "SORTIE_EMPLOI", "nir": "185057800608491"})
    with pytest.raises(ValidationError):
        MonJobCer.model_validate({**_cer("p1234567").model_dump(), "person_id": "Jean Dupont"})


def test_retry_after_forms():
    now = datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc)
    assert retry_after("120", now) == timedelta(seconds=120)
    assert retry_after(format_datetime(now + timedelta(minutes=5), usegmt=True), now) == timedelta(minutes=5)
    assert retry_after(format_datetime(now - timedelta(minutes=5), usegmt=True), now) == timedelta(0)
    assert retry_after(None) is None and retry_after("soon") is None


async def test_cli_runs_the_simulator(database_url, unique_id):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "sim", "monjob", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": database_url}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                assert process.poll() is None, process.stderr.read().decode()
                await asyncio.sleep(0.05)
            receipt = await MonJob62Client(http).push_cer(_cer(f"p{unique_id}"),
                                                          idempotency_key=f"wf-{unique_id}:cer:cer-1")
            assert receipt.record_id.startswith("MJ62-")
    finally:
        process.terminate()
        process.wait(10)


async def test_the_worker_registers_the_pathway_push_and_only_feature_activities():
    """MonJob62 is pushed by the pathway's own activity; every registered name is ``<feature>.<verb>``."""
    from temporalio.activity import _Definition

    from workers.runtime.registry import Dependencies, build_activities

    async with httpx.AsyncClient(base_url="http://127.0.0.1:1") as http:
        deps = Dependencies(pool=object(), monjob=MonJob62Client(http), person_id_key=b"k" * 32)  # type: ignore[arg-type]
        names = {_Definition.must_from_callable(a).name for a in build_activities(deps)}
    assert PUSH_MONJOB62 in names
    assert [n for n in names if "." not in n] == []


# ---------------------------------------------------------------- the pathway's MonJob62 port


def _push(kind: str, ref: str, person: str, data: dict) -> MonJob62Push:
    """A push as ``domain.pathway_rules`` builds it: the business ref is only in the key."""
    return MonJob62Push(kind=kind, idempotency_key=f"pathway-{person}:{kind}:{ref}",
                        data={"person_id": person, **data})


_CER_DATA = {"cer_id": "cer-1", "type": "SOCIOPROFESSIONNEL", "start": "2024-03-15", "end": "2024-09-14",
             "signed_on": "2024-03-12"}


def _pathway_pushes(person: str) -> list[MonJob62Push]:
    return [
        _push("CER", "cer-9", person, {"cer_id": "cer-9", "type": "SOLIDARITE", "start": "2024-03-15",
                                       "end": "2024-09-14", "signed_on": "2024-03-12", "structure_id": "CCAS-62001",
                                       "renewal": False, "actions": 3}),
        _push("BILAN", "cer-9", person, {"decision": "END", "completed_on": "2024-09-14", "global_outcome": None,
                                         "domain_outcomes": [{"domain": "LOGEMENT", "outcome": "ATTEINT"}],
                                         "cer_id": "cer-9", "physical_appointments": 3,
                                         "caf_min_physical_appointments_met": True}),
        _push("EXIT", "17", person, {"reason": "FIN_ACCOMPAGNEMENT", "closed_on": "2024-09-14",
                                     "structure_id": "CCAS-62001"}),
    ]


async def test_port_pushes_pathway_items_once(sim, monjob, unique_id):
    port = MonJob62HttpPort(monjob)
    person = f"p{unique_id}"
    items = _pathway_pushes(person)
    assert [await port.push(i) for i in items] == ["accepted"] * 3
    assert [await port.push(i) for i in items] == ["duplicate"] * 3
    stored = {r["kind"]: r for r in (await sim.http.get("/_control/records", params={"person_id": person})).json()["records"]}
    assert set(stored) == {"cer", "bilan", "exit"}
    assert stored["cer"]["body"]["cer_type"] == "SOLIDARITE" and stored["cer"]["body"]["action_count"] == 3
    assert stored["bilan"]["business_ref"] == "cer-9" and stored["bilan"]["body"]["decision"] == "END"
    assert stored["exit"]["body"] == {"person_id": person, "exit_id": "17", "exited_on": "2024-09-14",
                                      "reason": "FIN_ACCOMPAGNEMENT", "structure_id": "CCAS-62001"}
    assert {r["idempotency_key"] for r in stored.values()} == {i.idempotency_key for i in items}


async def test_pathway_activity_with_the_http_port(db_pool, sim, monjob, unique_id):
    """The pathway's own activity, given this port instead of its in-process fake."""
    from temporalio.testing import ActivityEnvironment

    from activities.pathway import PathwayActivities, PathwayReadModel

    activities = PathwayActivities(PathwayReadModel(db_pool), MonJob62HttpPort(monjob))
    env = ActivityEnvironment()
    person = f"p{unique_id}"
    cer, bilan, _ = _pathway_pushes(person)
    assert await env.run(activities.push_monjob62, cer) == "accepted"
    orphan = _push("BILAN", "cer-x", person, {**bilan.data.model_dump(exclude={"person_id"}), "cer_id": "cer-x"})
    with pytest.raises(ApplicationError) as refused:
        await env.run(activities.push_monjob62, orphan)
    assert refused.value.type == REFUSED and refused.value.non_retryable
    await sim.faults({"mode": "429", "retry_after": 45})
    with pytest.raises(ApplicationError) as limited:
        await env.run(activities.push_monjob62, bilan)
    assert limited.value.type == RATE_LIMITED and limited.value.next_retry_delay == timedelta(seconds=45)


def test_port_refuses_unmapped_or_invalid_items():
    person = "p1234567890"
    cer = _pathway_pushes(person)[0]
    data = cer.data.model_dump(exclude={"person_id"})
    with pytest.raises(ValidationError):  # a key the pathway's push types do not declare never reaches the wire
        _push("CER", "cer-9", person, {**data, "nom": "DUPONT"})
    with pytest.raises(ValidationError):
        MonJob62Push(kind="CER", idempotency_key="pathway-x:CER:cer-9", data={k: v for k, v in data.items()
                                                                              if k != "person_id"})
    with pytest.raises(ValidationError):
        _push("CER", "cer-9", person, {**data, "type": "Jean Dupont"})
    with pytest.raises(ApplicationError) as invalid:  # typed, but not an opaque id: refused naming the field only
        wire_payload(_push("CER", "cer-9", "Jean Dupont", data))
    assert invalid.value.type == PAYLOAD_INVALID and invalid.value.non_retryable
    assert "person_id" in str(invalid.value.details) and "Jean Dupont" not in str(invalid.value) + str(invalid.value.details)
    exit_ = _pathway_pushes(person)[2]
    explicit = wire_payload(_push("EXIT", "17", person, {**exit_.data.model_dump(exclude={"person_id"}), "ref": "exit-3"}))
    assert explicit.business_ref == "exit-3"
    with pytest.raises(ApplicationError) as no_ref:
        wire_payload(MonJob62Push(kind="EXIT", idempotency_key="opaque-key", data=exit_.data))
    assert no_ref.value.type == PAYLOAD_INVALID
    with pytest.raises(ApplicationError) as mismatched:
        wire_payload(MonJob62Push(kind="BILAN", idempotency_key="pathway-x:BILAN:b", data=exit_.data))
    assert mismatched.value.type == PAYLOAD_INVALID


async def test_beneficiary_pathway_pushes_through_the_http_port(db_pool, task_queue, simulator_server, unique_id):
    """The real pathway workflow with this port instead of its fake: a CER reaches the simulator once, through
    a lost answer and a 429."""
    from activities.pathway import PathwayActivities, PathwayReadModel
    from domain.deadlines import add_months
    from domain.pathway import CerAction, CerType, OrientationDecision, OrientationTarget, SignCer, Stage
    from pathway_harness import Harness, contract, pathway_env
    from workflows.pathway import BeneficiaryPathway

    sim = simulator_server
    await sim.http.delete("/_control/faults")
    async with pathway_env() as env, httpx.AsyncClient(base_url=sim.url, timeout=httpx.Timeout(0.5)) as http:
        port = MonJob62HttpPort(MonJob62Client(http))
        activities = PathwayActivities(PathwayReadModel(db_pool), port)
        async with Worker(env.client, task_queue=task_queue, workflows=[BeneficiaryPathway],
                          activities=activities.all(), workflow_runner=workflow_runner()):
            h = Harness(env, task_queue, port, db_pool)  # type: ignore[arg-type]
            try:
                d0 = await h.morning()
                await h.start()
                await h.update(BeneficiaryPathway.orient, OrientationDecision(
                    event_id="orient-1", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                    notified_on=d0, bypass_reason="suivi déjà engagé"))
                await sim.faults({"mode": "5xx", "phase": "after"}, {"mode": "429", "retry_after": 120})
                cer_id = f"cer-{unique_id}"
                await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
                    event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL, start=d0,
                    end=add_months(d0, 6), signed_on=d0,
                    actions=[CerAction(start=d0, end=d0 + timedelta(days=60), professional_insertion=i == 0)
                             for i in range(3)])))
                await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
                key = f"{h.handle.id}:CER:{cer_id}"

                async def first_attempt_seen() -> bool:
                    return bool(await sim.requests(key))

                await h.eventually(first_attempt_seen)
                await env.sleep(timedelta(minutes=10))  # past the backoff and the Retry-After
                await h.idle()
                records = await sim.records(key)
                outcomes = [r["outcome"] for r in await sim.requests(key)]
            finally:
                await h.terminate()
    assert outcomes == ["stored+fault:5xx", "fault:429", "replayed"]
    assert len(records) == 1
    assert records[0]["body"]["person_id"] == h.person_id and records[0]["body"]["action_count"] == 3
