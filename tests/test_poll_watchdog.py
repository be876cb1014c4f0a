"""The worker's poll watchdog: it stops a worker whose workflow poller stalled with tasks waiting, and only then;
and against a real dev server, a worker that polls is seen polling."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from temporalio.worker import Worker

from workers.runtime.poll_watchdog import QueueView, describe, stalled, watch
from workers.runtime.sandbox import workflow_runner
from workflows.flux_import import FluxImport

NOW = datetime(2026, 12, 7, 0, 0, tzinfo=timezone.utc)
LIMIT = timedelta(minutes=5)


def test_stalled_only_when_tasks_wait_and_our_poller_is_silent():
    old, recent = NOW - timedelta(minutes=6), NOW - timedelta(seconds=3)
    assert stalled(QueueView(backlog=1035, backlog_age=timedelta(minutes=7), last_poll=old), NOW, LIMIT)
    assert stalled(QueueView(backlog=3, backlog_age=timedelta(minutes=6), last_poll=None), NOW, LIMIT)
    # a busy worker still polls when a slot frees: an old backlog alone is not a stall
    assert not stalled(QueueView(backlog=1035, backlog_age=timedelta(minutes=7), last_poll=recent), NOW, LIMIT)
    # nothing waits, or not for long: an idle worker (long poll) is not stalled either
    assert not stalled(QueueView(backlog=0, backlog_age=timedelta(0), last_poll=old), NOW, LIMIT)
    assert not stalled(QueueView(backlog=40, backlog_age=timedelta(minutes=1), last_poll=None), NOW, LIMIT)


async def test_watch_calls_on_stall_once_and_skips_failed_looks():
    views = iter([RuntimeError("server restarting"),
                  QueueView(backlog=5, backlog_age=timedelta(minutes=1), last_poll=None),
                  QueueView(backlog=5, backlog_age=timedelta(minutes=6), last_poll=None)])
    seen: list[QueueView] = []

    async def look() -> QueueView:
        view = next(views)
        if isinstance(view, Exception):
            raise view
        return view

    await asyncio.wait_for(watch(look, seen.append, limit=LIMIT, every=timedelta(milliseconds=1),
                                 clock=lambda: NOW), 5)
    assert [v.backlog_age for v in seen] == [timedelta(minutes=6)]


async def test_describe_sees_a_polling_worker(dev_env, task_queue):
    client = dev_env.client
    async with Worker(client, task_queue=task_queue, workflows=[FluxImport], workflow_runner=workflow_runner()):
        for _ in range(100):
            view = await describe(client, task_queue, client.identity)
            if view.last_poll is not None:
                break
            await asyncio.sleep(0.1)
    assert view.last_poll is not None and datetime.now(timezone.utc) - view.last_poll < timedelta(minutes=1)
    assert view.backlog == 0 and not stalled(view, datetime.now(timezone.utc))
