"""Retention activities: purge closed pathways from the read model and from Temporal, and record it.

Two adapters: :class:`RetentionStore` over PostgreSQL (every table holding a pathway's rows, ``PATHWAY_TABLES``,
and the record of migration 010) and :class:`TemporalExecutions` over the Temporal service (deletes the
closed runs of a pathway id: the last run and the runs it continued from).

Every step can run twice: a pathway's rows are deleted in one transaction with its record item, re-checking
its closing date, so a retried call deletes nothing more and records nothing twice; Temporal runs already
deleted are simply not found. The run's totals are computed from its items, never added up by the caller.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeNamespaceRequest,
    GetWorkflowExecutionHistoryRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from domain.retention import (
    CODEC_AUDIT_RETENTION_MONTHS,
    COMPLETE,
    DEFAULT_RETENTION_MONTHS,
    DELETE_EXECUTIONS,
    PLAN,
    PURGE_ROWS,
    SELECT_EXPIRED,
    ExecutionOutcome,
    ExecutionsDeleted,
    ExpiredPathway,
    PlanRequest,
    PurgeBatchResult,
    PurgeRequest,
    RetentionPlan,
    RetentionSummary,
    SelectRequest,
    namespace_retention,
    retention_cutoff,
)

#: Read-model tables keyed by the pathway id (column), deleted with the pathway's row.
PATHWAY_TABLES: tuple[tuple[str, str], ...] = (
    ("stage_changes", "pathway_id"),
    ("deadlines", "pathway_id"),
    ("breaches", "pathway_id"),
    ("pathway_cers", "pathway_id"),
    ("pathway_appointments", "pathway_id"),
    ("lost_from_view_convocations", "pathway_id"),
    ("pathway_decisions", "pathway_id"),
    ("api_event_ids", "workflow_id"),
    ("pathway_anomalies", "pathway_id"),
    ("human_tasks", "workflow_id"),
    ("caseload_adoptions", "pathway_id"),
    ("caseload_import_rows", "pathway_id"),
    ("caseload_person_links", "pathway_id"),
    ("lost_from_view_campaign_items", "pathway_id"),  # whom a campaign selected (the campaign's counts stay)
)

_PURGED, _SKIPPED = "PURGED", "SKIPPED_RUNNING"


class RetentionStore:
    """Adapter over the read model and the purge record, with an injected pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def plan(self, request: PlanRequest, configured_months: int) -> RetentionPlan:
        """Create the run's record (once); a retried or re-run plan returns the stored cutoff."""
        months = request.retention_months or configured_months
        async with self._pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO retention_purges (purge_id, as_of, retention_months, cutoff) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (purge_id) DO NOTHING""",
                request.purge_id, request.as_of, months, retention_cutoff(request.as_of, months),
            )
            row = await conn.fetchrow(
                "SELECT as_of, retention_months, cutoff FROM retention_purges WHERE purge_id = $1", request.purge_id)
        return RetentionPlan(purge_id=request.purge_id, as_of=row["as_of"], retention_months=row["retention_months"],
                             cutoff=row["cutoff"])

    async def select_expired(self, request: SelectRequest) -> list[ExpiredPathway]:
        rows = await self._pool.fetch(
            """SELECT pathway_id, closed_on FROM pathways
                WHERE closed_on IS NOT NULL AND closed_on < $1 AND pathway_id > $2
                ORDER BY pathway_id LIMIT $3""",
            request.cutoff, request.after, request.limit,
        )
        return [ExpiredPathway(pathway_id=r["pathway_id"], closed_on=r["closed_on"]) for r in rows]

    async def purge(self, request: PurgeRequest) -> PurgeBatchResult:
        """Delete the rows of the pathways whose executions are gone; record each pathway purged or skipped."""
        result = PurgeBatchResult()
        gone = {e.pathway_id: e for e in request.executions if e.outcome is not ExecutionOutcome.RUNNING}
        running = [e.pathway_id for e in request.executions if e.outcome is ExecutionOutcome.RUNNING]
        async with self._pool.acquire() as conn, conn.transaction():
            # The closing date is checked again here: a pathway reopened since the selection is not purged.
            deleted = await conn.fetch(
                """DELETE FROM pathways WHERE pathway_id = ANY($1::text[]) AND closed_on < $2
                   RETURNING pathway_id, person_id, closed_on""",
                list(gone), request.cutoff,
            )
            for row in sorted(deleted, key=lambda r: r["pathway_id"]):
                pid = row["pathway_id"]
                counts = {"pathways": 1}
                for table, column in PATHWAY_TABLES:
                    counts[table] = _count(await conn.execute(f"DELETE FROM {table} WHERE {column} = $1", pid))
                # The person's last flow observation goes too, unless a flow has seen the person since the cutoff.
                counts["flux_observations"] = _count(await conn.execute(
                    """DELETE FROM flux_observations WHERE person_id = $1
                          AND COALESCE((state->>'last_flow_date')::date, updated_at::date) < $2""",
                    row["person_id"], request.cutoff,
                ))
                await conn.execute(
                    """INSERT INTO retention_purge_items (purge_id, pathway_id, closed_on, outcome, executions_deleted,
                           rows_deleted) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
                       ON CONFLICT (purge_id, pathway_id) DO NOTHING""",
                    request.purge_id, pid, row["closed_on"], _PURGED, gone[pid].runs_deleted, json.dumps(counts),
                )
                result.purged.append(pid)
                for table, n in counts.items():
                    result.rows_deleted[table] = result.rows_deleted.get(table, 0) + n
            if running:
                await conn.execute(
                    """INSERT INTO retention_purge_items (purge_id, pathway_id, closed_on, outcome)
                       SELECT $1, p.pathway_id, p.closed_on, $3 FROM pathways p WHERE p.pathway_id = ANY($2::text[])
                       ON CONFLICT (purge_id, pathway_id) DO NOTHING""",
                    request.purge_id, running, _SKIPPED,
                )
                result.skipped_running = sorted(running)
        return result

    async def complete(self, purge_id: str) -> RetentionSummary:
        """Purge the codec access log past its period (``CODEC_AUDIT_RETENTION_MONTHS`` before the run's day, Paris
        time) and write the run's totals, computed from its items (so retries and re-runs count each pathway once;
        a retried call finds no log row left to delete and adds nothing)."""
        async with self._pool.acquire() as conn, conn.transaction():
            as_of = await conn.fetchval("SELECT as_of FROM retention_purges WHERE purge_id = $1 FOR UPDATE", purge_id)
            if as_of is None:
                raise ValueError(f"no retention run {purge_id}")
            audit = _count(await conn.execute(
                """DELETE FROM codec_audit WHERE occurred_at < $1::date::timestamp AT TIME ZONE 'Europe/Paris'""",
                retention_cutoff(as_of, CODEC_AUDIT_RETENTION_MONTHS)))
            return summary_of(await self._totals(conn, purge_id, audit))

    @staticmethod
    async def _totals(conn: asyncpg.Connection, purge_id: str, audit_deleted: int) -> Any:
        return await conn.fetchrow(
            """WITH items AS (SELECT * FROM retention_purge_items WHERE purge_id = $1),
                    tables AS (SELECT t.key, sum(t.value::int) AS n
                                 FROM items i, jsonb_each_text(i.rows_deleted) AS t WHERE i.outcome = $2
                                GROUP BY t.key)
               UPDATE retention_purges SET
                      completed_at = now(),
                      pathways_purged = (SELECT count(*) FROM items WHERE outcome = $2),
                      executions_deleted = (SELECT coalesce(sum(executions_deleted), 0) FROM items),
                      skipped_running = (SELECT count(*) FROM items WHERE outcome = $3),
                      rows_deleted = coalesce((SELECT jsonb_object_agg(key, n) FROM tables), '{}'::jsonb),
                      codec_audit_deleted = codec_audit_deleted + $4
                WHERE purge_id = $1
            RETURNING *""",
            purge_id, _PURGED, _SKIPPED, audit_deleted,
        )

    async def summary(self, purge_id: str) -> RetentionSummary | None:
        row = await self._pool.fetchrow("SELECT * FROM retention_purges WHERE purge_id = $1", purge_id)
        return summary_of(row) if row else None


def summary_of(row: Any) -> RetentionSummary:
    rows_deleted = row["rows_deleted"]
    if isinstance(rows_deleted, str):
        rows_deleted = json.loads(rows_deleted)
    return RetentionSummary(
        purge_id=row["purge_id"], as_of=row["as_of"], retention_months=row["retention_months"], cutoff=row["cutoff"],
        pathways_purged=row["pathways_purged"], executions_deleted=row["executions_deleted"],
        skipped_running=row["skipped_running"], rows_deleted={k: int(v) for k, v in rows_deleted.items()},
        completed=row["completed_at"] is not None, codec_audit_deleted=row["codec_audit_deleted"],
    )


def _count(status: str) -> int:
    return int(status.split()[-1])


class TemporalExecutions:
    """Deletes a workflow id's closed runs: the last one and, through ``continued_execution_run_id``, the runs
    it continued from. A running execution is left alone. Works without a visibility store.

    ``client`` defaults to the worker's own client (``activity.client()``).
    """

    def __init__(self, client: Client | None = None) -> None:
        self._client = client

    def _service(self) -> tuple[Client, Any]:
        client = self._client or activity.client()
        return client, client.workflow_service

    async def delete_closed(self, workflow_id: str) -> ExecutionsDeleted:
        client, service = self._service()
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return ExecutionsDeleted(pathway_id=workflow_id, outcome=ExecutionOutcome.ABSENT)
            raise
        if description.status == WorkflowExecutionStatus.RUNNING:
            return ExecutionsDeleted(pathway_id=workflow_id, outcome=ExecutionOutcome.RUNNING)
        deleted = 0
        run_id: str | None = description.run_id
        while run_id:
            previous = await self._previous_run(client, workflow_id, run_id)
            try:
                await service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                ))
                deleted += 1
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
            run_id = previous
        outcome = ExecutionOutcome.DELETED if deleted else ExecutionOutcome.ABSENT
        return ExecutionsDeleted(pathway_id=workflow_id, outcome=outcome, runs_deleted=deleted)

    @staticmethod
    async def _previous_run(client: Client, workflow_id: str, run_id: str) -> str | None:
        """The run this one continued from (read from its first event; no payload is decoded)."""
        try:
            page = await client.workflow_service.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                maximum_page_size=1,
            ))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        if not page.history.events:
            return None
        started = page.history.events[0].workflow_execution_started_event_attributes
        return started.continued_execution_run_id or None


async def ensure_namespace_retention(client: Client, retention_months: int) -> timedelta:
    """Set the client's namespace retention to match the period (``parcours dev``: the dev server creates its
    namespace with 24 hours). Returns the retention now in force."""
    wanted = namespace_retention(retention_months)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    if described.config.workflow_execution_retention_ttl.ToTimedelta() != wanted:
        config = NamespaceConfig()
        config.workflow_execution_retention_ttl.FromTimedelta(wanted)
        await client.workflow_service.update_namespace(UpdateNamespaceRequest(
            namespace=client.namespace, config=config,
        ))
    return wanted


class RetentionActivities:
    """Activities of ``RetentionPurge``, built in ``workers/runtime/registry.py`` with their adapters."""

    def __init__(self, pool: asyncpg.Pool, retention_months: int = DEFAULT_RETENTION_MONTHS,
                 executions: TemporalExecutions | None = None) -> None:
        self.store = RetentionStore(pool)
        self.retention_months = retention_months
        self.executions = executions or TemporalExecutions()

    @activity.defn(name=PLAN)
    async def plan(self, request: PlanRequest) -> RetentionPlan:
        return await self.store.plan(request, self.retention_months)

    @activity.defn(name=SELECT_EXPIRED)
    async def select_expired(self, request: SelectRequest) -> list[ExpiredPathway]:
        return await self.store.select_expired(request)

    @activity.defn(name=DELETE_EXECUTIONS)
    async def delete_executions(self, pathways: list[ExpiredPathway]) -> list[ExecutionsDeleted]:
        outcomes = []
        for done, pathway in enumerate(pathways):
            outcomes.append(await self.executions.delete_closed(pathway.pathway_id))
            activity.heartbeat(done + 1)
        return outcomes

    @activity.defn(name=PURGE_ROWS)
    async def purge_rows(self, request: PurgeRequest) -> PurgeBatchResult:
        return await self.store.purge(request)

    @activity.defn(name=COMPLETE)
    async def complete(self, purge_id: str) -> RetentionSummary:
        return await self.store.complete(purge_id)

    def all(self) -> list:
        return [self.plan, self.select_expired, self.delete_executions, self.purge_rows, self.complete]
