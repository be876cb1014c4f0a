"""Fault injection on the real stack: processes die or go away mid-run, and nothing is lost nor done twice.

A Temporal dev server persisted in SQLite (``temporal server start-dev --db-filename``, on free ports, so it
can be killed with SIGKILL and restarted on the same file), an embedded PostgreSQL of this module (stopped
and restarted), the MonJob62 simulator, and the production registry (``workers.runtime.registry``) run by a worker
in a separate process (``python -m tests.test_fault_recovery``) that a test can SIGKILL.

* the worker SIGKILLed while MonJob62 pushes are in flight (stored by MonJob62, answer lost) → a new worker
  retries them and MonJob62 holds exactly one record per push;
* the Temporal server SIGKILLed while commands are in flight → after a restart every pathway has the same
  deadlines, and commands sent again are applied once;
* PostgreSQL restarted while pathways start → the read-model writes retry and every row is there.

The simulator's 5xx/timeout/429 retries are covered at activity level in ``tests/test_monjob.py``.
The worker runs without a workflow cache (no sticky queue), so a new worker takes over at once; production
keeps its cache, which only adds the sticky timeout (seconds) to a recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.pathway_start import signal_with_start
from domain.pathway_contract import PUSH_MONJOB62
from domain.deadlines import add_months, paris_date
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CerAction,
    CerType,
    CommandResult,
    DeadlineKind,
    FlowRecord,
    OrientationDecision,
    OrientationTarget,
    PathwayView,
    Stage,
)
from domain.pathway_constants import pathway_workflow_id
from domain.plein_emploi import SignContratEngagement
from workers.runtime.converter import data_converter
from workers.dev.embedded import (
    PostgresProcess,
    free_port,
    start_postgres,
    stop_process,
    temporal_dev_server_command,
    wait_for_port,
)
from workers.runtime.keys import ENV_VAR, Keyring
from workers.runtime.migrations import migrate
from workflows.pathway import BeneficiaryPathway
from workflows.search_attributes import cli_search_attribute_types

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "parcours-fault"
TERRITORY = "LENS-LIEVIN"


# ---------------------------------------------------------------- the stack


class TemporalServer:
    """A persistent dev server we own: SIGKILL it, start it again on the same SQLite file and port."""

    def __init__(self, workdir: Path) -> None:
        self.db_file = workdir / "temporal.db"
        self.log = workdir / "temporal.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        cmd = temporal_dev_server_command(db_file=self.db_file, port=self.port, ui_port=0, namespace=NAMESPACE,
                                          search_attributes=cli_search_attribute_types())
        self.process = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        await asyncio.to_thread(wait_for_port, self.port, self.process, 60)

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Postgres:
    """This module's own PostgreSQL (the session one is shared by every test): restartable on its port."""

    def __init__(self, workdir: Path) -> None:
        self.data_dir = workdir / "pg"
        self.port = free_port()
        self.server: PostgresProcess | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def start(self) -> None:
        self.server = start_postgres(self.data_dir, self.port)

    def fast_stop(self) -> None:
        """SIGINT: PostgreSQL's fast shutdown (clients disconnected, no wait for them), as a restart does."""
        assert self.server is not None
        process = self.server.process
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@dataclass
class Stack:
    temporal: TemporalServer
    postgres: Postgres
    keyring: Keyring
    client: Client
    pool: asyncpg.Pool
    sim_url: str
    sim: httpx.AsyncClient  # control client of the simulator

    def worker_env(self, task_queue: str) -> dict[str, str]:
        return {**os.environ, "TEMPORAL_ADDRESS": self.temporal.address, "TEMPORAL_NAMESPACE": NAMESPACE,
                "TEMPORAL_TASK_QUEUE": task_queue, "DATABASE_URL": self.postgres.url,
                ENV_VAR: self.keyring.to_spec(), "MONJOB62_URL": self.sim_url, "PARCOURS_LOG_FORMAT": "json"}


async def connect(address: str, keyring: Keyring, attempts: int = 300) -> Client:
    """A client once the frontend answers (the port opens a little before the namespace is served)."""
    for _ in range(attempts):
        try:
            client = await Client.connect(address, namespace=NAMESPACE, data_converter=data_converter(keyring))
            await client.count_workflows()
            return client
        except RuntimeError:
            await asyncio.sleep(0.1)
        except RPCError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"Temporal at {address} never answered")


async def _serve_simulator(pool: asyncpg.Pool, port: int):
    from served_app import serve  # not at import: the worker subprocess runs this module with -m
    from workers.dev.monjob_sim import create_app

    return await serve(create_app(pool=pool), port)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fault")
    postgres, temporal = Postgres(workdir), TemporalServer(workdir)
    postgres.start()
    await temporal.start()
    pool = None
    server = task = None
    try:
        await migrate(postgres.url)
        pool = await asyncpg.create_pool(postgres.url, min_size=1, max_size=5)
        keyring = Keyring.generate("fault")
        client = await connect(temporal.address, keyring)
        port = free_port()
        server, task = await _serve_simulator(pool, port)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=5) as sim:
            yield Stack(temporal, postgres, keyring, client, pool, url, sim)
    finally:
        if server is not None:
            server.should_exit = True
            await task
        if pool is not None:
            pool.terminate()
        temporal.stop()
        postgres.stop()


class WorkerProcess:
    """The production registry in a process of its own, killable with SIGKILL."""

    def __init__(self, stack: Stack, task_queue: str) -> None:
        self.env = stack.worker_env(task_queue)
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> "WorkerProcess":
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.test_fault_recovery", cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        assert line.strip() == b"worker ready", line
        return self

    async def kill9(self) -> None:
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except asyncio.TimeoutError:
                await self.kill9()


@contextlib.asynccontextmanager
async def worker(stack: Stack, task_queue: str):
    process = await WorkerProcess(stack, task_queue).start()
    try:
        yield process
    finally:
        await process.stop()


# ---------------------------------------------------------------- helpers


async def eventually(check, timeout: float = 60, interval: float = 0.1):
    """Poll ``check`` (async, truthy result) until it holds; no timing is asserted, the bound only ends a hang."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await check()
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, RuntimeError, OSError, asyncpg.PostgresError,
                asyncpg.InterfaceError) as error:  # a server coming back (an update not answered in time is retried)
            last = error
        else:
            if last:
                return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition never held (last: {last!r})")


async def describe_raw(client: Client, workflow_id: str):
    return await client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)))


async def idle(client: Client, workflow_id: str) -> bool:
    raw = await describe_raw(client, workflow_id)
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")


async def all_idle(client: Client, workflow_ids) -> bool:
    return all([await idle(client, w) for w in workflow_ids])


def today() -> date:
    from datetime import datetime, timezone

    return paris_date(datetime.now(timezone.utc))


def new_person() -> str:
    return uuid.uuid4().hex


async def start_pathway(client: Client, person: str, task_queue: str) -> WorkflowHandle:
    record = FlowRecord(event_id="flow-1", transmission_date=today(), subject_to_duties=True)
    return await signal_with_start(client, person, TERRITORY, record, task_queue=task_queue)


def direct(event_id: str = "orient-1") -> OrientationDecision:
    return OrientationDecision(event_id=event_id, target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                               notified_on=today(), bypass_reason="suivi déjà engagé")


def cer(cer_id: str = "cer-1") -> SignContratEngagement:
    """The contract of a case entered today: the contrat d'engagement replacing the CER (§8.3)."""
    day = today()
    actions = [CerAction(start=day, end=day + timedelta(days=60), professional_insertion=i == 0) for i in range(3)]
    return SignContratEngagement(event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL,
                                 start=day, end=add_months(day, 3), signed_on=day, actions=actions, weekly_hours=15)


async def view(client: Client, workflow_id: str) -> PathwayView:
    return await client.get_workflow_handle(workflow_id).query(BeneficiaryPathway.view)


def deadlines(v: PathwayView) -> list[tuple[str, str, date, str]]:
    return sorted((d.id, d.kind.value, d.due, d.status) for d in v.deadlines)


async def next_deadline(client: Client, workflow_id: str) -> bytes | None:
    """The NextDeadline search attribute as stored by the server."""
    fields = (await describe_raw(client, workflow_id)).workflow_execution_info.search_attributes.indexed_fields
    return fields["NextDeadline"].data if "NextDeadline" in fields else None


async def sim_requests(stack: Stack, key: str) -> list[str]:
    response = await stack.sim.get("/_control/requests", params={"idempotency_key": key})
    return [r["outcome"] for r in response.json()["requests"]]


async def sim_records(stack: Stack, **params) -> list[dict]:
    return (await stack.sim.get("/_control/records", params=params)).json()["records"]


async def activity_attempts(client: Client, workflow_id: str, activity_type: str) -> list[tuple[int, str]]:
    """(attempt, outcome) of each run of an activity type in the workflow's history."""
    handle = client.get_workflow_handle(workflow_id)
    scheduled: dict[int, str] = {}
    started: dict[int, int] = {}
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            started[attrs.scheduled_event_id] = attrs.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if scheduled.get(attrs.scheduled_event_id) == activity_type:
                result = (await client.data_converter.decode(list(attrs.result.payloads)))[0]
                found.append((started[attrs.scheduled_event_id], result))
    return found


# ---------------------------------------------------------------- (a) worker killed during MonJob62 pushes


async def test_worker_killed_during_monjob62_pushes_leaves_one_record_each(stack: Stack):
    task_queue = f"fault-{uuid.uuid4().hex[:8]}"
    persons = [new_person() for _ in range(3)]
    ids = [pathway_workflow_id(p) for p in persons]
    keys = [f"{w}:CER:cer-1" for w in ids]
    first = await WorkerProcess(stack, task_queue).start()
    try:
        for person in persons:
            handle = await start_pathway(stack.client, person, task_queue)
            await handle.execute_update(BeneficiaryPathway.orient, direct())
        # Each push is stored by MonJob62, then the answer is held back: the worker dies waiting for it.
        await stack.sim.post("/_control/faults", json={"mode": "timeout", "delay": 120, "phase": "after",
                                                        "count": len(persons)})
        for workflow_id in ids:
            result = await stack.client.get_workflow_handle(workflow_id).execute_update(
                BeneficiaryPathway.sign_contrat_engagement, cer())
            assert result.stage is Stage.CER_ACTIVE

        async def all_stored_and_held():
            return all([await sim_requests(stack, key) == ["stored+fault:timeout"] for key in keys])
        await eventually(all_stored_and_held)
        await first.kill9()
    finally:
        await first.kill9()
    await stack.sim.delete("/_control/faults")
    assert [len(await sim_records(stack, idempotency_key=key)) for key in keys] == [1, 1, 1]

    async with worker(stack, task_queue):
        # The lost attempts time out (start-to-close, 30 s) and are retried by the new worker.
        async def all_replayed():
            return all([(await sim_requests(stack, key))[-1:] == ["replayed"] for key in keys])
        await eventually(all_replayed, timeout=120, interval=0.5)
        await eventually(lambda: all_idle(stack.client, ids))
        for workflow_id, person, key in zip(ids, persons, keys):
            assert await sim_requests(stack, key) == ["stored+fault:timeout", "replayed"]
            records = await sim_records(stack, person_id=person)
            assert [(r["kind"], r["idempotency_key"]) for r in records] == [("cer", key)]
            # One push activity in the history: its second attempt completed, told it was a duplicate.
            assert await activity_attempts(stack.client, workflow_id, PUSH_MONJOB62) == [(2, "duplicate")]
            failed = await stack.pool.fetchval(
                "SELECT count(*) FROM human_tasks WHERE workflow_id = $1 AND kind = 'MONJOB62_PUSH_FAILED'",
                workflow_id)
            assert failed == 0
            assert (await view(stack.client, workflow_id)).stage is Stage.CER_ACTIVE


# ---------------------------------------------------------------- (b) Temporal server killed mid-run


async def test_temporal_server_killed_mid_run_resumes_every_pathway_with_the_same_deadlines(stack: Stack):
    task_queue = f"fault-{uuid.uuid4().hex[:8]}"
    persons = [new_person() for _ in range(6)]
    ids = [pathway_workflow_id(p) for p in persons]
    settled, pending = ids[:3], ids[3:]
    async with worker(stack, task_queue):
        for person in persons:
            await start_pathway(stack.client, person, task_queue)
        for workflow_id in settled:
            await stack.client.get_workflow_handle(workflow_id).execute_update(BeneficiaryPathway.orient, direct())
        await eventually(lambda: all_idle(stack.client, ids))
        before = {w: await view(stack.client, w) for w in ids}
        attributes_before = {w: await next_deadline(stack.client, w) for w in ids}
        assert all(attributes_before.values())

        # Orientations on their way when the server dies: some may be applied, some not; the caller cannot tell.
        sends = [asyncio.create_task(stack.client.get_workflow_handle(w).execute_update(
            BeneficiaryPathway.orient, direct(), rpc_timeout=timedelta(seconds=5))) for w in pending]
        await asyncio.sleep(0.05)
        stack.temporal.kill9()
        await asyncio.gather(*sends, return_exceptions=True)
        await stack.temporal.start()
        client = await connect(stack.temporal.address, stack.keyring)

        async def resend(workflow_id: str) -> CommandResult:  # the caller retries with the same event id
            return await client.get_workflow_handle(workflow_id).execute_update(
                BeneficiaryPathway.orient, direct(), rpc_timeout=timedelta(seconds=5))
        results = [await eventually(lambda w=w: resend(w), timeout=90, interval=0.5) for w in pending]
        assert {r.stage for r in results} == {Stage.REFERENT_DESIGNATED}
        await eventually(lambda: all_idle(client, ids), timeout=60)
        after = {w: await view(client, w) for w in ids}

        for workflow_id in settled:
            assert deadlines(after[workflow_id]) == deadlines(before[workflow_id])
            assert after[workflow_id].stage_history == before[workflow_id].stage_history
            assert await next_deadline(client, workflow_id) == attributes_before[workflow_id]
        for workflow_id in pending:
            # The orientation deadline: same date, now met (its D+21 reminder cancelled). The run that met it
            # closed at the designation, so the workflow's state no longer holds them; the read model does.
            for d in before[workflow_id].deadlines:
                row = await stack.pool.fetchrow("SELECT due_on, status FROM deadlines WHERE pathway_id = $1 AND "
                                                "deadline_id = $2", workflow_id, d.id)
                status = {DeadlineKind.ORIENTATION_REMINDER: "CANCELLED",
                          # a 2025 case awaits its France Travail registration whatever the orientation (issue 18)
                          DeadlineKind.FRANCE_TRAVAIL_REGISTRATION: "PENDING"}.get(d.kind, "MET")
                assert (row["due_on"], row["status"]) == (d.due, status)
            assert after[workflow_id].run == 2
            # Applied exactly once, whether the first send made it or not.
            changes = [c.to_stage for c in after[workflow_id].stage_history]
            assert changes.count(Stage.REFERENT_DESIGNATED) == 1
            # ... and its deadlines are those of a pathway oriented the same day before the crash.
            assert [d[1:] for d in deadlines(after[workflow_id])] == [d[1:] for d in deadlines(before[settled[0]])]

        # The pathways are live: a new event after the restart is applied and recorded.
        probe = settled[0]
        await client.get_workflow_handle(probe).signal(BeneficiaryPathway.appointment, AppointmentEvent(
            event_id="rdv-after-restart", kind=AppointmentKind.SCHEDULED, appointment_date=today() + timedelta(days=3)))

        async def appointment_applied():
            v = await view(client, probe)
            return [d for d in v.deadlines if d.kind.value == "FIRST_APPOINTMENT" and d.status == "MET"]
        await eventually(appointment_applied)
        rows = await stack.pool.fetch("SELECT pathway_id, stage FROM pathways WHERE pathway_id = ANY($1::text[])", ids)
        assert {r["pathway_id"]: r["stage"] for r in rows} == dict.fromkeys(ids, Stage.REFERENT_DESIGNATED.value)
    stack.client = client


# ---------------------------------------------------------------- (c) PostgreSQL restarted mid-run


async def test_postgres_restarted_mid_run_loses_nothing(stack: Stack):
    task_queue = f"fault-{uuid.uuid4().hex[:8]}"
    persons = [new_person() for _ in range(4)]
    ids = [pathway_workflow_id(p) for p in persons]
    async with worker(stack, task_queue):
        warm = await start_pathway(stack.client, new_person(), task_queue)  # the worker's pool is connected
        await eventually(lambda: stack.pool.fetchval("SELECT 1 FROM pathways WHERE pathway_id = $1", warm.id))
        stack.postgres.fast_stop()
        try:
            for person in persons:
                await start_pathway(stack.client, person, task_queue)
            for workflow_id in ids[:2]:
                await stack.client.get_workflow_handle(workflow_id).execute_update(BeneficiaryPathway.orient,
                                                                                    direct())

            async def every_write_failed_and_retrying():
                raws = [await describe_raw(stack.client, w) for w in ids]
                return all(r.pending_activities and r.pending_activities[0].attempt >= 2 for r in raws)
            # Each write first retries 4 times as a local activity, then as a regular (pending) activity.
            await eventually(every_write_failed_and_retrying, timeout=120)
        finally:
            stack.postgres.start()  # same data directory and port

        async def all_rows_written():
            rows = await stack.pool.fetch("SELECT pathway_id, stage FROM pathways WHERE pathway_id = ANY($1::text[])",
                                          ids)
            return {r["pathway_id"]: r["stage"] for r in rows} if len(rows) == len(ids) else None
        stages = await eventually(all_rows_written, timeout=90, interval=0.5)
        await eventually(lambda: all_idle(stack.client, ids))
        for workflow_id in ids:
            v = await view(stack.client, workflow_id)
            assert stages[workflow_id] == v.stage.value
            stored = await stack.pool.fetch("SELECT deadline_id, due_on, status FROM deadlines WHERE pathway_id = $1",
                                            workflow_id)
            live = {(d.id, d.due) for d in v.deadlines}
            assert live <= {(r["deadline_id"], r["due_on"]) for r in stored}
            # Deadlines settled in a run that closed (at the designation) are only in the read model.
            assert all(r["status"] != "PENDING" for r in stored if (r["deadline_id"], r["due_on"]) not in live)
            changes = await stack.pool.fetchval("SELECT count(*) FROM stage_changes WHERE pathway_id = $1",
                                                workflow_id)
            assert changes == len(v.stage_history)
        for workflow_id in ids[2:]:  # not oriented: still in their first run, which holds the waiting write
            # The local write gave up while the database was down; the regular activity waited for it.
            attempts = [a for a, _ in await activity_attempts(stack.client, workflow_id, "pathway.record_effects")]
            assert attempts and attempts[0] >= 2


# ---------------------------------------------------------------- the worker process


async def _worker_main() -> None:
    """``python -m tests.test_fault_recovery``: the production registry, MonJob62 over HTTP.

    Workflows stay cached, as in production: a pathway's read-model write is a local activity that lives
    in its open workflow task, and without a cache every task would evict the run and restart that write.
    A short sticky timeout hands a killed worker's cached workflows to the next one within a second.
    """
    from datetime import timedelta

    from temporalio.worker import Worker

    from activities.monjob import MonJob62Client, http_client
    from workers.runtime.config import Settings
    from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
    from workers.runtime.sandbox import workflow_runner
    from workers.runtime.worker import connect as connect_worker

    settings = Settings.from_env()
    client = await connect_worker(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=5)
    async with http_client(os.environ["MONJOB62_URL"]) as http:
        deps = Dependencies(pool=pool, monjob=MonJob62Client(http))
        worker_ = Worker(client, task_queue=settings.temporal_task_queue, workflows=WORKFLOWS,
                         activities=build_activities(deps), workflow_runner=workflow_runner(),
                         sticky_queue_schedule_to_start_timeout=timedelta(seconds=1))
        async with worker_:
            print("worker ready", flush=True)
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(_worker_main())
