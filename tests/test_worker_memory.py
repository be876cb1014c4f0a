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
from workers.runtime.sandbox import PASSTHROUGH_MODULES, workflow_runner
from memory_passthrough_mixin import ReadsAFile


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


@workflow.defn(name="MemoryTestPassedThroughOpen")
class PassedThroughOpenWorkflow(ReadsAFile):
    @workflow.run
    async def run(self) -> str:
        return self.first_line()


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
    first._run_code("with __temporal_importer.applied():\n  import datetime as __clock\n",
                    __temporal_importer=first.importer)
    assert isinstance(first.globals_and_locals["__clock"], RestrictedModule)  # restrictions still applied
    handlers = sys.modules["workflows.pathway_handlers"]  # checked pure: one copy, shared by every run
    loop = sys.modules["workflows.pathway_loop"]
    assert all(m.PathwayLoop is loop.PathwayLoop for m in modules)
    assert modules[0].BeneficiaryPathway.flow_record is handlers.PathwayHandlers.flow_record
    assert modules[0].BeneficiaryPathway._drain is loop.PathwayLoop._drain  # the main loop's code: one copy
    own = {k for k, v in vars(modules[0]).items() if not k.startswith("__")}  # what each cached run pays for
    assert own == {"workflow", "PathwayInput", "PathwayView", "WORKFLOW_TYPE", "PathwayLoop", "BeneficiaryPathway"}


def test_pure_workflow_modules_are_checked_and_shared_by_every_run():
    """The handlers and the main loop are passed through (one copy per process) because the check finds they import
    only passed-through, unrestricted modules and keep no state; the workflow's definition stays sandboxed."""
    from workers.runtime import sandbox_passthrough
    from workers.runtime.sandbox import PASSTHROUGH_MODULES

    assert sandbox_passthrough.check() == ("workflows.pathway_handlers", "workflows.holiday_calendar",
                                           "workflows.pathway_loop")
    assert "workflows.pathway_handlers" not in PASSTHROUGH_MODULES  # only through the check
    assert "workflows.pathway_loop" not in PASSTHROUGH_MODULES
    assert "workflows.pathway" not in sandbox_passthrough.PURE_WORKFLOW_MODULES


@pytest.mark.parametrize("source, problem", [
    ("from datetime import datetime\n", "from datetime import datetime"),
    ("import random\n", "import random"),
    ("from temporalio import activity, workflow\n", "from temporalio import activity"),
    ("class H:\n    def f(self):\n        import time\n", "import time"),
    ("from . import pathway\n", "from . import pathway"),
    ("SEEN = set()\n", "module-level Assign"),
    ("class H:\n    cache: dict = {}\n", "class-level AnnAssign in H"),
])
def test_a_module_that_could_escape_the_sandbox_is_refused(source, problem, tmp_path, monkeypatch):
    from workers.runtime import sandbox_passthrough

    assert any(problem in found for found in sandbox_passthrough.problems(source))
    (tmp_path / "impure_handlers.py").write_text("from typing import Any\n" + source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(sandbox_passthrough.ImpureWorkflowModule, match=problem.split()[-1]):
        sandbox_passthrough.check(("impure_handlers",))


def test_a_pure_module_passes():
    from workers.runtime import sandbox_passthrough

    source = ('"""Doc."""\nfrom typing import Any\nfrom temporalio import workflow\n'
              'with workflow.unsafe.imports_passed_through():\n    from domain.pathway import FlowRecord\n'
              'class H:\n    """Doc."""\n    p: Any\n    @workflow.signal\n    def s(self, m: FlowRecord) -> None:\n'
              '        self.p.on(m)\n')
    assert sandbox_passthrough.problems(source) == []


async def test_restricted_builtins_still_refuse_passed_through_code(ts_env, task_queue):
    """What a passed-through module (like the pathway's handlers) calls at run time still meets the sandbox's
    restricted builtins: they are patched on ``builtins`` itself while a workflow runs."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(
        *PASSTHROUGH_MODULES, "memory_passthrough_mixin"))
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PassedThroughOpenWorkflow],
                      workflow_runner=runner):
        handle = await ts_env.client.start_workflow(PassedThroughOpenWorkflow.run, id=f"pt-open-{uuid.uuid4()}",
                                                    task_queue=task_queue)
        try:
            message = await first_task_failure(ts_env.client, handle)
        finally:
            await handle.terminate()
    assert "Cannot access" in message and "open" in message, message


class _KeepsAMessage:
    """Holds a protobuf message in an attribute, as the SDK's workflow instance does (bench/proto_census.py)."""

    def __init__(self, message) -> None:
        self.kept = message


def test_the_protobuf_census_names_the_attribute_that_keeps_a_message():
    from temporalio.api.common.v1.message_pb2 import Payload, Payloads

    from bench.proto_census import census

    holders = [_KeepsAMessage(Payloads(payloads=[Payload(data=b"x")])) for _ in range(3)]
    found = census()
    assert found["held_by"].get("_KeepsAMessage.kept -> Payloads", 0) >= len(holders)
    assert found["by_type"]["Payloads"] >= len(holders) and found["encoded_bytes"]["Payloads"] > 0
