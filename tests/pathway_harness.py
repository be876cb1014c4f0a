"""Shared helpers for the BeneficiaryPathway workflow tests (time-skipping server, real durations)."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, AsyncIterator, Callable

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from workers.dev.embedded import register_search_attributes
from activities.pathway_start import signal_with_start
from domain.deadlines import PARIS, add_months, paris_date
from domain.pathway import FlowRecord, OrientationDecision, OrientationTarget, PathwayView, SignCer, Stage
from domain.plein_emploi import SignContratEngagement
from workers.runtime.converter import data_converter
from workers.dev.embedded import binary
from workers.runtime.keys import Keyring
from workers.runtime.sandbox import workflow_runner
from workflows.pathway import BeneficiaryPathway

TERRITORY = "LENS-LIEVIN"
QUERY_TIMEOUT = timedelta(seconds=5)


async def metric_updates(buffer: Any, name: str, attempts: int = 100) -> list[Any]:
    """The buffer's metric updates once one named ``name`` arrived (metrics are exported asynchronously)."""
    updates: list[Any] = []
    for _ in range(attempts):
        updates += buffer.retrieve_updates()
        if any(u.metric.name == name for u in updates):
            break
        await asyncio.sleep(0.05)
    return updates


def contract(msg: SignCer, weekly_hours: int = 15) -> SignContratEngagement:
    """The contrat d'engagement replacing a CER on a case entered from 2025 (§8.3; the harness starts pathways
    today): the CER's fields and the weekly hours of activity, for the update ``sign_contrat_engagement``."""
    return SignContratEngagement.model_validate({**msg.model_dump(), "weekly_hours": weekly_hours})


@asynccontextmanager
async def pathway_env(keyring: Keyring | None = None, runtime: Runtime | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of our own (0.2 s to start): the shared one can stay locked after a test.

    ``keyring`` encrypts payloads as production does; ``runtime`` lets a test read the worker's metrics."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=data_converter(keyring),
        runtime=runtime,
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def running_pathway(pool: Any, task_queue: str, *, keyring: Keyring | None = None,
                          runtime: Runtime | None = None, monjob: InMemoryMonJob62 | None = None,
                          read_model: PathwayReadModel | None = None) -> AsyncIterator["Harness"]:
    """A pathway server, a real worker (read model on ``pool`` unless given, MonJob62 fake) and a harness;
    the pathway left running is terminated at the end."""
    monjob = monjob or InMemoryMonJob62()
    async with pathway_env(keyring, runtime) as env:
        activities = PathwayActivities(read_model or PathwayReadModel(pool), monjob)
        async with Worker(env.client, task_queue=task_queue, workflows=[BeneficiaryPathway],
                          activities=activities.all(), workflow_runner=workflow_runner()):
            harness = Harness(env, task_queue, monjob, pool)
            yield harness
            await harness.terminate()


@dataclass
class Harness:
    env: WorkflowEnvironment
    task_queue: str
    monjob: InMemoryMonJob62
    pool: Any
    person_id: str = ""
    territory: str = TERRITORY
    handle: WorkflowHandle | None = None

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(PARIS)

    async def today(self) -> date:
        return paris_date(await self.now())

    async def morning(self, min_month_span: int = 29) -> date:
        """Move to 10:00 (Paris) of a day whose one-month deadline spans at least ``min_month_span`` days.

        Keeps day arithmetic exact (no midnight roll-over while a test talks to the workflow) and avoids
        February, where "1 month" is 28 days.
        """
        now = await self.now()
        target = datetime.combine(now.date() + timedelta(days=1), time(10), tzinfo=PARIS)
        while (add_months(target.date(), 1) - target.date()).days < min_month_span:
            target += timedelta(days=1)
        await self.env.sleep(target - now)
        return target.date()

    async def sleep_until(self, day: date, hour: int = 10) -> None:
        target = datetime.combine(day, time(hour), tzinfo=PARIS)
        now = await self.now()
        assert target > now, "tests only move forward"
        for retry in range(3):
            try:
                await self.env.sleep(target - now)
                return
            except RPCError as err:
                # Under load, a long skip (months of timers, each waiting for the worker) can outlast the call's
                # own deadline: carry on from where the server got to, a few times at most.
                if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) or retry == 2:
                    raise
                now = await self.now()
                if now >= target:
                    return

    async def start(self, *, subject: bool = True, transmission_date: date | None = None, event_id: str = "flow-1") -> WorkflowHandle:
        self.person_id = uuid.uuid4().hex
        record = FlowRecord(event_id=event_id, transmission_date=transmission_date or await self.today(),
                            subject_to_duties=subject)
        self.handle = await signal_with_start(self.env.client, self.person_id, self.territory, record,
                                               task_queue=self.task_queue)
        # An update sent right after signal-with-start can reach the workflow in the same first task, ordered
        # before the start signal: wait until the flow record is applied, as a caller reading the state would.
        await self.view(lambda v: v.stage is not Stage.DETECTED)
        return self.handle

    async def designated(self, structure_id: str = "SOCIO-7") -> date:
        """A pathway started this morning and oriented directly to a socio-professional referent (T5); its day."""
        d0 = await self.morning()
        await self.start()
        await self.update(BeneficiaryPathway.orient, OrientationDecision(
            event_id="o", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id=structure_id, notified_on=d0,
            bypass_reason="suivi déjà engagé"))
        await self.view(lambda v: v.stage is Stage.REFERENT_DESIGNATED)
        return d0

    async def flow(self, event_id: str, subject: bool = True, rights_open: bool = True) -> WorkflowHandle:
        record = FlowRecord(event_id=event_id, transmission_date=await self.today(), subject_to_duties=subject,
                            rights_open=rights_open)
        return await signal_with_start(self.env.client, self.person_id, self.territory, record,
                                        task_queue=self.task_queue)

    async def view(self, until: Callable[[PathwayView], bool] = lambda v: True, attempts: int = 300) -> PathwayView:
        """Query until ``until`` holds (the workflow may still be processing a timer or a signal)."""
        assert self.handle is not None
        view = None
        timeouts = 0
        for _ in range(attempts):
            try:
                view = await self.env.client.get_workflow_handle(self.handle.id).query(
                    BeneficiaryPathway.view, rpc_timeout=QUERY_TIMEOUT)
            except RPCError as err:
                # Under load, the Java test server sometimes leaves a query unanswered (seen right after a
                # continue-as-new): ask again, a few times at most.
                timeouts += 1
                if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) or timeouts > 3:
                    raise
                continue
            if until(view):
                return view
            await asyncio.sleep(0.02)
        raise AssertionError(f"condition never held; last view: {view}")

    async def eventually(self, check: Callable[[], Any], attempts: int = 300) -> None:
        """Wait for a side effect of the workflow's main loop (activities run after an update returns)."""
        for _ in range(attempts):
            result = check()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("side effect never observed")

    async def idle(self) -> None:
        """Wait until the pathway has no workflow task nor activity in flight (its writes are done)."""
        assert self.handle is not None
        request = DescribeWorkflowExecutionRequest(namespace=self.env.client.namespace,
                                                   execution=WorkflowExecution(workflow_id=self.handle.id))
        quiet_at = None  # history length at the last quiet observation
        for _ in range(500):
            raw = await self.env.client.workflow_service.describe_workflow_execution(request)
            length = raw.workflow_execution_info.history_length
            if raw.pending_activities or raw.HasField("pending_workflow_task"):
                quiet_at = None
            elif quiet_at == length:
                return  # quiet twice with nothing new in between: an update's reply can beat its task's commands
            else:
                quiet_at = length
            await asyncio.sleep(0.03)

    async def terminate(self) -> None:
        """A pathway left running would hold the shared time-skipping server (its pending tasks lock skipping)."""
        if self.handle is None:
            return
        handle = self.env.client.get_workflow_handle(self.handle.id)
        await self.idle()
        try:
            await self.env.client.get_workflow_handle(self.handle.id).terminate("test over")
        except RPCError:
            pass  # already closed

    async def search_attributes(self, until: Callable[[Any], bool]) -> Any:
        """Typed search attributes once ``until`` holds (the test server keeps an unset Datetime as null, which
        the SDK cannot decode, so a describe in between may fail)."""
        assert self.handle is not None
        for _ in range(300):
            try:
                attributes = (await self.handle.describe()).typed_search_attributes
            except TypeError:
                attributes = None
            if attributes is not None and until(attributes):
                return attributes
            await asyncio.sleep(0.02)
        raise AssertionError("search attributes never matched")

    async def update(self, method, msg):
        assert self.handle is not None
        return await self.env.client.get_workflow_handle(self.handle.id).execute_update(method, msg)
