"""Midnight storm: thousands of orientation deadlines falling due at the same instant (not a test).

    .venv/bin/python -m bench.storm_bench [--pathways 10000] [--baseline-count 1000] [--check 1000]

Why the time-skipping server: a pathway's deadlines are civil dates, missed at midnight (Europe/Paris) after
their last day (``domain.deadlines.deadline_instant``), so the only way to make them fall due *now* on a dev
server would be a rule set of minutes, which the date-based rules cannot express. On the time-skipping server
(``temporal-test-server``) the real rules run unchanged: ``--pathways`` pathways are started by signal-with-start
(a flow record, subject to duties, the same transmission date: the way one monthly flow opens them), so their
1-month orientation deadlines share one instant; time is skipped to one hour before it (the 21-day SLAI
reminders fire on the way, a first, smaller storm), then across it. Measured from the skip across midnight: wall
time until every pathway's ORIENTATION breach is in ``breaches`` and its ESCALATION_ORIENTATION task in ``human_tasks``; breaches/s
against the no-op baseline measured on the same server (each breach = a timer fired, a workflow task, a local
activity write). Then: no lost breach (one per pathway), and no ``WorkflowTaskTimedOut`` / ``WorkflowTaskFailed``
in the histories of ``--check`` pathways (all of them when there are fewer).

The worker runs in this process (the production workflows and activities, SDK defaults): the Java test server,
not the worker, is the bottleneck of this measurement; the ratio to its own baseline is the figure to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.testservice.v1 import SleepRequest

from bench.flows import header
from bench.stack import Stack, load, make_worker, wait_count
from domain.deadlines import deadline_instant, paris_date
from domain.pathway import FlowRecord
from domain.pathway_constants import pathway_workflow_id
from domain.rules import rule_set_for
from activities.pathway_start import signal_with_start

TERRITORY = "BENCH"
BAD_EVENTS = (EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def bad_events(client, person_ids: list[str], concurrency: int = 16) -> dict[str, int]:
    found: dict[str, int] = {}
    limit = asyncio.Semaphore(concurrency)

    async def one(pid: str) -> None:
        async with limit:
            async for event in client.get_workflow_handle(pathway_workflow_id(pid)).fetch_history_events():
                if event.event_type in BAD_EVENTS:
                    name = EventType.Name(event.event_type)
                    found[name] = found.get(name, 0) + 1

    await asyncio.gather(*(one(pid) for pid in person_ids))
    return found


async def main(pathways: int, baseline_count: int, check: int, concurrency: int = 100) -> None:
    header(f"midnight storm: {pathways} orientation deadlines at one instant (time-skipping server)")
    async with Stack(baseline_count, name="storm", time_skipping=True) as stack:
        env, client, pool, task_queue = stack.env, stack.client, stack.pool, stack.task_queue
        base = stack.baseline
        now = await env.get_current_time()
        day = paris_date(now)
        due = deadline_instant(day + _months(day))
        persons = [f"bench-storm-{uuid.uuid4().hex[:8]}-{n:06d}" for n in range(pathways)]
        async with make_worker(client, task_queue, pool):
            limit = asyncio.Semaphore(concurrency)

            async def start(pid: str) -> None:
                async with limit:
                    await signal_with_start(client, pid, TERRITORY, FlowRecord(
                        event_id=f"storm-{pid}", transmission_date=day, subject_to_duties=True),
                        task_queue=task_queue)

            started = time.perf_counter()
            await asyncio.gather(*(start(p) for p in persons))
            await stack.wait_pathways(pathways)
            print(f"population: {pathways} pathways in {time.perf_counter() - started:.0f} s, all due at "
                  f"{due.isoformat()} ({load()})", flush=True)
            before = due - timedelta(hours=1)
            t = time.perf_counter()
            await skip(client, before - await env.get_current_time())
            reminders = await pool.fetchval("SELECT count(*) FROM human_tasks WHERE kind LIKE '%REMIND%'")
            print(f"skipped to 1 h before the deadline in {time.perf_counter() - t:.0f} s "
                  f"({reminders} reminder tasks on the way)", flush=True)
            t0 = time.perf_counter()
            await skip(client, timedelta(hours=2))
            skipped = time.perf_counter() - t0
            done_breaches = await wait_count(
                pool, "SELECT count(*) FROM breaches WHERE kind = 'ORIENTATION'", pathways)
            done_tasks = await wait_count(  # the breach's task (other tasks, e.g. France Travail checks, run too)
                pool, "SELECT count(*) FROM human_tasks WHERE kind = 'ESCALATION_ORIENTATION'", pathways)
            elapsed = max(done_breaches, done_tasks) - t0
            rate = pathways / elapsed
            print(f"storm: {pathways} ORIENTATION breaches recorded and their tasks created in {elapsed:.1f} s "
                  f"(the skip across midnight returned after {skipped:.1f} s): {rate:.1f} breaches/s", flush=True)
            print(f"  ratio to baseline ({base:.1f}/s): {rate / base:.2f}; {load()}", flush=True)
            per = await pool.fetch("SELECT pathway_id, count(*) AS n FROM breaches WHERE kind = 'ORIENTATION' "
                                   "GROUP BY pathway_id HAVING count(*) <> 1")
            sample = persons if check >= pathways else random.Random(1).sample(persons, check)
            bad = await bad_events(client, sample)
            distinct = await pool.fetchval(
                "SELECT count(DISTINCT pathway_id) FROM breaches WHERE kind = 'ORIENTATION'")
            print(f"  lost or doubled breaches: {pathways - distinct + len(per)}; "
                  f"workflow task timeouts/failures in {len(sample)} histories: {bad or 'none'}", flush=True)
    print(f"at end: {load()}")


async def skip(client, span: timedelta, step: timedelta = timedelta(days=1)) -> None:
    """Skip the server's clock by ``span``, a day at a time: a skip returns once the timers it fired are handled,
    which, in a storm, takes longer than the default RPC timeout."""
    while span > timedelta(0):
        request = SleepRequest()
        request.duration.FromTimedelta(min(span, step))
        await client.test_service.unlock_time_skipping_with_sleep(request, timeout=timedelta(hours=1))
        span -= step


def _months(day) -> timedelta:
    """The span from ``day`` to the last day of its 1-month orientation deadline, as the rules compute it."""
    from domain.deadlines import service_deadline

    return service_deadline(day, months=rule_set_for(day).orientation_months) - day


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pathways", type=int, default=10_000)
    parser.add_argument("--baseline-count", type=int, default=1000)
    parser.add_argument("--check", type=int, default=1000, help="histories checked for workflow task timeouts")
    args = parser.parse_args()
    asyncio.run(main(args.pathways, args.baseline_count, args.check))
