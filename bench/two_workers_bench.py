"""Two workers: the daily update applied by two worker processes, then one of them killed mid-run (not a test).

    .venv/bin/python -m bench.two_workers_bench [--pathways 20000] [--update 2000] [--baseline-count 1000]
        [--kill-at 0.3]

The population and the first daily update (``bench.daily_update_bench``) run with two production workers in
child processes on one task queue: households/s against the baseline. A second daily update (other households,
other changes) starts with both; once ``--kill-at`` of its positions are in the import's ledger, one worker is
killed with SIGKILL (its slice activity, its cached pathways and their sticky queue are lost; the activity's
heartbeat timeout, 10 s here, hands the slice to the other worker, which resumes it from the ledger and checks
the positions in doubt against the pathways' histories). Then every household must be applied exactly once:
each of the file's signals is in its pathway's history once, as many as the ledger counts, one ledger row per
household.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta

from bench.daily_update_bench import arguments
from bench.flows import (apply_update, check_exactly_once, day1_file, header, kill, populate, report_update, secret,
                         update_file)
from bench.stack import Stack, load
from workers.dev.embedded import stop_process

HEARTBEAT_SECONDS = 10


async def main(pathways: int, update: int, baseline_count: int, kill_at: float) -> None:
    header(f"two workers: {pathways} households followed, update files of {update}, one worker SIGKILLed at "
           f"{kill_at:.0%} of the second")
    flow_date = date.today() - timedelta(days=3)
    async with Stack(baseline_count) as stack:
        children = [stack.worker(None), stack.worker(None)]
        killed: dict = {}

        async def killer(stack: Stack, digest: str) -> None:
            while (await stack.pool.fetchval("SELECT count(*) FROM flux_import_ledger WHERE file_digest = $1",
                                             digest)) < kill_at * update:
                await asyncio.sleep(0.05)
            kill(children[0])
            killed["at"] = time.perf_counter()
            print(f"  SIGKILL worker pid {children[0].pid} at {kill_at:.0%} of the file ({load()})", flush=True)

        try:
            await populate(stack, day1_file(stack, pathways, flow_date), pathways)
            first = await apply_update(stack, update_file(stack, pathways, flow_date, 1, update), update)
            report_update("daily update, two workers", first, stack.baseline)
            second = await apply_update(stack, update_file(stack, pathways, flow_date, 2, update), update,
                                        during=killer, heartbeat=HEARTBEAT_SECONDS)
            report_update("daily update, two workers, one killed mid-run", second, stack.baseline)
            found, ledger, problems = await check_exactly_once(stack.client, stack.pool, second["path"], second["digest"],
                                                             secret())
            print(f"  exactly once: {found} signals of the file in the pathways' histories, {ledger} in the ledger; "
                  f"{'OK' if found == ledger and not problems else 'FAILED: ' + '; '.join(problems[:5])}", flush=True)
            print(f"at end: {load()}")
            if found != ledger or problems:
                raise SystemExit(1)
        finally:
            for child in children:
                if child.poll() is None:
                    stop_process(child)


if __name__ == "__main__":
    cli = arguments(__doc__)
    cli.add_argument("--kill-at", type=float, default=0.3, help="share of the second file's ledger before the kill")
    args = cli.parse_args()
    asyncio.run(main(args.pathways, args.update, args.baseline_count, args.kill_at))
