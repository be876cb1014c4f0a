"""Shared scenario of the daily-flow benchmarks (not a test): a population of open pathways, then daily update
files of known households, imported by the real ``FluxImport`` workflow and applied by worker *processes*.

* :class:`Stack`: embedded PostgreSQL (migrated) + a dev server (SQLite WAL, encrypted payloads) + the no-op
  baseline measured on that server;
* :func:`start_worker`: the production worker (every workflow and activity) in a child process, with a given
  workflow cache: its RSS can be read and it can be killed (SIGKILL);
* :func:`populate`: the day-1 file (``activities.flux_generator.generate_flux``) through ``FluxImport``, the
  fastest way the engine allows while keeping ``flux_observations`` (what a daily update is diffed against);
* :func:`apply_update`: a ``generate_daily_update`` file through ``FluxImport``; a household counts as applied
  when its pathways' rows have been rewritten (``pathways.updated_at``, PostgreSQL's clock);
* :func:`check_exactly_once`: every signal of a file is in its pathway's history exactly once, as many as the
  import's ledger counts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from activities.cnaf_parser import CnafFluxReader, file_digest
from activities.flux_generator import generate_daily_update, generate_flux
from bench.common import NAMESPACE, baseline, dev_server, machine
from bench.onboarding_bench import subject_persons
from domain import flux_events as fe
from domain.flux_import import FluxImportInput
from domain.pathway_constants import pathway_workflow_id
from workers.runtime.config import Settings
from workers.dev.embedded import free_port, start_postgres, stop_process
from workers.runtime.migrations import migrate
from workflows.flux_import import start_flux_import

TERRITORY = "BENCH"
SEED = 2026


def load() -> str:
    return "load avg " + "/".join(f"{v:.2f}" for v in os.getloadavg())


def header(title: str) -> None:
    print(f"{title}\nmachine: {machine()}; at start: {load()}", flush=True)


class Stack:
    """PostgreSQL + dev server + pool for one benchmark run; ``baseline`` is measured on entry."""

    def __init__(self, baseline_count: int) -> None:
        self.baseline_count = baseline_count
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> "Stack":
        self.home = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        self.pg = start_postgres(self.home / "pg", free_port())
        self._stack.callback(self.pg.stop)
        await migrate(self.pg.url)
        self.pool = await asyncpg.create_pool(self.pg.url, min_size=2, max_size=10)
        self._stack.push_async_callback(self.pool.close)
        self.client: Client = await self._stack.enter_async_context(dev_server())
        self.keys = self.client.data_converter.payload_codec.keyring.to_spec()
        await baseline(self.client, min(100, self.baseline_count))  # warm-up
        self.baseline = await baseline(self.client, self.baseline_count)
        print(f"baseline: {self.baseline_count} no-op workflows (1 activity each): {self.baseline:.1f} completions/s "
              f"({load()})", flush=True)
        self.task_queue = f"bench-flows-{uuid.uuid4().hex[:6]}"
        return self

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    def worker(self, cache: int | None) -> subprocess.Popen:
        return start_worker(self.client.service_client.config.target_host, self.task_queue, self.pg.url, self.keys,
                            cache, self.home)


def start_worker(address: str, task_queue: str, database_url: str, keys: str, cache: int | None,
                 log_dir: Path) -> subprocess.Popen:
    """The production worker in a child process (``python -m bench.flows --worker ...``), once it polls."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.flows", "--worker", address, task_queue, database_url, str(cache or 0)],
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
    from bench.onboarding_bench import make_worker
    from workers.runtime.converter import data_converter
    from workers.runtime.keys import Keyring

    client = await Client.connect(address, namespace=NAMESPACE, data_converter=data_converter(Keyring.parse(keys)))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    async with make_worker(client, task_queue, pool, cache or None):
        print("ready", flush=True)
        await asyncio.Event().wait()


class StackCpu:
    """CPU seconds used during a measurement by the whole stack (this process and every descendant: dev
    server, PostgreSQL, worker processes), and by the worker processes alone: per-household costs that move
    less with the machine's load than rates do. A process that died meanwhile (a killed worker) is left out."""

    @staticmethod
    def _sample() -> dict[int, tuple[float, bool]]:
        me = psutil.Process()
        found = {me.pid: (sum(me.cpu_times()[:2]), False)}
        for p in me.children(recursive=True):
            try:
                found[p.pid] = (sum(p.cpu_times()[:2]), "--worker" in p.cmdline())
            except psutil.Error:
                pass
        return found

    def __enter__(self) -> "StackCpu":
        self._start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        used = {pid: (cpu - self._start.get(pid, (0.0, False))[0], worker)
                for pid, (cpu, worker) in self._sample().items()}
        self.total = sum(cpu for cpu, _ in used.values())
        self.workers = sum(cpu for cpu, worker in used.values() if worker)


def rss_mib(child: subprocess.Popen) -> float:
    return psutil.Process(child.pid).memory_info().rss / 2**20


def kill(child: subprocess.Popen) -> None:
    """SIGKILL: no graceful shutdown, its running activities and workflow tasks are abandoned."""
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def secret() -> bytes:
    return Settings.from_env().person_id_key  # the worker's FluxImporter derives person ids with it


def day1_file(stack: Stack, households: int, flow_date: date) -> Path:
    path = stack.home / "day1.xml"
    generate_flux(path, households=households, seed=SEED, flow_date=flow_date)
    return path


def update_file(stack: Stack, households: int, flow_date: date, day: int, update_households: int) -> Path:
    path = stack.home / f"day{day + 1}.xml"
    generate_daily_update(path, households=households, seed=SEED, flow_date=flow_date,
                          update_date=flow_date + timedelta(days=day), update_households=update_households,
                          change_seed=day)
    return path


def import_input(stack: Stack, path: Path, **extra) -> FluxImportInput:
    return FluxImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                           territory=TERRITORY, pathway_task_queue=stack.task_queue, **extra)


async def wait_count(pool: asyncpg.Pool, sql: str, target: int, stall: float = 180,
                     client: Client | None = None, task_queue: str | None = None) -> float:
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
        await asyncio.sleep(0.25)


async def workflow_pollers(client: Client, task_queue: str) -> str:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return ", ".join(f"{p.identity} (last poll {p.last_access_time.ToDatetime():%H:%M:%S} UTC)"
                     for p in response.pollers) or "none"


async def populate(stack: Stack, path: Path, households: int) -> None:
    """Import the day-1 file and wait until every subject person's pathway has its row."""
    expected = len(subject_persons(path, secret()))
    started = time.perf_counter()
    handle = await start_flux_import(stack.client, import_input(stack, path), task_queue=stack.task_queue)
    await handle.result()
    await wait_count(stack.pool, "SELECT count(*) FROM pathways", expected, client=stack.client,
                     task_queue=stack.task_queue)
    rows = await stack.pool.fetchval("SELECT count(*) FROM pathways")
    elapsed = time.perf_counter() - started
    print(f"population: {households} households → {rows} open pathways in {elapsed:.0f} s "
          f"({rows / elapsed:.1f} pathways/s, {load()})", flush=True)


async def apply_update(stack: Stack, path: Path, households: int, *, during=None, quiet: float = 5.0,
                       heartbeat: int = 60) -> dict:
    """Import an update file; wait until no pathway row has changed for ``quiet`` seconds after the import's end.
    ``during(stack, digest)`` runs alongside (e.g. kills a worker). Returns the figures."""
    t0 = await stack.pool.fetchval("SELECT clock_timestamp()")
    started = time.perf_counter()
    inp = import_input(stack, path, heartbeat_timeout_seconds=heartbeat)
    with StackCpu() as cpu:
        handle = await start_flux_import(stack.client, inp, task_queue=stack.task_queue)
        side = asyncio.ensure_future(during(stack, inp.file_digest)) if during else None
        result = await handle.result()
        imported = time.perf_counter() - started
        if side is not None:
            await side
        changed, last = -1, time.perf_counter()
        while time.perf_counter() - last < quiet:
            now = await stack.pool.fetchval("SELECT count(*) FROM pathways WHERE updated_at >= $1", t0)
            if now != changed:
                changed, last = now, time.perf_counter()
            await asyncio.sleep(0.25)
    end = await stack.pool.fetchval("SELECT max(updated_at) FROM pathways WHERE updated_at >= $1", t0)
    seconds = max((end - t0).total_seconds(), imported) if end else imported
    return {"quiet": quiet, "households": households, "seconds": seconds, "import_seconds": imported, "rows": changed,
            "signals": result.signals, "new_pathways": result.new_pathways, "digest": inp.file_digest,
            "path": path, "load": load(), "cpu": cpu.total, "worker_cpu": cpu.workers}


def report_update(label: str, r: dict, base: float, target: float = 0.8) -> float:
    rate = r["households"] / r["seconds"]
    ratio = rate / base
    print(f"{label}: {r['households']} households ({r['signals']} signals, {r['new_pathways']} new pathways, "
          f"{r['rows']} pathway rows rewritten) applied in {r['seconds']:.1f} s (import workflow done after "
          f"{r['import_seconds']:.1f} s): {rate:.1f} households/s", flush=True)
    print(f"  ratio to baseline ({base:.1f}/s): {ratio:.2f} (target ≥ {target}: "
          f"{'met' if ratio >= target else 'missed'}); {r['load']}", flush=True)
    print(f"  CPU per household: {r['cpu'] * 1000 / r['households']:.1f} ms for the whole stack (worker processes "
          f"{r['worker_cpu'] * 1000 / r['households']:.1f} ms, dev server + PostgreSQL + client the rest; "
          f"{r['quiet']:.0f} s of quiet wait included)", flush=True)
    return ratio


def observation_ids(path: Path, person_secret: bytes) -> tuple[set[str], set[str]]:
    """(observation ids, person ids) of a flow file: a signal's event id starts with its observation's id."""
    reader = CnafFluxReader(path)
    ids: set[str] = set()
    persons: set[str] = set()
    for record in reader:
        if record.position == 0 or not record.accepted:
            continue
        for obs in fe.observations_for_household(record.household, reader.header, secret=person_secret):
            ids.add(obs.observation_id)
            persons.add(obs.person_id)
    return ids, persons


async def check_exactly_once(client: Client, pool: asyncpg.Pool, path: Path, digest: str, person_secret: bytes,
                             concurrency: int = 16) -> tuple[int, int, list[str]]:
    """Signals of the file found in the pathways' histories, the ledger's count, and the problems found
    (a signal delivered twice, a position without its ledger row). Also used by tests/test_two_workers.py."""
    ids, persons = observation_ids(path, person_secret)
    found: Counter[tuple[str, str]] = Counter()  # (person, event id): a household event reaches each member
    limit = asyncio.Semaphore(concurrency)

    async def one(pid: str) -> None:
        async with limit:
            handle = client.get_workflow_handle(pathway_workflow_id(pid))
            try:
                async for event in handle.fetch_history_events():
                    if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                        continue
                    payloads = list(event.workflow_execution_signaled_event_attributes.input.payloads)
                    value = (await client.data_converter.decode(payloads))[0] if payloads else None
                    event_id = value.get("event_id") if isinstance(value, dict) else None
                    if isinstance(event_id, str) and event_id.split(":", 1)[0] in ids:
                        found[pid, event_id] += 1
            except RPCError:
                pass  # no pathway for this person (not subject, or right closed)

    await asyncio.gather(*(one(pid) for pid in persons))
    ledger = await pool.fetchval(
        "SELECT coalesce(sum(signals), 0) FROM flux_import_ledger WHERE file_digest = $1", digest)
    positions = await pool.fetchval("SELECT count(*) FROM flux_import_ledger WHERE file_digest = $1", digest)
    problems = [f"{event_id} delivered {n} times to one pathway" for (_, event_id), n in found.items() if n > 1]
    households = sum(1 for r in CnafFluxReader(path) if r.position > 0)
    if positions != households:
        problems.append(f"{positions} ledger rows for {households} households")
    return sum(found.values()), ledger, problems


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--worker":
    address, queue, url, cache_size = sys.argv[2:6]
    asyncio.run(_worker_main(address, queue, url, int(cache_size), sys.stdin.readline().strip()))
