"""Retention of closed pathways: when a closed pathway is purged, and the messages of ``RetentionPurge``.

A pathway closed on day D is kept ``retention_months`` months (default 24, ``PARCOURS_RETENTION_MONTHS``)
and purged by the first monthly run after that: its read-model rows, its flow observation and its
Temporal executions. What was purged is recorded (ids and counts, no personal data).

Pure: no I/O. The workflow, its activities and the tests share these models.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from enum import Enum

from pydantic import BaseModel, Field

from domain.deadlines import add_months

WORKFLOW_TYPE = "RetentionPurge"
DEFAULT_RETENTION_MONTHS = 24
#: The codec server's access log (``codec_audit``: who decoded which case's payloads, when) is kept 12 months, then
#: purged by the same monthly run. The domain reference states no period (G-X3: the data-protection annex is
#: missing); [EXTERNAL] the CNIL's recommendation on logging (délibération 2021-122) advises 6 months to 1 year.
CODEC_AUDIT_RETENTION_MONTHS = 12
WORKFLOW_ID_PREFIX = "retention-purge"  # the schedule appends the scheduled time

# Activity type names (stable: recorded in histories).
PLAN = "retention.plan"
SELECT_EXPIRED = "retention.select_expired"
DELETE_EXECUTIONS = "retention.delete_executions"
PURGE_ROWS = "retention.purge_rows"
COMPLETE = "retention.complete"


def retention_cutoff(as_of: date, retention_months: int) -> date:
    """Pathways closed strictly before this date have been kept ``retention_months`` months by ``as_of``."""
    if retention_months < 1:
        raise ValueError("the retention period is at least one month")
    return add_months(as_of, -retention_months)


def namespace_retention(retention_months: int) -> timedelta:
    """The Temporal namespace retention matching the period: its length in days, rounded down (730 days for 24
    months), so Temporal never keeps a closed history longer than the read model keeps the pathway."""
    return timedelta(days=math.floor(retention_months * 365.25 / 12))


def is_expired(closed_on: date | None, as_of: date, retention_months: int) -> bool:
    return closed_on is not None and closed_on < retention_cutoff(as_of, retention_months)


class RetentionInput(BaseModel):
    """Start input. ``retention_months`` overrides the worker's configured period (tests, one-off runs)."""

    retention_months: int | None = Field(None, ge=1)
    batch_size: int = Field(200, ge=1, le=5000)
    state: "RetentionState | None" = None  # set by continue-as-new only


class RetentionPlan(BaseModel):
    """What this run purges: every pathway closed before ``cutoff``. ``purge_id`` keys the record."""

    purge_id: str
    as_of: date
    retention_months: int
    cutoff: date


class RetentionState(BaseModel):
    """The whole state of a run (also its continue-as-new input)."""

    plan: RetentionPlan
    after: str = ""  # keyset cursor: pathway ids are handled in order, each once
    batches: int = 0
    run: int = 1


class PlanRequest(BaseModel):
    purge_id: str
    as_of: date
    retention_months: int | None = None


class ExpiredPathway(BaseModel):
    pathway_id: str
    closed_on: date


class SelectRequest(BaseModel):
    cutoff: date
    after: str = ""
    limit: int


class ExecutionOutcome(str, Enum):
    DELETED = "DELETED"  # closed executions deleted from Temporal
    ABSENT = "ABSENT"  # nothing left in Temporal (namespace retention, or deleted by an earlier attempt)
    RUNNING = "RUNNING"  # a running execution has this id: the person came back, nothing is purged


class ExecutionsDeleted(BaseModel):
    pathway_id: str
    outcome: ExecutionOutcome
    runs_deleted: int = 0


class PurgeRequest(BaseModel):
    purge_id: str
    cutoff: date
    executions: list[ExecutionsDeleted]


class PurgeBatchResult(BaseModel):
    purged: list[str] = Field(default_factory=list)  # pathway ids whose rows this call deleted
    skipped_running: list[str] = Field(default_factory=list)
    rows_deleted: dict[str, int] = Field(default_factory=dict)  # table -> rows


class RetentionSummary(BaseModel):
    """The record of one run, as stored in ``retention_purges`` (counts; the ids are in its items)."""

    purge_id: str
    as_of: date
    retention_months: int
    cutoff: date
    pathways_purged: int
    executions_deleted: int
    skipped_running: int
    rows_deleted: dict[str, int]
    completed: bool
    codec_audit_deleted: int = 0  # access-log rows older than CODEC_AUDIT_RETENTION_MONTHS


RetentionInput.model_rebuild()
