"""Shared scenario of the daily-flow benchmarks (not a test): a population of open pathways, then daily update
files of known households, imported by the real ``FluxImport`` workflow and applied by worker *processes*.

* the stack (PostgreSQL, dev server, baseline, worker processes) is ``bench.stack.Stack``;
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
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from activities.cnaf_parser import CnafFluxReader, file_digest
from activities.flux_generator import generate_daily_update, generate_flux
from bench.common import machine
from bench.onboarding_bench import file_observations, subject_persons
from bench.stack import Stack, StackCpu, load
from domain.flux_import import FluxImportInput
from domain.pathway_constants import pathway_workflow_id
from workers.runtime.config import Settings
from workflows.flux_import import start_flux_import

TERRITORY = "BENCH"
SEED = 2026


def header(title: str) -> None:
    print(f"{title}\nmachine: {machine()}; at start: {load()}", flush=True)


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


async def populate(stack: Stack, path: Path, households: int) -> None:
    """Import the day-1 file and wait until every subject person's pathway has its row."""
    expected = len(subject_persons(path, secret()))
    started = time.perf_counter()
    handle = await start_flux_import(stack.client, import_input(stack, path), task_queue=stack.task_queue)
    await handle.result()
    await stack.wait_pathways(expected)
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
    observations = list(file_observations(path, person_secret))
    return {obs.observation_id for obs in observations}, {obs.person_id for obs in observations}


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

