"""Delivery of a flow chunk's signals to the pathways, exactly once across retries and crashes.

Signals go in file order for one person and concurrently across persons; a signal-with-start creates the pathway
of a new entrant. After a crash mid-chunk, the positions in doubt are checked against the signals already in
each pathway's history (``delivered_event_ids``) instead of being sent twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Callable

from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.pathway_start import signal_with_start
from domain.flux_import import PathwaySignal
from domain.pathway_constants import pathway_workflow_id

SIGNAL_CONCURRENCY = 16


class PathwayDelivery:
    """Sends signals to pathways through ``client`` (the activity's own client, or one given by the caller)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def send(self, plans: list[tuple[int, list[PathwaySignal]]], territories: dict[int, str],
                   default_territory: str, task_queue: str, in_doubt: set[int],
                   heartbeat: Callable[[], None]) -> tuple[dict[int, int], int, set[str]]:
        """Send the chunk's signals: in order for one person, persons concurrently. Returns signals sent
        (or found delivered) per position, how many were found already delivered, and the persons whose
        pathway is gone (closed: a plain signal found no running workflow)."""
        by_person: dict[str, list[tuple[int, PathwaySignal]]] = defaultdict(list)
        for position, signals in plans:
            for signal in signals:
                by_person[signal.person_id].append((position, signal))
        sent: dict[int, int] = defaultdict(int)
        gone: set[str] = set()
        rechecked = 0
        limit = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def person(pid: str, items: list[tuple[int, PathwaySignal]]) -> None:
            nonlocal rechecked
            async with limit:
                delivered: set[str] | None = None
                for position, signal in items:
                    if position in in_doubt:
                        if delivered is None:
                            delivered = await self.delivered_event_ids(pid, heartbeat)
                        if signal.event_id in delivered:
                            rechecked += 1
                            sent[position] += 1
                            continue
                    if await self.signal(signal, territories.get(position, default_territory), task_queue):
                        sent[position] += 1
                    else:
                        gone.add(pid)

        await asyncio.gather(*(person(pid, items) for pid, items in by_person.items()))
        return dict(sent), rechecked, gone

    async def signal(self, signal: PathwaySignal, territory: str, task_queue: str) -> bool:
        """Signal-with-start (create or signal) or plain signal; False when a plain signal found no pathway."""
        workflow_id = pathway_workflow_id(signal.person_id)
        if signal.start:
            await signal_with_start(self.client, signal.person_id, territory, signal.message, task_queue=task_queue,
                                    signal=signal.name.value, seq_base=signal.seq_base)
            return True
        try:
            await self.client.get_workflow_handle(workflow_id).signal(signal.name.value, signal.message)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False  # no running pathway (closed, or never started): nothing to update
            raise
        return True

    async def delivered_event_ids(self, person_id: str, heartbeat: Callable[[], None] = lambda: None) -> set[str]:
        """Event ids of the signals in the current run of the person's pathway (crash recovery only)."""
        handle = self.client.get_workflow_handle(pathway_workflow_id(person_id))
        ids: set[str] = set()
        try:
            await settled_history(handle, heartbeat)
            async for event in handle.fetch_history_events():
                if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    continue
                payloads = event.workflow_execution_signaled_event_attributes.input.payloads
                if not payloads:
                    continue
                value = (await self.client.data_converter.decode(list(payloads)))[0]
                if isinstance(value, dict) and isinstance(value.get("event_id"), str):
                    ids.add(value["event_id"])
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        return ids


async def settled_history(handle: Any, heartbeat: Callable[[], None] = lambda: None,
                          timeout: float = 120.0, pause: float = 0.5) -> None:
    """Wait until no workflow task of the workflow is running. Signals received while a task runs are
    buffered by the server and reach the history only when that task ends (or, for a task held by a dead
    worker, times out): reading the history earlier would miss them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        raw = (await handle.describe()).raw_description
        if not raw.HasField("pending_workflow_task") or \
                raw.pending_workflow_task.state != PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED:
            return
        heartbeat()
        await asyncio.sleep(pause)
    raise ApplicationError("a pathway's workflow task stayed running; its history cannot be checked yet",
                           type="FLUX_PATHWAY_BUSY")
