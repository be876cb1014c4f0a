"""Onboarding: households of a generated flow file → pathways started with their first activity done (not a test).

    .venv/bin/python -m bench.onboarding_bench [--households 2000] [--baseline-count 1000] [--modes flux direct]

On the embedded stack (dev server on SQLite WAL, encrypted payloads; embedded PostgreSQL with the migrations),
one production worker (``workers.runtime.worker.build_worker``: every workflow and activity, default slots) and:

* ``flux``: the real ``FluxImport`` workflow (survey, slices of positions, signal-with-start of each subject
  person's ``BeneficiaryPathway``, ledger), as ``parcours flux import`` starts it;
* ``direct``: signal-with-start of ``BeneficiaryPathway`` by the client (``activities.pathway_start.signal_with_start``,
  200 in flight) for the subject persons of another file, parsed beforehand: the engine's part alone.

A pathway counts as onboarded when its first activity (``pathway.record_effects``) has written its row in
``pathways``. Clock: from the start of the import (or of the first signal-with-start) until the last row.
Reported against the no-op baseline (one workflow + one activity) measured in the same run on the same
server: a pathway is one workflow start, two workflow tasks and one activity, so ratio = pathways/s ÷ baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import psutil

from activities.cnaf_parser import CnafFluxReader, file_digest
from activities.flux_generator import generate_flux
from activities.pathway_start import signal_with_start
from bench.common import baseline, dev_server, machine
from domain import flux_events as fe
from domain.flux_import import FluxImportInput
from domain.pathway import FlowRecord
from workers.runtime.config import Settings
from workers.dev.embedded import free_port, start_postgres
from workers.runtime.migrations import migrate
from workers.runtime.registry import Dependencies
from workers.runtime.worker import WORKFLOW_TASK_SLOTS, build_worker
from workflows.flux_import import start_flux_import

TARGET_RATIO = 0.8
TERRITORY = "BENCH"


def subject_persons(path: Path, secret: bytes) -> list[str]:
    """Person ids whose pathway the file starts (subject to duties, right open), in file order."""
    reader = CnafFluxReader(path)
    persons: dict[str, None] = {}
    for record in reader:
        if record.position == 0 or not record.accepted:
            continue
        for obs in fe.observations_for_household(record.household, reader.header, secret=secret):
            if fe.starts_pathway(obs):
                persons[obs.person_id] = None
    return list(persons)


async def wait_rows(pool: asyncpg.Pool, target: int, timeout: float) -> float:
    """Poll the read model until ``target`` pathway rows exist; returns the time it happened."""
    deadline = time.perf_counter() + timeout
    while True:
        if await pool.fetchval("SELECT count(*) FROM pathways") >= target:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {await pool.fetchval('SELECT count(*) FROM pathways')} of {target} pathway rows")
        await asyncio.sleep(0.1)


class CpuMeter:
    """CPU seconds used over a measurement by this process (client + worker), the dev server and
    PostgreSQL (its server process and backends)."""

    def __init__(self, server_pid: int | None, pg_pid: int | None = None) -> None:
        self.me = psutil.Process()
        self.server = psutil.Process(server_pid) if server_pid else None
        self.pg = psutil.Process(pg_pid) if pg_pid else None

    @staticmethod
    def _cpu(process: psutil.Process | None, tree: bool = False) -> float:
        if process is None:
            return 0.0
        total = 0.0
        for p in [process, *(process.children(recursive=True) if tree else [])]:
            try:
                total += sum(p.cpu_times()[:2])
            except psutil.Error:
                pass
        return total

    def _sample(self) -> tuple[float, float, float]:
        return self._cpu(self.me), self._cpu(self.server), self._cpu(self.pg, tree=True)

    def __enter__(self) -> "CpuMeter":
        self.start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        self.worker_cpu, self.server_cpu, self.pg_cpu = (e - s for e, s in zip(self._sample(), self.start))
        self.load = os.getloadavg()[0]

    @property
    def total(self) -> float:
        return self.worker_cpu + self.server_cpu + self.pg_cpu

    def describe(self) -> str:
        return (f"CPU s: worker+client {self.worker_cpu:.1f}, dev server {self.server_cpu:.1f}, "
                f"PostgreSQL {self.pg_cpu:.1f}; load avg {self.load:.2f}")


async def run_flux(client, pool, task_queue: str, path: Path, expected: int, households: int, cpu_pid) -> dict:
    before = await pool.fetchval("SELECT count(*) FROM pathways")
    inp = FluxImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                          territory=TERRITORY, pathway_task_queue=task_queue)
    with CpuMeter(*cpu_pid) as cpu:
        started = time.perf_counter()
        handle = await start_flux_import(client, inp, task_queue=task_queue)
        done = await wait_rows(pool, before + expected, timeout=3600)
        result = await handle.result()
        imported = time.perf_counter()
    elapsed = done - started
    return {"mode": "flux", "households": households, "pathways": result.new_pathways, "signals": result.signals,
            "seconds": elapsed, "import_seconds": imported - started, "cpu": cpu.describe(),
            "cpu_seconds": cpu.total}


async def run_direct(client, pool, task_queue: str, persons: list[str], households: int, flow_date: date,
                     cpu_pid, concurrency: int = 200) -> dict:
    before = await pool.fetchval("SELECT count(*) FROM pathways")
    limit = asyncio.Semaphore(concurrency)

    async def one(person_id: str) -> None:
        async with limit:
            record = FlowRecord(event_id=f"bench-{person_id[:16]}", transmission_date=flow_date,
                                subject_to_duties=True)
            await signal_with_start(client, person_id, TERRITORY, record, task_queue=task_queue)

    with CpuMeter(*cpu_pid) as cpu:
        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in persons))
        signalled = time.perf_counter()
        done = await wait_rows(pool, before + len(persons), timeout=3600)
    return {"mode": "direct", "households": households, "pathways": len(persons), "signals": len(persons),
            "seconds": done - started, "import_seconds": signalled - started, "cpu": cpu.describe(),
            "cpu_seconds": cpu.total}


def server_pid() -> int | None:
    """The dev server this process started (the only ``temporal`` child of ours)."""
    for child in psutil.Process().children(recursive=True):
        if child.name().startswith("temporal"):
            return child.pid
    return None


def make_worker(client, task_queue: str, pool: asyncpg.Pool, cache: int | None):
    """The production worker (``workers.runtime.worker.build_worker``), or the same one with another workflow cache."""
    if cache is None:
        return build_worker(client, task_queue, Dependencies(pool=pool))
    from temporalio.worker import Worker

    from workers.runtime.registry import WORKFLOWS, build_activities
    from workers.runtime.sandbox import workflow_runner

    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=build_activities(Dependencies(pool=pool)),
                  workflow_runner=workflow_runner(), max_cached_workflows=cache,
                  max_concurrent_workflow_tasks=min(WORKFLOW_TASK_SLOTS, cache or WORKFLOW_TASK_SLOTS))


async def main(households: int, baseline_count: int, modes: list[str], cache: int | None = None) -> list[dict]:
    secret = Settings.from_env().person_id_key  # the worker's FluxImporter derives person ids with it
    flow_date = date.today()
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        pg = start_postgres(home / "pg", free_port())
        try:
            await migrate(pg.url)
            pool = await asyncpg.create_pool(pg.url, min_size=2, max_size=10)
            async with dev_server() as client:
                pid = (server_pid(), pg.process.pid)
                await baseline(client, min(200, baseline_count))  # warm-up
                with CpuMeter(*pid) as cpu:
                    base = await baseline(client, baseline_count)
                base_cpu_ms = cpu.total * 1000 / baseline_count
                print(f"baseline: {baseline_count} no-op workflows (1 activity each): {base:.1f} completions/s, "
                      f"{base_cpu_ms:.1f} CPU ms each ({cpu.describe()})")
                task_queue = f"bench-onboarding-{uuid.uuid4().hex[:6]}"
                print(f"worker: every workflow and activity of the production worker, workflow cache "
                      f"{cache if cache is not None else '1000 (SDK default, as in production)'}")
                async with make_worker(client, task_queue, pool, cache):
                    for n, mode in enumerate(modes):
                        path = home / f"flux_{mode}.xml"
                        generate_flux(path, households=households, seed=2024 + n, flow_date=flow_date,
                                      invalid_share=0.02)
                        persons = subject_persons(path, secret)
                        if mode == "flux":
                            result = await run_flux(client, pool, task_queue, path, len(persons), households, pid)
                        else:
                            result = await run_direct(client, pool, task_queue, persons, households, flow_date, pid)
                        result["baseline"] = base
                        result["baseline_cpu_ms"] = base_cpu_ms
                        results.append(result)
                        report(result)
            await pool.close()
        finally:
            pg.stop()
    return results


def report(r: dict) -> None:
    pathways_per_s = r["pathways"] / r["seconds"]
    ratio = pathways_per_s / r["baseline"]
    label = "FluxImport workflow" if r["mode"] == "flux" else "signal-with-start by the client"
    print(f"onboarding ({label}): {r['households']} households → {r['pathways']} pathways in {r['seconds']:.1f} s: "
          f"{r['households'] / r['seconds']:.1f} households/s, {pathways_per_s:.1f} pathways/s "
          f"({'import workflow completed' if r['mode'] == 'flux' else 'all signal-with-starts sent'} after "
          f"{r['import_seconds']:.1f} s)")
    cpu_ms = r["cpu_seconds"] * 1000 / r["pathways"]
    print(f"  ratio to baseline: {ratio:.2f} (target ≥ {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'missed'}); "
          f"{r['cpu']}")
    print(f"  CPU per pathway (worker + client + dev server + PostgreSQL): {cpu_ms:.1f} ms, baseline {r['baseline_cpu_ms']:.1f} ms "
          f"per no-op workflow: CPU ratio {r['baseline_cpu_ms'] / cpu_ms:.2f} (less sensitive to the machine's load)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--baseline-count", type=int, default=1000)
    parser.add_argument("--modes", nargs="+", choices=["flux", "direct"], default=["flux", "direct"])
    parser.add_argument("--cache", type=int, help="max_cached_workflows of the worker (default: the production "
                        "worker's, the SDK default of 1000)")
    args = parser.parse_args()
    asyncio.run(main(args.households, args.baseline_count, args.modes, args.cache))
