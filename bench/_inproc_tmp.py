"""In-process attribution: worker + tracemalloc, N pathways."""
import asyncio, gc, sys, tempfile, tracemalloc, uuid, collections, os
from datetime import date
from pathlib import Path
import asyncpg, psutil
from bench.common import dev_server
from workers.embedded import free_port, start_postgres
from workers.migrations import migrate
from temporalio.worker import Worker
from workers.registry import WORKFLOWS, Dependencies, build_activities
import workers.sandbox as sb

N = int(sys.argv[1]); TRACE = sys.argv[2] == "trace"; VARIANT = sys.argv[3] if len(sys.argv) > 3 else "current"

def types_count():
    c = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return c

async def main():
    from domain.pathway import FlowRecord
    from workflows.pathway import signal_flow_record
    with tempfile.TemporaryDirectory() as tmp:
        pg = start_postgres(Path(tmp) / "pg", free_port())
        try:
            await migrate(pg.url)
            pool = await asyncpg.create_pool(pg.url, min_size=1, max_size=10)
            async with dev_server() as client:
                tq = f"m-{uuid.uuid4().hex[:6]}"
                runner = sb.workflow_runner()
                if VARIANT == 'unsandboxed':
                    from temporalio.worker import UnsandboxedWorkflowRunner; runner = UnsandboxedWorkflowRunner()
                async with Worker(client, task_queue=tq, workflows=WORKFLOWS,
                                  activities=build_activities(Dependencies(pool=pool)), workflow_runner=runner,
                                  max_cached_workflows=N + 100):
                    # warm up with 20
                    async def one(n):
                        rec = FlowRecord(event_id=f"b-{n}", transmission_date=date.today(), subject_to_duties=True)
                        await signal_flow_record(client, f"bench-memory-{n:08d}", "BENCH", rec, task_queue=tq)
                    async def wait(k):
                        while await pool.fetchval("SELECT count(*) FROM pathways") < k:
                            await asyncio.sleep(0.5)
                    await asyncio.gather(*(one(n) for n in range(20))); await wait(20); await asyncio.sleep(3)
                    gc.collect()
                    proc = psutil.Process()
                    if TRACE: tracemalloc.start(30)
                    rss0 = proc.memory_info().rss; t0 = types_count()
                    if TRACE: s0 = tracemalloc.take_snapshot()
                    sem = asyncio.Semaphore(100)
                    async def lim(n):
                        async with sem: await one(n)
                    await asyncio.gather(*(lim(n) for n in range(20, 20 + N))); await wait(20 + N); await asyncio.sleep(5)
                    gc.collect()
                    rss1 = proc.memory_info().rss
                    print(f"RSS per pathway {(rss1 - rss0) / N / 1024:.1f} KiB")
                    t1 = types_count()
                    diff = {k: t1[k] - t0.get(k, 0) for k in t1}
                    print("objects per pathway by type:", ", ".join(f"{k}:{v/N:.1f}" for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:30]))
                    if TRACE:
                        s1 = tracemalloc.take_snapshot()
                        st = s1.compare_to(s0, "filename")
                        print(f"traced per pathway {sum(x.size_diff for x in st)/N/1024:.1f} KiB")
                        for x in st[:25]:
                            print(f"  {x.size_diff/N/1024:7.1f} KiB  {x.traceback[0].filename}")
                        for x in s1.compare_to(s0, "traceback")[:int(os.environ.get('TB', '0'))]:
                            print(f"== {x.size_diff/N/1024:7.1f} KiB"); print("\n".join(x.traceback.format()[-16:]))
            await pool.close()
        finally:
            pg.stop()
asyncio.run(main())
