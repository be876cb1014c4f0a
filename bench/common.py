"""Shared pieces of the benchmarks: an embedded dev server (SQLite WAL, as `parcours dev` runs it) and
the no-op baseline that every figure is reported against.

Benchmarks are scripts, not tests: they print figures and ratios measured in the same run.
"""

from __future__ import annotations

import asyncio
import platform
import subprocess
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import psutil
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from workers.runtime.converter import data_converter
from workers.dev.embedded import free_port, stop_process, temporal_dev_server_command, wait_for_port
from workers.runtime.keys import Keyring
from workers.runtime.sandbox import workflow_runner
from workflows.search_attributes import cli_search_attribute_types

with workflow.unsafe.imports_passed_through():  # NoopWorkflow's sandbox re-imports this module
    from workers.runtime.worker import WORKFLOW_TASK_SLOTS

NAMESPACE = "parcours-rsa"


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


@asynccontextmanager
async def dev_server(encrypted: bool = True):
    """A persistent (SQLite WAL) dev server in a temp dir; yields a client using the project's converter."""
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        cmd = temporal_dev_server_command(
            db_file=Path(home) / "temporal.db", port=port, ui_port=0, namespace=NAMESPACE,
            search_attributes=cli_search_attribute_types(),
        )
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(port, process, timeout=60)
            keyring = Keyring.generate("bench") if encrypted else None
            for _ in range(100):
                try:
                    client = await Client.connect(f"127.0.0.1:{port}", namespace=NAMESPACE,
                                                  data_converter=data_converter(keyring))
                    await client.count_workflows()
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            yield client
        finally:
            stop_process(process)


@activity.defn(name="bench_noop")
async def noop_activity(value: str) -> str:
    return value


@workflow.defn(name="BenchNoop")
class NoopWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(noop_activity, value, start_to_close_timeout=timedelta(seconds=30))


async def run_many(client: Client, task_queue: str, workflow_run, arg_for, count: int, concurrency: int = 200) -> float:
    """Start ``count`` workflows (bounded concurrency) and wait for all results; returns completions/s."""
    semaphore = asyncio.Semaphore(concurrency)
    prefix = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        async with semaphore:
            await client.execute_workflow(workflow_run, arg_for(i), id=f"bench-{prefix}-{i}", task_queue=task_queue)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def baseline(client: Client, count: int) -> float:
    """Completions per second of a no-op workflow with one no-op activity: the engine's limit here. The worker has
    the production worker's workflow-task slots (200 melted down on a saturated machine: activations timed out)."""
    task_queue = f"bench-noop-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=task_queue, workflows=[NoopWorkflow], activities=[noop_activity],
                      workflow_runner=workflow_runner(), max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
                      max_concurrent_activities=200):
        return await run_many(client, task_queue, NoopWorkflow.run, str, count)
