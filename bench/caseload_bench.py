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
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg

from activities.caseload_file import load_caseload_mapping
from activities.caseload_generator import caseload_rows, write_caseload_csv
from activities.cnaf_parser import file_digest
from bench.common import baseline, dev_server, machine
from bench.onboarding_bench import CpuMeter, server_pid, wait_rows
from domain.caseload_import import CaseloadImportInput
from domain.deadlines import paris_date
from workers.dev.embedded import free_port, start_postgres
from workers.runtime.migrations import migrate
from workers.runtime.registry import Dependencies
from workers.runtime.worker import build_worker
from workflows.caseload_import import start_caseload_import

MAPPING = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "caseload" / "mapping.toml"


async def main(cases: int, baseline_count: int) -> dict:
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        pg = start_postgres(home / "pg", free_port())
        try:
            await migrate(pg.url)
            pool = await asyncpg.create_pool(pg.url, min_size=2, max_size=10)
            async with dev_server() as client:
                pid = (server_pid(), pg.process.pid)
                await baseline(client, min(200, baseline_count))  # warm-up
                base = await baseline(client, baseline_count)
                print(f"baseline: {baseline_count} no-op workflows (1 activity each): {base:.1f} completions/s")
                task_queue = f"bench-caseload-{uuid.uuid4().hex[:6]}"
                rows = caseload_rows(cases, paris_date(datetime.now(timezone.utc)), seed=19)  # every adoptable stage in turn
                path = write_caseload_csv(home / "caseload.csv", rows)
                inp = CaseloadImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                                          mapping=load_caseload_mapping(MAPPING).model_dump(),
                                          pathway_task_queue=task_queue)
                async with build_worker(client, task_queue, Dependencies(pool=pool)):
                    with CpuMeter(*pid) as cpu:
                        started = time.perf_counter()
                        handle = await start_caseload_import(client, inp, task_queue=task_queue)
                        done = await wait_rows(pool, cases, timeout=3600)
                        result = await handle.result()
                rate = result.adopted / (done - started)
                figures = {"cases": cases, "adopted": result.adopted, "rejected": result.rejected,
                           "seconds": round(done - started, 2), "cases_per_s": round(rate, 1),
                           "baseline_per_s": round(base, 1), "ratio": round(rate / base, 2), "cpu": cpu.describe(),
                           "stages": len({r["stage"] for r in rows}),
                           "load_avg_end": round(os.getloadavg()[0], 2)}
                print(figures)
                print(f"caseload: {rate:.1f} cases/s, ratio {rate / base:.2f} to the no-op baseline "
                      f"({base:.1f}/s); load avg {os.getloadavg()[0]:.2f}")
            await pool.close()
            return figures
        finally:
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--baseline-count", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.baseline_count))
