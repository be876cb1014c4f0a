"""Starting a person's pathway by its business key, the one way every sender does it (the API, the flow import's
delivery, the tests): signal-with-start on ``pathway-<person id>``, so a second start is an event on the running
pathway."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from domain.pathway import PathwayInput, PathwayView
from domain.pathway_contract import WORKFLOW_TYPE, Signal
from domain.pathway_constants import pathway_workflow_id


async def signal_with_start(
    client: Client, person_id: str, territory: str, message: BaseModel, *, task_queue: str,
    signal: str = Signal.FLOW_RECORD, seq_base: int = 0,
) -> WorkflowHandle[Any, PathwayView]:
    """Create the person's pathway (in ``territory``; ``seq_base``: above a finished former pathway's version) if it
    is not running, and deliver ``signal`` to it."""
    return await client.start_workflow(
        WORKFLOW_TYPE,
        PathwayInput(person_id=person_id, territory=territory, seq_base=seq_base),
        id=pathway_workflow_id(person_id),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[message],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=PathwayView,
    )
