"""Daily update: a flow file of households the département already follows, applied to open pathways (not a test).

    .venv/bin/python -m bench.daily_update_bench [--pathways 20000] [--update 2000] [--baseline-count 1000]
        [--cache N] [--workers 1]

A population of ``--pathways`` households (about 0.9 open pathway each) is imported from a generated day-1 file
through the real ``FluxImport``; then the next day's file (``generate_daily_update``): ``--update`` households,
95 % of them known and in a new state (payment suspended or resumed, right closed or reopened, no longer subject)
and 5 % new, imported the same way. A household counts as applied when its pathways' read-model rows are
rewritten: households/s from the import's start to the last row written, against the no-op baseline measured
on the same server in the same run (target ≥ 0.8). The workers are production workers in child processes
(``bench.stack.start_worker``), SDK default workflow cache unless ``--cache``.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, timedelta

from bench.flows import apply_update, day1_file, header, populate, report_update, rss_mib, update_file
from bench.stack import Stack, load
from workers.dev.embedded import stop_process


async def main(pathways: int, update: int, baseline_count: int, cache: int | None, workers: int) -> None:
    header(f"daily update: {pathways} households followed, update file of {update} (95 % known, 5 % new), "
           f"{workers} worker process(es), workflow cache {cache or '1000 (SDK default)'}")
    flow_date = date.today() - timedelta(days=3)
    async with Stack(baseline_count) as stack:
        children = [stack.worker(cache) for _ in range(workers)]
        try:
            await populate(stack, day1_file(stack, pathways, flow_date), pathways)
            result = await apply_update(stack, update_file(stack, pathways, flow_date, 1, update), update)
            report_update("daily update", result, stack.baseline)
            print(f"  worker RSS: {', '.join(f'{rss_mib(c):.0f} MiB' for c in children)}; at end: {load()}")
        finally:
            for child in children:
                stop_process(child)


def arguments(description: str, pathways: int = 20_000) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pathways", type=int, default=pathways, help="households of the day-1 population")
    parser.add_argument("--update", type=int, default=2000, help="households of the daily update file")
    parser.add_argument("--baseline-count", type=int, default=1000)
    return parser


if __name__ == "__main__":
    cli = arguments(__doc__)
    cli.add_argument("--cache", type=int, help="max_cached_workflows of the workers (default: the SDK's 1000)")
    cli.add_argument("--workers", type=int, default=1)
    args = cli.parse_args()
    asyncio.run(main(args.pathways, args.update, args.baseline_count, args.cache, args.workers))
