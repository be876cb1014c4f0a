"""Worker memory with many open pathways on the dev server (not a test).

    .venv/bin/python -m bench.memory_bench [--pathways 10000] [--caches 10000]

For each workflow-cache size in ``--caches``: a fresh worker process (every workflow and activity of the
production worker, PostgreSQL read model) on a fresh dev server; ``--pathways`` pathways are started by
signal-with-start (subject to duties: each waits for its 1-month orientation deadline, the commonest open
state) and counted once their first activity has written their row. The worker's RSS is sampled as they
come in and after they have all settled. Open pathways beyond the cache cost the worker nothing (they live
in the server's database and are replayed on their next task), so RSS grows with min(pathways, cache): the
figure to size ``max_cached_workflows`` and the worker's memory with (the SDK default cache is 1 000).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import psutil

from bench.common import NAMESPACE, dev_server, machine
from workers.dev.embedded import free_port, start_postgres, stop_process
from workers.runtime.migrations import migrate

TERRITORY = "BENCH"
#: Issue 20's target for the worker memory of one cached pathway.
TARGET_KIB = 50


async def _worker(address: str, task_queue: str, database_url: str, keys: str, cache: int) -> None:
    """The worker process: production workflows and activities, a given cache size."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from workers.runtime.converter import data_converter
    from workers.runtime.keys import Keyring
    from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
    from workers.runtime.sandbox import workflow_runner

    client = await Client.connect(address, namespace=NAMESPACE, data_converter=data_converter(Keyring.parse(keys)))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=build_activities(Dependencies(pool=pool)), workflow_runner=workflow_runner(),
                      max_cached_workflows=cache):
        print("ready", flush=True)
        await asyncio.Event().wait()


def rss_mib(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


async def measure(pathways: int, cache: int, pg_url: str, log_dir: Path, concurrency: int = 200,
                  stall_seconds: float = 180) -> dict:
    from domain.pathway import FlowRecord
    from activities.pathway_start import signal_with_start

    pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=4)
    await pool.execute("TRUNCATE pathways CASCADE")
    async with dev_server() as client:
        server = next(p for p in psutil.Process().children(recursive=True) if p.name().startswith("temporal"))
        task_queue = f"bench-memory-{uuid.uuid4().hex[:6]}"
        keys = client.data_converter.payload_codec.keyring.to_spec()
        worker_log = log_dir / f"worker-cache-{cache}.log"
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.memory_bench", "--worker", client.service_client.config.target_host,
             task_queue, pg_url, str(cache)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(worker_log, "w"), text=True,
            start_new_session=True,
        )
        try:
            child.stdin.write(keys + "\n")
            child.stdin.close()
            assert child.stdout.readline().strip() == "ready", "worker did not start"
            worker = psutil.Process(child.pid)
            await asyncio.sleep(1)
            idle = rss_mib(worker)
            server_idle = rss_mib(server)
            samples: list[tuple[int, float]] = []
            limit = asyncio.Semaphore(concurrency)
            today = date.today()

            async def one(n: int) -> None:
                async with limit:
                    record = FlowRecord(event_id=f"bench-{n}", transmission_date=today, subject_to_duties=True)
                    await signal_with_start(client, f"bench-memory-{n:08d}", TERRITORY, record, task_queue=task_queue)

            started = time.perf_counter()
            sender = asyncio.ensure_future(asyncio.gather(*(one(n) for n in range(pathways))))
            peak = idle
            step = max(pathways // 10, 1)
            stalled = None
            last_done, last_progress = -1, time.perf_counter()
            while True:
                done = await pool.fetchval("SELECT count(*) FROM pathways")
                rss = rss_mib(worker)
                peak = max(peak, rss)
                if not samples or done >= samples[-1][0] + step:
                    samples.append((done, rss))
                if done >= pathways:
                    break
                if sender.done() and sender.exception():
                    raise sender.exception()
                if done != last_done:
                    last_done, last_progress = done, time.perf_counter()
                elif time.perf_counter() - last_progress > stall_seconds:
                    stalled = done  # the worker stopped taking workflow tasks: report what was reached
                    print(f"STALLED: no pathway onboarded for {stall_seconds:.0f} s at {done} of {pathways}; "
                          f"worker log: {worker_log}", flush=True)
                    break
                await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - started
            if stalled is None:
                await sender
            else:
                sender.cancel()
            await asyncio.sleep(5)  # let the last workflow tasks finish
            gc.collect()
            settled = rss_mib(worker)
            return {"pathways": stalled if stalled is not None else pathways, "asked": pathways, "cache": cache, "idle": idle, "settled": settled, "peak": peak,
                    "samples": samples, "seconds": elapsed, "server_idle": server_idle,
                    "server_settled": rss_mib(server), "load": os.getloadavg()[0]}
        finally:
            stop_process(child)
            await pool.close()


def report(r: dict) -> None:
    resident = min(r["pathways"], r["cache"])
    per = (r["settled"] - r["idle"]) * 1024 / max(resident, 1)
    if r["pathways"] != r["asked"]:
        print(f"(measured at the {r['pathways']} pathways onboarded of {r['asked']} started)")
    print(f"{r['pathways']} open pathways, workflow cache {r['cache']}: worker RSS {r['idle']:.0f} MiB idle → "
          f"{r['settled']:.0f} MiB settled (peak {r['peak']:.0f}); ≈ {per:.0f} KiB per cached pathway "
          f"({resident} cached); started in {r['seconds']:.0f} s ({r['pathways'] / r['seconds']:.0f}/s)")
    print(f"memory per cached pathway: {per:.0f} KiB (target ≤ {TARGET_KIB} KiB: "
          f"{'met' if per <= TARGET_KIB else 'NOT met'})")
    print("  RSS as pathways came in (pathways: MiB): "
          + ", ".join(f"{n}: {m:.0f}" for n, m in r["samples"]))
    print(f"  dev server (SQLite) RSS {r['server_idle']:.0f} → {r['server_settled']:.0f} MiB; load avg {r['load']:.2f}")


async def main(pathways: int, caches: list[int], log_dir: Path) -> list[dict]:
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pg = start_postgres(Path(tmp) / "pg", free_port())
        try:
            await migrate(pg.url)
            for cache in caches:
                result = await measure(pathways, cache, pg.url, log_dir)
                report(result)
                results.append(result)
        finally:
            pg.stop()
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        address, task_queue, database_url, cache = sys.argv[2:6]
        asyncio.run(_worker(address, task_queue, database_url, sys.stdin.readline().strip(), int(cache)))
    else:
        parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--pathways", type=int, default=10_000)
        parser.add_argument("--caches", type=int, nargs="+", default=[10_000],
                            help="max_cached_workflows of the worker, one measurement each")
        parser.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()),
                            help="where the worker's stderr is written (worker-cache-N.log)")
        args = parser.parse_args()
        asyncio.run(main(args.pathways, args.caches, args.log_dir))
