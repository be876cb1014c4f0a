"""Shared helpers for the BeneficiaryPathway workflow tests (time-skipping server, real durations)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, AsyncIterator, Callable

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.pathway import InMemoryMonJob62
from conftest import register_search_attributes
from domain.deadlines import PARIS, add_months, paris_date
from domain.pathway import FlowRecord, PathwayView
from workers.converter import data_converter
from workers.embedded import binary
from workflows.pathway import BeneficiaryPathway, signal_flow_record

TERRITORY = "LENS-LIEVIN"


@asynccontextmanager
async def pathway_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of our own (0.2 s to start): the shared one can stay locked after a test."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=data_converter()
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@dataclass
class Harness:
    env: WorkflowEnvironment
    task_queue: str
    monjob: InMemoryMonJob62
    pool: Any
    person_id: str = ""
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
        await self.env.sleep(target - now)

    async def start(self, *, subject: bool = True, transmission_date: date | None = None, event_id: str = "flow-1") -> WorkflowHandle:
        self.person_id = uuid.uuid4().hex
        record = FlowRecord(event_id=event_id, transmission_date=transmission_date or await self.today(),
                            subject_to_duties=subject)
        self.handle = await signal_flow_record(self.env.client, self.person_id, TERRITORY, record, task_queue=self.task_queue)
        return self.handle

    async def flow(self, event_id: str, subject: bool = True, rights_open: bool = True) -> WorkflowHandle:
        record = FlowRecord(event_id=event_id, transmission_date=await self.today(), subject_to_duties=subject,
                            rights_open=rights_open)
        return await signal_flow_record(self.env.client, self.person_id, TERRITORY, record, task_queue=self.task_queue)

    async def view(self, until: Callable[[PathwayView], bool] = lambda v: True, attempts: int = 300) -> PathwayView:
        """Query until ``until`` holds (the workflow may still be processing a timer or a signal)."""
        assert self.handle is not None
        view = None
        for _ in range(attempts):
            view = await self.env.client.get_workflow_handle(self.handle.id).query(BeneficiaryPathway.view)
            if until(view):
                return view
            await asyncio.sleep(0.02)
        raise AssertionError(f"condition never held; last view: {view}")

    async def eventually(self, check: Callable[[], Any], attempts: int = 300) -> None:
        """Wait for a side effect of the workflow's main loop (activities run after an update returns)."""
        for _ in range(attempts):
            if await check() if asyncio.iscoroutinefunction(check) else check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("side effect never observed")

    async def idle(self) -> None:
        """Wait until the pathway has no workflow task nor activity in flight (its writes are done)."""
        assert self.handle is not None
        request = DescribeWorkflowExecutionRequest(namespace=self.env.client.namespace,
                                                   execution=WorkflowExecution(workflow_id=self.handle.id))
        for _ in range(500):
            raw = await self.env.client.workflow_service.describe_workflow_execution(request)
            if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                return
            await asyncio.sleep(0.02)

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

    async def update(self, method, msg):
        assert self.handle is not None
        return await self.env.client.get_workflow_handle(self.handle.id).execute_update(method, msg)
