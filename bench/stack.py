"""The embedded stack every engine benchmark runs on (not a test), set up in one place:

* :class:`Stack`: embedded PostgreSQL (migrated) and a pool, a Temporal server (the dev server on SQLite WAL, or
  the time-skipping test server) with a client using the encrypting converter, and the no-op baseline measured on
  that server after a warm-up: the figure every rate of the run is divided by;
* :class:`StackCpu`: CPU seconds of the whole stack during a measurement, split by role;
* :func:`make_worker` (the production worker, in this process) and :func:`start_worker` (the same in a child
  process, ``python -m bench.stack --worker ...``: its RSS can be read and it can be killed).

Kept apart from ``bench.common``: the sandbox re-imports that module for every no-op workflow run of the
baseline, whose figure its imports would change.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Callable

import asyncpg
import psutil
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.common import NAMESPACE, baseline, dev_server
from workers.dev.embedded import binary, free_port, register_search_attributes, start_postgres, stop_process
from workers.runtime.converter import data_converter
from workers.runtime.keys import Keyring
from workers.runtime.migrations import migrate
from workers.runtime.registry import Dependencies
from workers.runtime.worker import WORKFLOW_TASK_SLOTS, build_worker


def load() -> str:
    return "load avg " + "/".join(f"{v:.2f}" for v in os.getloadavg())


@asynccontextmanager
async def time_skipping_server(keyring: Keyring):
    """The time-skipping test server with the project's search attributes and encrypting converter."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=data_converter(keyring))
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


class StackCpu:
    """CPU seconds used during a measurement by this process (client, and the worker when it runs here) and every
    descendant: dev server, PostgreSQL (server and backends), worker processes. Per-item costs move less with the
    machine's load than rates do. A process that died meanwhile (a killed worker) is left out."""

    @staticmethod
    def _role(process: psutil.Process) -> str:
        if "--worker" in process.cmdline():
            return "workers"
        return "server" if process.name().startswith("temporal") else "postgres"

    @classmethod
    def _sample(cls) -> dict[int, tuple[float, str]]:
        me = psutil.Process()
        found = {me.pid: (sum(me.cpu_times()[:2]), "here")}
        for p in me.children(recursive=True):
            try:
                found[p.pid] = (sum(p.cpu_times()[:2]), cls._role(p))
            except psutil.Error:
                pass
        return found

    def __enter__(self) -> "StackCpu":
        self._start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        used = {"here": 0.0, "server": 0.0, "postgres": 0.0, "workers": 0.0}
        for pid, (cpu, role) in self._sample().items():
            used[role] += cpu - self._start.get(pid, (0.0, role))[0]
        self.here, self.server, self.postgres, self.workers = (used[k] for k in ("here", "server", "postgres", "workers"))
        self.total = sum(used.values())
        self.load = os.getloadavg()[0]

    def describe(self) -> str:
        """The split when the worker runs in this process."""
        return (f"CPU s: worker+client {self.here:.1f}, dev server {self.server:.1f}, "
                f"PostgreSQL {self.postgres:.1f}; load avg {self.load:.2f}")


async def measured_baseline(client: Client, count: int, warmup: int) -> tuple[float, StackCpu]:
    """The no-op baseline (completions/s) after a warm-up of ``min(warmup, count)`` workflows, and its CPU."""
    await baseline(client, min(warmup, count))
    with StackCpu() as cpu:
        rate = await baseline(client, count)
    return rate, cpu


def baseline_line(count: int, rate: float, time_skipping: bool = False) -> str:
    if time_skipping:
        return f"baseline (time-skipping server): {count} no-op workflows: {rate:.1f} completions/s"
    return f"baseline: {count} no-op workflows (1 activity each): {rate:.1f} completions/s"


class Stack:
    """PostgreSQL + Temporal server + pool for one benchmark run; ``baseline`` (completions/s) and ``baseline_cpu``
    are measured on entry, then ``report(stack)`` is printed (by default the baseline line and the load)."""

    def __init__(self, baseline_count: int, *, name: str = "flows", warmup: int = 100, time_skipping: bool = False,
                 report: Callable[["Stack"], str] | None = None) -> None:
        self.baseline_count = baseline_count
        self.warmup = warmup
        self.time_skipping = time_skipping
        self.report = report or (lambda s: f"{s.baseline_line()} ({load()})")
        self.task_queue = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        self.env: WorkflowEnvironment | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> "Stack":
        self.home = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        self.pg = start_postgres(self.home / "pg", free_port())
        self._stack.callback(self.pg.stop)
        if self.time_skipping:
            keyring = Keyring.generate("bench")
            self.env = await self._stack.enter_async_context(time_skipping_server(keyring))
            self.client: Client = self.env.client
        else:
            self.client = await self._stack.enter_async_context(dev_server())
        self.keys = self.client.data_converter.payload_codec.keyring.to_spec()
        await migrate(self.pg.url)
        self.pool = await asyncpg.create_pool(self.pg.url, min_size=2, max_size=10)
        self._stack.push_async_callback(self.pool.close)
        # On the time-skipping server, concurrent result waits would unlock the clock for good.
        with self.env.auto_time_skipping_disabled() if self.env else nullcontext():
            self.baseline, self.baseline_cpu = await measured_baseline(self.client, self.baseline_count, self.warmup)
        print(self.report(self), flush=True)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    def baseline_line(self) -> str:
        return baseline_line(self.baseline_count, self.baseline, self.time_skipping)

    async def wait_pathways(self, target: int, every: float = 0.25) -> float:
        """When (``time.perf_counter``) ``target`` pathways have their read-model row."""
        return await wait_count(self.pool, "SELECT count(*) FROM pathways", target, client=self.client,
                                task_queue=self.task_queue, every=every)

    def worker(self, cache: int | None) -> subprocess.Popen:
        return start_worker(self.client.service_client.config.target_host, self.task_queue, self.pg.url, self.keys,
                            cache, self.home)


async def wait_count(pool: asyncpg.Pool, sql: str, target: int, stall: float = 180,
                     client: Client | None = None, task_queue: str | None = None, every: float = 0.25) -> float:
    """Poll until ``sql`` counts ``target``; returns when (``time.perf_counter``). After ``stall`` s without
    progress, raises with the task queue's workflow pollers (a worker that stopped polling shows none)."""
    last, since = -1, time.perf_counter()
    while True:
        n = await pool.fetchval(sql)
        if n >= target:
            return time.perf_counter()
        if n != last:
            last, since = n, time.perf_counter()
        elif time.perf_counter() - since > stall:
            pollers = await workflow_pollers(client, task_queue) if client and task_queue else "not asked"
            raise TimeoutError(f"STALLED: {n} of {target} after {stall:.0f} s without progress ({sql}); "
                               f"workflow pollers of {task_queue}: {pollers}")
        await asyncio.sleep(every)


async def workflow_pollers(client: Client, task_queue: str) -> str:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return ", ".join(f"{p.identity} (last poll {p.last_access_time.ToDatetime():%H:%M:%S} UTC)"
                     for p in response.pollers) or "none"


def make_worker(client: Client, task_queue: str, pool: asyncpg.Pool, cache: int | None = None):
    """The production worker (``workers.runtime.worker.build_worker``), or the same one with another workflow cache."""
    if cache is None:
        return build_worker(client, task_queue, Dependencies(pool=pool))
    from temporalio.worker import Worker

    from workers.runtime.registry import WORKFLOWS, build_activities
    from workers.runtime.sandbox import workflow_runner

    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=build_activities(Dependencies(pool=pool)),
                  workflow_runner=workflow_runner(), max_cached_workflows=cache,
                  max_concurrent_workflow_tasks=min(WORKFLOW_TASK_SLOTS, cache or WORKFLOW_TASK_SLOTS))


def start_worker(address: str, task_queue: str, database_url: str, keys: str, cache: int | None,
                 log_dir: Path) -> subprocess.Popen:
    """The production worker in a child process (``python -m bench.stack --worker ...``), once it polls."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.stack", "--worker", address, task_queue, database_url, str(cache or 0)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_dir / f"worker-{uuid.uuid4().hex[:6]}.log", "w"),
        text=True, start_new_session=True, cwd=Path(__file__).resolve().parent.parent,
    )
    child.stdin.write(keys + "\n")
    child.stdin.close()
    if child.stdout.readline().strip() != "ready":
        stop_process(child)
        raise RuntimeError("the worker did not start")
    return child


async def _worker_main(address: str, task_queue: str, database_url: str, cache: int, keys: str) -> None:
    client = await Client.connect(address, namespace=NAMESPACE, data_converter=data_converter(Keyring.parse(keys)))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    async with make_worker(client, task_queue, pool, cache or None):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--worker":
    address, queue, url, cache_size = sys.argv[2:6]
    asyncio.run(_worker_main(address, queue, url, int(cache_size), sys.stdin.readline().strip()))
