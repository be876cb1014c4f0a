"""A worker that stopped polling its workflow task queue while tasks wait there stops itself, to be restarted.

Seen in the issue-17 benchmarks (BENCHMARKS.md, "A stall"): with thousands of new pathways at once on a saturated
machine, the SDK core's workflow poller stopped (the task queue listed no workflow poller of the worker, its
backlog aged for minutes, the worker used no CPU) while its activity poller went on. Nothing in our code can
unblock it; a new process picks the backlog up at once. So the worker asks the server, every ``every``, whether
its own workflow poller has polled within ``limit`` while the oldest waiting task is older than ``limit``; when
both fail, it stops (exit status 75), and the orchestrator's restart policy (``restart: unless-stopped``) starts a
fresh one. A busy but healthy worker polls again each time a slot frees, so it is never mistaken for a stalled one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

#: Exit status of a worker that stopped itself because its workflow poller stalled (EX_TEMPFAIL).
STALLED_EXIT = 75
LIMIT = timedelta(minutes=5)
EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class QueueView:
    """What the server says of the workflow task queue."""

    backlog: int
    backlog_age: timedelta
    last_poll: datetime | None  # of this worker's workflow poller; None when it is not listed


def stalled(view: QueueView, now: datetime, limit: timedelta = LIMIT) -> bool:
    """Tasks have waited longer than ``limit`` and this worker has not polled for that long either."""
    return view.backlog > 0 and view.backlog_age > limit and (view.last_poll is None or now - view.last_poll > limit)


async def describe(client: Client, task_queue: str, identity: str) -> QueueView:
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, report_stats=True))
    polls = [p.last_access_time.ToDatetime(tzinfo=timezone.utc) for p in response.pollers if p.identity == identity]
    stats = response.stats
    return QueueView(backlog=stats.approximate_backlog_count, backlog_age=stats.approximate_backlog_age.ToTimedelta(),
                     last_poll=max(polls) if polls else None)


async def watch(look: Callable[[], Awaitable[QueueView]], on_stall: Callable[[QueueView], None], *,
                limit: timedelta = LIMIT, every: timedelta = EVERY,
                clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
    """Look every ``every``; call ``on_stall`` and return at the first stall. A failed look is skipped (the server
    may be restarting: that is not the worker's stall)."""
    while True:
        await asyncio.sleep(every.total_seconds())
        try:
            view = await look()
        except Exception:  # noqa: BLE001 - an unreachable server says nothing about our poller
            continue
        if stalled(view, clock(), limit):
            on_stall(view)
            return
