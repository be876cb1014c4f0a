"""Worker memory without losing the sandbox: what each cached run shares, and what the sandbox still forbids.

The production runner (``workers.runtime.sandbox.workflow_runner``) shares the compiled code of workflow modules between
workflow runs (docs/worker-memory.md); these tests check that a workflow module still runs afresh in each run
with restricted imports, and that a workflow reading the clock, drawing random numbers or opening a file still
fails its task.
"""

import asyncio
import random
import sys
import uuid
from datetime import datetime

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox._restrictions import RestrictedModule

from workers.runtime import converter, sandbox_code
from workers.runtime.sandbox import workflow_runner


@workflow.defn(name="MemoryTestLoader")
class LoaderWorkflow:
    @workflow.run
    async def run(self) -> str:
        return type(__spec__.loader).__name__  # the loader that gave this run its module


@workflow.defn(name="MemoryTestClock")
class ClockWorkflow:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


@workflow.defn(name="MemoryTestRandom")
class RandomWorkflow:
    @workflow.run
    async def run(self) -> float:
        return random.random()


@workflow.defn(name="MemoryTestOpen")
class OpenWorkflow:
    @workflow.run
    async def run(self) -> str:
        with open(__file__) as source:
            return source.readline()


@pytest.fixture
def shared_code_for_this_module(monkeypatch):
    """Load this test module in the sandbox the way the project's workflow modules are loaded."""
    monkeypatch.setattr(sandbox_code, "PACKAGES", (*sandbox_code.PACKAGES, __name__.partition(".")[0]))


async def first_task_failure(client: Client, handle: WorkflowHandle) -> str:
    for _ in range(200):
        history = await handle.fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failure = event.workflow_task_failed_event_attributes.failure  # encrypted: decode it
                return str(await client.data_converter.decode_failure(failure))
        await asyncio.sleep(0.1)
    raise AssertionError("the workflow task did not fail")


async def test_sandbox_still_forbids_clock_random_and_files(ts_env, task_queue, shared_code_for_this_module):
    workflows = [LoaderWorkflow, ClockWorkflow, RandomWorkflow, OpenWorkflow]
    async with Worker(ts_env.client, task_queue=task_queue, workflows=workflows, workflow_runner=workflow_runner()):
        loader = await ts_env.client.execute_workflow(LoaderWorkflow.run, id=f"loader-{uuid.uuid4()}",
                                                      task_queue=task_queue)
        assert loader == "SharedCodeLoader"
        for bad, forbidden in ((ClockWorkflow, "datetime.datetime.now"), (RandomWorkflow, "random.random"),
                               (OpenWorkflow, "open")):
            handle = await ts_env.client.start_workflow(bad.run, id=f"bad-{uuid.uuid4()}", task_queue=task_queue)
            try:
                message = await first_task_failure(ts_env.client, handle)
            finally:
                await handle.terminate()
            assert "Cannot access" in message and forbidden in message, message


async def test_each_pathway_run_gets_a_fresh_restricted_module_with_shared_code():
    from temporalio.worker.workflow_sandbox._runner import _fake_info
    from temporalio.worker._workflow_instance import WorkflowInstanceDetails
    from temporalio.api.common.v1.message_pb2 import Payloads
    from temporalio.api.failure.v1.message_pb2 import Failure
    from workflows.pathway import BeneficiaryPathway

    runner = workflow_runner()
    defn = workflow._Definition.must_from_class(BeneficiaryPathway)

    def instance():
        return runner.create_instance(WorkflowInstanceDetails(
            payload_converter_factory=converter.ParcoursPayloadConverter,
            failure_converter_class=converter.DefaultFailureConverterWithEncodedAttributes,
            interceptor_classes=[], defn=defn, info=_fake_info, randomness_seed=-1, extern_functions={},
            disable_eager_activity_execution=False, worker_level_failure_exception_types=[],
            patch_activation_callback=None, last_completion_result=Payloads(), last_failure=Failure()))

    first, second = instance(), instance()
    modules = [i.importer.new_modules["workflows.pathway"] for i in (first, second)]
    assert modules[0] is not modules[1] and sys.modules["workflows.pathway"] not in modules  # state isolated
    runs = [m.BeneficiaryPathway.run for m in modules]
    assert runs[0] is not runs[1] and runs[0].__code__ is runs[1].__code__  # one compiled copy
    assert isinstance(first.importer.new_modules["asyncio"], RestrictedModule)  # restrictions still applied
    assert modules[0].sa is sys.modules["workflows.search_attributes"]  # constant keys passed through
