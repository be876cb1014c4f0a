"""Many open cases: far more open pathways than one worker's workflow cache (not a test).

    .venv/bin/python -m bench.many_open_bench [--pathways 50000] [--cache 1000] [--update 2000] [--probes 20]
        [--baseline-count 1000]

One production worker in a child process with ``--cache`` cached workflows (the SDK default, 1 000) and a
population of ``--pathways`` households (about 0.9 open pathway each, ``bench.flows.populate``). Measured:

* the worker's RSS once they are all open (it follows the cache, not the number of open pathways);
* the cost of one event (a payment suspension signal) on a pathway still in the cache (the most recently
  written ones) against one evicted long ago (the first written, replayed from its history on a normal-queue
  task): wall time from the signal to its read-model row rewritten, median of ``--probes`` each, sent one at a
  time;
* the daily update at that size (``bench.daily_update_bench``'s measure), against the baseline.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import date, timedelta

from bench.daily_update_bench import arguments
from bench.flows import apply_update, day1_file, header, populate, report_update, rss_mib, update_file
from bench.stack import Stack, load
from domain.pathway import PaymentSuspended
from workers.dev.embedded import stop_process


async def event_latency(stack: Stack, pathway_id: str) -> float:
    """Seconds from a payment-suspension signal to the pathway's row rewritten (version grown)."""
    before = await stack.pool.fetchval("SELECT version FROM pathways WHERE pathway_id = $1", pathway_id)
    today = date.today()
    started = time.perf_counter()
    await stack.client.get_workflow_handle(pathway_id).signal("payment_suspended", PaymentSuspended(
        event_id=f"probe-{uuid.uuid4().hex}", flow_date=today, reasons=["06"], since=today))
    while await stack.pool.fetchval("SELECT version FROM pathways WHERE pathway_id = $1", pathway_id) <= before:
        if time.perf_counter() - started > 120:
            raise TimeoutError(f"no write after 120 s for {pathway_id}")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def probe(stack: Stack, order: str, count: int) -> list[float]:
    ids = [r["pathway_id"] for r in await stack.pool.fetch(
        f"SELECT pathway_id FROM pathways WHERE closed_on IS NULL ORDER BY updated_at {order} LIMIT $1", count)]
    return [await event_latency(stack, pid) for pid in ids]


async def main(pathways: int, cache: int, update: int, probes: int, baseline_count: int) -> None:
    header(f"many open cases: {pathways} households followed, one worker with a workflow cache of {cache}")
    flow_date = date.today() - timedelta(days=3)
    async with Stack(baseline_count) as stack:
        child = stack.worker(cache)
        try:
            idle = rss_mib(child)
            await populate(stack, day1_file(stack, pathways, flow_date), pathways)
            await asyncio.sleep(5)
            opened = rss_mib(child)
            open_count = await stack.pool.fetchval("SELECT count(*) FROM pathways WHERE closed_on IS NULL")
            print(f"worker RSS: {idle:.0f} MiB idle → {opened:.0f} MiB with {open_count} open pathways "
                  f"(cache {cache}) ({load()})", flush=True)
            cached = await probe(stack, "DESC", probes)
            evicted = await probe(stack, "ASC", probes)
            c, e = statistics.median(cached), statistics.median(evicted)
            print(f"one event, signal → row written (median of {probes}): cached pathway {c * 1000:.0f} ms, evicted "
                  f"pathway (replayed) {e * 1000:.0f} ms: ×{e / c:.1f}, +{(e - c) * 1000:.0f} ms "
                  f"(max {max(cached) * 1000:.0f} / {max(evicted) * 1000:.0f} ms) ({load()})", flush=True)
            result = await apply_update(stack, update_file(stack, pathways, flow_date, 1, update), update)
            report_update(f"daily update with {open_count} open pathways, cache {cache}", result, stack.baseline)
            print(f"  worker RSS after the update: {rss_mib(child):.0f} MiB; at end: {load()}", flush=True)
        finally:
            stop_process(child)


if __name__ == "__main__":
    cli = arguments(__doc__, pathways=50_000)
    cli.add_argument("--cache", type=int, default=1000, help="max_cached_workflows of the worker")
    cli.add_argument("--probes", type=int, default=20, help="events timed on cached and on evicted pathways")
    args = cli.parse_args()
    asyncio.run(main(args.pathways, args.cache, args.update, args.probes, args.baseline_count))
