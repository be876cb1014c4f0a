"""Caseload adoption: rows of a generated caseload → pathways at their stage with their first row written (not a test).

    .venv/bin/python -m bench.caseload_bench [--cases 2000] [--baseline-count 1000]

On the embedded stack (dev server on SQLite WAL, encrypted payloads; embedded PostgreSQL with the migrations),
one production worker (``workers.runtime.worker.build_worker``) runs the real ``CaseloadImport`` workflow as
``parcours caseload import`` starts it: survey, slices of rows each validated and replayed against the rules
(``domain.caseload_adoption``), the person ledger, and one ``BeneficiaryPathway`` start per adopted row.
A case counts as adopted when its pathway's first activity has written its row in ``pathways``. Reported against
the no-op baseline (one workflow + one activity) measured in the same run: ratio = cases/s ÷ baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from activities.caseload_file import load_caseload_mapping
from activities.caseload_generator import caseload_rows, write_caseload_csv
from activities.cnaf_parser import file_digest
from bench.common import machine
from bench.stack import Stack, StackCpu, make_worker
from domain.caseload_import import CaseloadImportInput
from domain.deadlines import paris_date
from workflows.caseload_import import start_caseload_import

MAPPING = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "caseload" / "mapping.toml"


async def main(cases: int, baseline_count: int) -> dict:
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    async with Stack(baseline_count, name="caseload", warmup=200, report=Stack.baseline_line) as stack:
        rows = caseload_rows(cases, paris_date(datetime.now(timezone.utc)), seed=19)  # every adoptable stage in turn
        path = write_caseload_csv(stack.home / "caseload.csv", rows)
        inp = CaseloadImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                                  mapping=load_caseload_mapping(MAPPING).model_dump(),
                                  pathway_task_queue=stack.task_queue)
        async with make_worker(stack.client, stack.task_queue, stack.pool):
            with StackCpu() as cpu:
                started = time.perf_counter()
                handle = await start_caseload_import(stack.client, inp, task_queue=stack.task_queue)
                done = await stack.wait_pathways(cases, every=0.1)
                result = await handle.result()
        base = stack.baseline
        rate = result.adopted / (done - started)
        figures = {"cases": cases, "adopted": result.adopted, "rejected": result.rejected,
                   "seconds": round(done - started, 2), "cases_per_s": round(rate, 1),
                   "baseline_per_s": round(base, 1), "ratio": round(rate / base, 2), "cpu": cpu.describe(),
                   "stages": len({r["stage"] for r in rows}),
                   "load_avg_end": round(os.getloadavg()[0], 2)}
        print(figures)
        print(f"caseload: {rate:.1f} cases/s, ratio {rate / base:.2f} to the no-op baseline "
              f"({base:.1f}/s); load avg {os.getloadavg()[0]:.2f}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--baseline-count", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.baseline_count))
