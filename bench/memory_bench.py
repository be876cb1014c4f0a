"""Worker memory with many open pathways on the dev server (not a test).

    .venv/bin/python -m bench.memory_bench [--pathways 10000] [--caches 10000] [--window 300]
        [--worker-env MALLOC_ARENA_MAX=2 ...]

For each workflow-cache size in ``--caches``: a fresh worker process (every workflow and activity of the
production worker, PostgreSQL read model) on a fresh dev server; ``--pathways`` pathways are started by
signal-with-start (subject to duties: each waits for its 1-month orientation deadline, the commonest open
state) and counted once their first activity has written their row. The worker's RSS is sampled as they
come in and after they have all settled. Open pathways beyond the cache cost the worker nothing (they live
in the server's database and are replayed on their next task), so RSS grows with min(pathways, cache): the
figure to size ``max_cached_workflows`` and the worker's memory with (the SDK default cache is 1 000).

Starts are bounded twice: at most ``--concurrency`` requests in flight, and at most ``--window`` pathways
started but not yet onboarded (so a loaded machine slows the bench down instead of piling up a backlog of
first workflow tasks, which stalled the worker's polling at 10 000). Progress is printed as pathways come in.
Once settled, the worker reports glibc's ``malloc`` figures (in use, free but held) and its RSS after a
``malloc_trim`` (``workers.runtime.malloc``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
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
#: Prefix of the worker's answers on its stdout.
STATS = "memory-stats:"


#: ``--runner``: the production sandbox, or a variant measured for its cost (never in production).
RUNNERS = ("sandbox", "passthrough-pathway", "unsandboxed")


def _runner(name: str):
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from workers.runtime import sandbox

    if name == "unsandboxed" or os.environ.get("BENCH_UNSANDBOXED"):
        return UnsandboxedWorkflowRunner()
    runner = sandbox.workflow_runner()
    if name == "passthrough-pathway":  # the pathway's own module shared by every run: its checks are lost
        return SandboxedWorkflowRunner(restrictions=runner.restrictions.with_passthrough_modules("workflows.pathway"))
    return runner


async def _worker(address: str, task_queue: str, database_url: str, keys: str, cache: int, runner: str,
                  options: dict) -> None:
    """The worker process: production workflows and activities, a given cache size, runner and worker options."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from workers.runtime.converter import data_converter
    from workers.runtime.keys import Keyring
    from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities

    client = await Client.connect(address, namespace=NAMESPACE, data_converter=data_converter(Keyring.parse(keys)))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=build_activities(Dependencies(pool=pool)), workflow_runner=_runner(runner),
                      max_cached_workflows=cache, **options):
        print("ready", flush=True)
        while command := (await asyncio.to_thread(sys.stdin.readline)).strip():
            if command == "census":
                from bench.proto_census import census

                print(STATS, json.dumps(census()), flush=True)
            else:
                print(STATS, json.dumps(_worker_stats(trim=command == "trim")), flush=True)


def _worker_stats(trim: bool) -> dict:
    """The worker's answer to ``stats`` or ``trim``: RSS and glibc malloc figures, in MiB."""
    from workers.runtime import malloc

    gc.collect()
    if trim:
        malloc.trim()
    heap = malloc.stats()
    figures = {"rss": rss_mib(psutil.Process())}
    if heap is not None:
        figures |= {"malloc_in_use": heap.in_use / 2**20, "malloc_free": heap.free / 2**20,
                    "malloc_arenas": heap.arenas / 2**20}
    return figures


def rss_mib(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


class WorkerChannel:
    """The worker's stdout read continuously (a full pipe would block the worker's logging, hence the worker):
    its answers to ``stats``/``trim`` are queued, everything else goes to a log file."""

    def __init__(self, child: subprocess.Popen, log: Path) -> None:
        self.child, self.answers = child, queue.Queue()
        threading.Thread(target=self._read, args=(log,), daemon=True).start()

    def _read(self, log: Path) -> None:
        with open(log, "w") as out:
            for line in self.child.stdout:
                if line.startswith(STATS) or line.strip() == "ready":
                    self.answers.put(line.removeprefix(STATS).strip())
                else:
                    out.write(line)
        self.answers.put("")

    def expect_ready(self) -> None:
        assert self.answers.get(timeout=300) == "ready", "worker did not start"

    def ask(self, command: str) -> dict:
        self.child.stdin.write(command + "\n")
        self.child.stdin.flush()
        answer = self.answers.get(timeout=300)
        if not answer:
            raise RuntimeError("the worker exited")
        return json.loads(answer)


async def measure(pathways: int, cache: int, pg_url: str, log_dir: Path, concurrency: int = 50, window: int = 300,
                  stall_seconds: float = 180, worker_env: dict[str, str] | None = None, runner: str = "sandbox",
                  options: dict | None = None, census: bool = False) -> dict:
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
             task_queue, pg_url, str(cache), runner, json.dumps(options or {})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(worker_log, "w"), text=True,
            start_new_session=True, env={**os.environ, **(worker_env or {})},
        )
        try:
            child.stdin.write(keys + "\n")
            child.stdin.flush()
            channel = WorkerChannel(child, log_dir / f"worker-cache-{cache}.stdout.log")
            await asyncio.to_thread(channel.expect_ready)
            worker = psutil.Process(child.pid)
            await asyncio.sleep(1)
            idle_stats = await asyncio.to_thread(channel.ask, "stats")
            idle = idle_stats["rss"]
            server_idle = rss_mib(server)
            samples: list[tuple[int, float]] = []
            limit = asyncio.Semaphore(concurrency)
            today = date.today()
            onboarded = 0

            async def one(n: int) -> None:
                while n - onboarded > window:  # bounded backlog of first workflow tasks
                    await asyncio.sleep(0.2)
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
                done = onboarded = await pool.fetchval("SELECT count(*) FROM pathways")
                rss = rss_mib(worker)
                peak = max(peak, rss)
                if not samples or done >= samples[-1][0] + step:
                    samples.append((done, rss))
                    print(f"  {done} onboarded, worker RSS {rss:.0f} MiB, {time.perf_counter() - started:.0f} s, "
                          f"load avg {os.getloadavg()[0]:.2f}", flush=True)
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
            settled = await asyncio.to_thread(channel.ask, "stats")
            trimmed = await asyncio.to_thread(channel.ask, "trim")
            protos = await asyncio.to_thread(channel.ask, "census") if census else None
            return {"pathways": stalled if stalled is not None else pathways, "asked": pathways, "cache": cache,
                    "idle": idle, "idle_stats": idle_stats, "settled": settled["rss"], "settled_stats": settled,
                    "trimmed": trimmed, "peak": peak, "samples": samples, "seconds": elapsed,
                    "server_idle": server_idle, "server_settled": rss_mib(server), "load": os.getloadavg()[0],
                    "worker_env": worker_env or {}, "runner": runner, "options": options or {}, "census": protos}
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
    before, after, trimmed = r["idle_stats"], r["settled_stats"], r["trimmed"]
    if "malloc_in_use" in after:
        def per_run(key: str, end: dict) -> float:
            return (end[key] - before[key]) * 1024 / max(resident, 1)

        print(f"  of which glibc malloc, per cached pathway: {per_run('malloc_in_use', after):.0f} KiB in use, "
              f"{per_run('malloc_free', after):.0f} KiB free but held; after malloc_trim(0): RSS "
              f"{trimmed['rss']:.0f} MiB, {per_run('rss', trimmed):.0f} KiB per cached pathway")
    if r["runner"] != "sandbox" or r["options"]:
        print(f"  runner {r['runner']}, worker options {r['options']}")
    if r["census"]:
        c = r["census"]
        print(f"  protobuf (upb) objects alive: {c['objects']} ({c['objects'] / max(resident, 1):.1f} per cached "
              f"pathway), {c['roots']} roots; by type {c['by_type']}")
        print("  serialised bytes per cached pathway, by type: " + ", ".join(
            f"{name} {size / max(resident, 1):.0f}" for name, size in c["encoded_bytes"].items() if size))
        for held, count in c["held_by"].items():
            print(f"    {count:7d} ({count / max(resident, 1):.2f}/pathway)  {held}")
    if r["worker_env"]:
        print(f"  worker environment: {' '.join(f'{k}={v}' for k, v in r['worker_env'].items())}")
    print(f"  dev server (SQLite) RSS {r['server_idle']:.0f} → {r['server_settled']:.0f} MiB; load avg {r['load']:.2f}")


async def main(pathways: int, caches: list[int], log_dir: Path, concurrency: int = 50, window: int = 300,
               worker_env: dict[str, str] | None = None, runner: str = "sandbox", options: dict | None = None,
               census: bool = False) -> list[dict]:
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pg = start_postgres(Path(tmp) / "pg", free_port())
        try:
            await migrate(pg.url)
            for cache in caches:
                result = await measure(pathways, cache, pg.url, log_dir, concurrency, window,
                                       worker_env=worker_env, runner=runner, options=options, census=census)
                report(result)
                results.append(result)
        finally:
            pg.stop()
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        address, task_queue, database_url, cache, runner, options = sys.argv[2:8]
        asyncio.run(_worker(address, task_queue, database_url, sys.stdin.readline().strip(), int(cache), runner,
                            json.loads(options)))
    else:
        parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--pathways", type=int, default=10_000)
        parser.add_argument("--caches", type=int, nargs="+", default=[10_000],
                            help="max_cached_workflows of the worker, one measurement each")
        parser.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()),
                            help="where the worker's stderr is written (worker-cache-N.log)")
        parser.add_argument("--concurrency", type=int, default=50, help="start requests in flight at most")
        parser.add_argument("--window", type=int, default=300,
                            help="pathways started but not yet onboarded at most")
        parser.add_argument("--worker-env", nargs="*", default=[], metavar="NAME=VALUE",
                            help="environment of the worker process (e.g. MALLOC_ARENA_MAX=2)")
        parser.add_argument("--runner", choices=RUNNERS, default="sandbox",
                            help="workflow runner (variants measure the sandbox's cost; production: sandbox)")
        parser.add_argument("--worker-option", nargs="*", default=[], metavar="NAME=VALUE",
                            help="a Worker(...) option with a number, e.g. max_concurrent_workflow_tasks=5")
        parser.add_argument("--census", action="store_true",
                            help="once settled, count the protobuf objects alive and who refers to them")
        args = parser.parse_args()
        env = dict(item.split("=", 1) for item in args.worker_env)
        options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.worker_option)}
        asyncio.run(main(args.pathways, args.caches, args.log_dir, args.concurrency, args.window, env, args.runner,
                         options, args.census))
