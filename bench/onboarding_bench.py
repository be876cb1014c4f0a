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
import time
from datetime import date
from pathlib import Path
from typing import Iterator

from activities.cnaf_parser import CnafFluxReader, file_digest
from activities.flux_generator import generate_flux
from activities.pathway_start import signal_with_start
from bench.common import machine
from bench.stack import Stack, StackCpu, make_worker
from domain import flux_events as fe
from domain.flux_import import FluxImportInput
from domain.pathway import FlowRecord
from workers.runtime.config import Settings
from workflows.flux_import import start_flux_import

TARGET_RATIO = 0.8
TERRITORY = "BENCH"


def file_observations(path: Path, secret: bytes) -> Iterator[fe.FlowObservation]:
    """The observations of a flow file's accepted households, in file order."""
    reader = CnafFluxReader(path)
    for record in reader:
        if record.position > 0 and record.accepted:
            yield from fe.observations_for_household(record.household, reader.header, secret=secret)


def subject_persons(path: Path, secret: bytes) -> list[str]:
    """Person ids whose pathway the file starts (subject to duties, right open), in file order."""
    return list(dict.fromkeys(obs.person_id for obs in file_observations(path, secret) if fe.starts_pathway(obs)))


async def run_flux(stack: Stack, path: Path, expected: int, households: int) -> dict:
    before = await stack.pool.fetchval("SELECT count(*) FROM pathways")
    inp = FluxImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                          territory=TERRITORY, pathway_task_queue=stack.task_queue)
    with StackCpu() as cpu:
        started = time.perf_counter()
        handle = await start_flux_import(stack.client, inp, task_queue=stack.task_queue)
        done = await stack.wait_pathways(before + expected, every=0.1)
        result = await handle.result()
        imported = time.perf_counter()
    elapsed = done - started
    return {"mode": "flux", "households": households, "pathways": result.new_pathways, "signals": result.signals,
            "seconds": elapsed, "import_seconds": imported - started, "cpu": cpu.describe(),
            "cpu_seconds": cpu.total}


async def run_direct(stack: Stack, persons: list[str], households: int, flow_date: date,
                     concurrency: int = 200) -> dict:
    before = await stack.pool.fetchval("SELECT count(*) FROM pathways")
    limit = asyncio.Semaphore(concurrency)

    async def one(person_id: str) -> None:
        async with limit:
            record = FlowRecord(event_id=f"bench-{person_id[:16]}", transmission_date=flow_date,
                                subject_to_duties=True)
            await signal_with_start(stack.client, person_id, TERRITORY, record, task_queue=stack.task_queue)

    with StackCpu() as cpu:
        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in persons))
        signalled = time.perf_counter()
        done = await stack.wait_pathways(before + len(persons), every=0.1)
    return {"mode": "direct", "households": households, "pathways": len(persons), "signals": len(persons),
            "seconds": done - started, "import_seconds": signalled - started, "cpu": cpu.describe(),
            "cpu_seconds": cpu.total}


async def main(households: int, baseline_count: int, modes: list[str], cache: int | None = None) -> list[dict]:
    secret = Settings.from_env().person_id_key  # the worker's FluxImporter derives person ids with it
    flow_date = date.today()
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    results: list[dict] = []
    async with Stack(baseline_count, name="onboarding", warmup=200, report=baseline_report) as stack:
        base_cpu_ms = stack.baseline_cpu.total * 1000 / baseline_count
        print(f"worker: every workflow and activity of the production worker, workflow cache "
              f"{cache if cache is not None else '1000 (SDK default, as in production)'}")
        async with make_worker(stack.client, stack.task_queue, stack.pool, cache):
            for n, mode in enumerate(modes):
                path = stack.home / f"flux_{mode}.xml"
                generate_flux(path, households=households, seed=2024 + n, flow_date=flow_date, invalid_share=0.02)
                persons = subject_persons(path, secret)
                if mode == "flux":
                    result = await run_flux(stack, path, len(persons), households)
                else:
                    result = await run_direct(stack, persons, households, flow_date)
                result["baseline"] = stack.baseline
                result["baseline_cpu_ms"] = base_cpu_ms
                results.append(result)
                report(result)
    return results


def baseline_report(stack: Stack) -> str:
    cpu = stack.baseline_cpu
    return f"{stack.baseline_line()}, {cpu.total * 1000 / stack.baseline_count:.1f} CPU ms each ({cpu.describe()})"


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
