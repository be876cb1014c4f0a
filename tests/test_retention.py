"""Retention: ``RetentionPurge`` purges pathways closed more than the retention period ago, and records it.

Each test gets its own schema with every migration applied: the purge deletes every expired pathway it sees,
so it must not see (and delete) rows written by other test modules in ``public``.

The time-skipping server implements neither DeleteWorkflowExecution nor visibility: the workflow runs there
against pathways with no execution left (``ABSENT``) or with a running one; deleting closed runs (a
continue-as-new chain) is tested end to end on the dev server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta

import asyncpg
import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.retention import RetentionActivities, RetentionStore, TemporalExecutions, ensure_namespace_retention
from domain.deadlines import add_months, paris_date
from domain.retention import (
    CODEC_AUDIT_RETENTION_MONTHS,
    ExecutionOutcome,
    ExecutionsDeleted,
    PurgeRequest,
    RetentionInput,
    is_expired,
    namespace_retention,
    retention_cutoff,
)
from workers.runtime.config import Settings
from workers.runtime.converter import data_converter
from workers.dev.embedded import binary
from workers.runtime.migrations import migrate
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
from workers.runtime.sandbox import workflow_runner
from workflows.retention import RetentionPurge

TABLES = ("pathways", "stage_changes", "deadlines", "breaches", "pathway_cers", "pathway_appointments",
          "lost_from_view_convocations", "pathway_decisions", "api_event_ids", "pathway_anomalies", "human_tasks",
          "caseload_adoptions", "caseload_import_rows", "caseload_person_links", "lost_from_view_campaign_items",
          "flux_observations")


@pytest_asyncio.fixture(loop_scope="session")
async def pool(db_pool, database_url):
    schema = f"retention_{uuid.uuid4().hex[:10]}"
    await db_pool.execute(f"CREATE SCHEMA {schema}")
    await migrate(f"{database_url}&search_path={schema}")
    own = await asyncpg.create_pool(database_url, min_size=1, max_size=4, server_settings={"search_path": schema})
    try:
        yield own
    finally:
        await own.close()
        await db_pool.execute(f"DROP SCHEMA {schema} CASCADE")


def _pathway_id() -> str:
    return f"pathway-{uuid.uuid4().hex}"


async def insert_pathway(pool: asyncpg.Pool, pathway_id: str, closed_on: date | None) -> None:
    """A pathway's rows in every read-model table, as the pathway and flow-import activities write them."""
    person = pathway_id.removeprefix("pathway-")
    entry = add_months(closed_on or date(2024, 1, 1), -14)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, entry_date, closed_on,
                   exit_reason, version) VALUES ($1, $2, 'ARRAGEOIS', '2023.1', $3, $4, $5, $6, 9)""",
            pathway_id, person, "CLOSED" if closed_on else "CER_ACTIVE", entry, closed_on,
            "SORTIE_RSA" if closed_on else None)
        await conn.executemany(
            """INSERT INTO stage_changes (pathway_id, seq, from_stage, to_stage, changed_on, cause)
               VALUES ($1, $2, $3, $4, $5, 'TEST')""",
            [(pathway_id, 1, None, "AWAITING_ORIENTATION", entry),
             (pathway_id, 2, "AWAITING_ORIENTATION", "REFERENT_DESIGNATED", entry + timedelta(days=20))])
        await conn.execute(
            """INSERT INTO deadlines (pathway_id, deadline_id, kind, started_on, due_on, status, closed_on, responsible,
                   version) VALUES ($1, 'orientation-1', 'ORIENTATION', $2, $3, 'BREACHED', $3, 'DEPARTEMENT', 3)""",
            pathway_id, entry, add_months(entry, 1))
        await conn.execute(
            """INSERT INTO breaches (pathway_id, deadline_id, kind, due_on, breached_on, responsible)
               VALUES ($1, 'orientation-1', 'ORIENTATION', $2, $2, 'DEPARTEMENT')""", pathway_id, add_months(entry, 1))
        await conn.execute(
            """INSERT INTO pathway_cers (pathway_id, cer_id, cer_type, start_on, end_on, signed_on, renewal,
                   action_count, referent_type, structure_id, version)
               VALUES ($1, 'cer-1', 'SOLIDARITE', $2, $3, $2, false, 2, 'REFERENT_SOLIDARITE', 'CCAS-ARRAS', 5)""",
            pathway_id, add_months(entry, 2), add_months(entry, 8))
        await conn.executemany(
            """INSERT INTO pathway_appointments (pathway_id, event_id, kind, appointment_date, recorded_on)
               VALUES ($1, $2, $3, $4, $4)""",
            [(pathway_id, "a-1", "SCHEDULED", entry + timedelta(days=30)),
             (pathway_id, "a-2", "HELD", entry + timedelta(days=30))])
        await conn.execute(
            """INSERT INTO lost_from_view_convocations (pathway_id, convocation_id, convoked_on, outcome, version)
               VALUES ($1, 'c-1', $2, 'ATTENDED', 1)""", pathway_id, add_months(entry, 3))
        await conn.execute(
            """INSERT INTO pathway_decisions (pathway_id, seq, command, decided_on, stage, service, actor)
               VALUES ($1, 3, 'orient', $2, 'REFERENT_DESIGNATED', 'referent-tool', 'agent:7f3a9c01')""",
            pathway_id, entry + timedelta(days=20))
        await conn.execute("INSERT INTO api_event_ids (workflow_id, event_id, command_hash) VALUES ($1, 'e-1', '\\x00')",
                           pathway_id)
        await conn.execute(
            """INSERT INTO pathway_anomalies (pathway_id, anomaly_id, message, event_id, code, stage, received_on)
               VALUES ($1, 'anomaly-9', 'appointment', 'e-9', 'STAGE_NOT_ALLOWED', 'CER_ACTIVE', $2)""",
            pathway_id, add_months(entry, 3))
        await conn.execute(
            """INSERT INTO human_tasks (task_key, workflow_id, kind, assignee) VALUES ($1, $2, 'CHECK', 'SLAI')""",
            f"{pathway_id}:check", pathway_id)
        await conn.execute(  # adopted from a caseload (issue 19): its ledger rows go with it
            """INSERT INTO caseload_adoptions (person_id, pathway_id, file_digest, row_number, row_digest, source, stage,
                   adopted_on, past_breaches, status) VALUES ($1, $2, $3, 1, 'r', 'CASELOAD', 'CER_ACTIVE', $4, true,
                   'started')""", person, pathway_id, pathway_id[-64:].rjust(64, "0"), entry)
        await conn.execute(
            """INSERT INTO caseload_import_rows (file_digest, row_number, outcome, pathway_id)
               VALUES ($1, 1, 'adopted', $2)""", pathway_id[-64:].rjust(64, "0"), pathway_id)
        await conn.execute(  # a NIR linked to it (adopted by CAF matricule + rank): the link goes with it
            """INSERT INTO caseload_person_links (person_id, linked_person_id, pathway_id, caf_key, file_digest)
               VALUES ($1, $2, $3, $2, $4)""", f"nir-{person}", person, pathway_id, "0" * 64)
        await conn.execute(  # selected by a « perdus de vue » campaign: the item goes, the campaign's counts stay
            """INSERT INTO lost_from_view_campaigns (campaign_id, run_on, cutoff, appointment_date, selected, convoked,
                   not_found) VALUES ('campaign-retention', $1, $1, $1, 1, 1, 0) ON CONFLICT DO NOTHING""",
            add_months(entry, 3))
        await conn.execute("""INSERT INTO lost_from_view_campaign_items (campaign_id, pathway_id, outcome)
                              VALUES ('campaign-retention', $1, 'CONVOKED')""", pathway_id)
        state = {"last_flow_date": (closed_on or entry).isoformat(), "entry_date": entry.isoformat(),
                 "right_state": "5" if closed_on else "2", "subject_to_duties": True}
        await conn.execute(
            """INSERT INTO flux_observations (person_id, state, pathway, file_digest, position)
               VALUES ($1, $2::jsonb, true, $3, 1)""", person, json.dumps(state), "0" * 64)


async def rows_of(pool: asyncpg.Pool, pathway_id: str) -> dict[str, int]:
    person = pathway_id.removeprefix("pathway-")
    counts = {}
    for table in TABLES:
        column = {"human_tasks": "workflow_id", "api_event_ids": "workflow_id",
                  "flux_observations": "person_id"}.get(table, "pathway_id")
        value = person if table == "flux_observations" else pathway_id
        counts[table] = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", value)
    return counts


ALL_ROWS = {"pathways": 1, "stage_changes": 2, "deadlines": 1, "breaches": 1, "pathway_cers": 1,
            "pathway_appointments": 2, "lost_from_view_convocations": 1, "pathway_decisions": 1, "api_event_ids": 1,
            "pathway_anomalies": 1, "human_tasks": 1, "caseload_adoptions": 1, "caseload_import_rows": 1,
            "caseload_person_links": 1, "lost_from_view_campaign_items": 1, "flux_observations": 1}
NO_ROWS = dict.fromkeys(TABLES, 0)


def test_cutoff_is_the_retention_period_before_the_run():
    assert retention_cutoff(date(2026, 11, 25), 24) == date(2024, 11, 25)
    assert retention_cutoff(date(2026, 2, 28), 24) == date(2024, 2, 28)
    assert is_expired(date(2024, 11, 24), date(2026, 11, 25), 24)
    assert not is_expired(date(2024, 11, 25), date(2026, 11, 25), 24)  # kept 24 months to the day
    assert not is_expired(None, date(2026, 11, 25), 24)  # still open
    with pytest.raises(ValueError):
        retention_cutoff(date(2026, 11, 25), 0)


def test_retention_period_is_configurable():
    assert Settings.from_env({}).retention_months == 24
    assert Settings.from_env({"PARCOURS_RETENTION_MONTHS": "36"}).retention_months == 36
    with pytest.raises(ValueError):
        Settings.from_env({"PARCOURS_RETENTION_MONTHS": "0"})


async def test_purges_only_pathways_closed_beyond_24_months_and_records_it(ts_env, pool, task_queue, unique_id):
    today = paris_date(await ts_env.get_current_time())
    old, recent, still_open, returned = (_pathway_id() for _ in range(4))
    await insert_pathway(pool, old, add_months(today, -25))
    await insert_pathway(pool, recent, add_months(today, -23))
    await insert_pathway(pool, still_open, None)
    await insert_pathway(pool, returned, add_months(today, -26))
    # The person of ``returned`` came back: a pathway runs again under the same id (nobody polls its queue).
    await ts_env.client.start_workflow("BeneficiaryPathway", id=returned, task_queue=f"{task_queue}-nobody")

    async with Worker(ts_env.client, task_queue=task_queue, workflows=[RetentionPurge],
                      activities=RetentionActivities(pool).all(), workflow_runner=workflow_runner()):
        first_id = f"retention-purge-{unique_id}"
        handle = await ts_env.client.start_workflow(RetentionPurge.run, RetentionInput(batch_size=2), id=first_id,
                                                    task_queue=task_queue)
        summary = await handle.result()

        assert await rows_of(pool, old) == NO_ROWS
        assert await rows_of(pool, recent) == ALL_ROWS
        kpi = "SELECT count(*) FROM pathway_kpi WHERE pathway_id = $1"  # kept by triggers on the pathway's rows
        assert (await pool.fetchval(kpi, old), await pool.fetchval(kpi, recent)) == (0, 1)
        assert await rows_of(pool, still_open) == ALL_ROWS
        assert await rows_of(pool, returned) == ALL_ROWS
        assert summary.cutoff == add_months(today, -24) and summary.retention_months == 24 and summary.completed
        assert (summary.pathways_purged, summary.skipped_running, summary.executions_deleted) == (1, 1, 0)
        assert summary.rows_deleted == ALL_ROWS

        purge_id = summary.purge_id
        assert purge_id == f"{first_id}/{handle.result_run_id}"
        record = await pool.fetchrow("SELECT * FROM retention_purges WHERE purge_id = $1", purge_id)
        assert record["completed_at"] is not None and record["pathways_purged"] == 1
        assert json.loads(record["rows_deleted"]) == ALL_ROWS
        items = {r["pathway_id"]: r for r in await pool.fetch(
            "SELECT * FROM retention_purge_items WHERE purge_id = $1", purge_id)}
        assert set(items) == {old, returned}
        assert items[old]["outcome"] == "PURGED" and items[old]["closed_on"] == add_months(today, -25)
        assert json.loads(items[old]["rows_deleted"]) == ALL_ROWS
        assert items[returned]["outcome"] == "SKIPPED_RUNNING"

        # Idempotent: a second run purges nothing more; replaying the first run's steps changes nothing.
        second = await ts_env.client.execute_workflow(RetentionPurge.run, RetentionInput(),
                                                      id=f"retention-purge-{unique_id}-2", task_queue=task_queue)
        assert (second.pathways_purged, second.skipped_running, second.rows_deleted) == (0, 1, {})
    store = RetentionStore(pool)
    again = await store.purge(PurgeRequest(purge_id=purge_id, cutoff=summary.cutoff, executions=[
        ExecutionsDeleted(pathway_id=old, outcome=ExecutionOutcome.ABSENT)]))
    assert again.purged == [] and again.rows_deleted == {}
    assert await store.complete(purge_id) == summary
    assert await rows_of(pool, recent) == ALL_ROWS
    assert await pool.fetchval("SELECT count(*) FROM retention_purge_items WHERE pathway_id = $1", old) == 1


async def test_the_production_worker_purges_with_the_configured_period(ts_env, pool, task_queue, unique_id,
                                                                       monkeypatch):
    """``PARCOURS_RETENTION_MONTHS`` reaches the registry's activities: at 22 months, 23 months ago is expired."""
    monkeypatch.setenv("PARCOURS_RETENTION_MONTHS", "22")
    today = paris_date(await ts_env.get_current_time())
    closed_23, closed_21 = _pathway_id(), _pathway_id()
    await insert_pathway(pool, closed_23, add_months(today, -23))
    await insert_pathway(pool, closed_21, add_months(today, -21))
    assert any(w is RetentionPurge for w in WORKFLOWS)
    async with Worker(ts_env.client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=build_activities(Dependencies(pool=pool)), workflow_runner=workflow_runner()):
        summary = await ts_env.client.execute_workflow(RetentionPurge.run, RetentionInput(),
                                                       id=f"retention-purge-{unique_id}", task_queue=task_queue)
    assert summary.retention_months == 22 and summary.cutoff == add_months(today, -22)
    assert summary.pathways_purged == 1
    assert await rows_of(pool, closed_23) == NO_ROWS
    assert await rows_of(pool, closed_21) == ALL_ROWS


async def test_a_newer_flow_observation_of_the_person_is_kept(ts_env, pool, task_queue, unique_id):
    today = paris_date(await ts_env.get_current_time())
    pathway_id = _pathway_id()
    await insert_pathway(pool, pathway_id, add_months(today, -30))
    await pool.execute(
        """UPDATE flux_observations SET state = jsonb_set(state, '{last_flow_date}', to_jsonb($2::text))
            WHERE person_id = $1""", pathway_id.removeprefix("pathway-"), today.isoformat())
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[RetentionPurge],
                      activities=RetentionActivities(pool).all(), workflow_runner=workflow_runner()):
        summary = await ts_env.client.execute_workflow(RetentionPurge.run, RetentionInput(),
                                                       id=f"retention-purge-{unique_id}", task_queue=task_queue)
    assert await rows_of(pool, pathway_id) == {**NO_ROWS, "flux_observations": 1}
    assert summary.rows_deleted == {**ALL_ROWS, "flux_observations": 0}


# ---------------------------------------------------------------- dev server: deleting closed executions


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deleting_env(test_keyring):
    """A dev server that deletes at once: by default it first waits for the close to be acknowledged by
    visibility (about 30 s here), which production can afford and a test cannot."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=data_converter(test_keyring), ui=False,
        dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorEnsureCloseBeforeDelete=false"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@workflow.defn(name="RetentionTestPathway")
class ClosedChain:
    """Stands for a multi-year pathway: continues as new ``runs - 1`` times, then completes."""

    @workflow.run
    async def run(self, runs: int) -> int:
        if runs > 1:
            workflow.continue_as_new(runs - 1)
        return runs


async def _gone(client: Client, workflow_id: str, attempts: int = 200) -> bool:
    """Deletion is carried out by the server after the call returns: poll (a bounded number of times)."""
    for _ in range(attempts):
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        await asyncio.sleep(0.05)
    return False


async def test_closed_runs_are_deleted_from_temporal_and_running_ones_kept(deleting_env, pool, task_queue,
                                                                         unique_id):
    client = deleting_env.client
    today = paris_date(await deleting_env.get_current_time())
    chain, running = _pathway_id(), _pathway_id()
    await insert_pathway(pool, chain, add_months(today, -25))
    await insert_pathway(pool, running, add_months(today, -25))
    async with Worker(client, task_queue=task_queue, workflows=[RetentionPurge, ClosedChain],
                      activities=RetentionActivities(pool).all(), workflow_runner=workflow_runner()):
        assert await client.execute_workflow(ClosedChain.run, 3, id=chain, task_queue=task_queue) == 1
        kept = await client.start_workflow("BeneficiaryPathway", id=running, task_queue=f"{task_queue}-nobody")
        try:
            summary = await client.execute_workflow(RetentionPurge.run, RetentionInput(),
                                                    id=f"retention-purge-{unique_id}", task_queue=task_queue)
            assert summary.executions_deleted == 3  # the last run and the two it continued from
            assert (summary.pathways_purged, summary.skipped_running) == (1, 1)
            assert await _gone(client, chain)
            assert (await kept.describe()).status == WorkflowExecutionStatus.RUNNING
            assert await rows_of(pool, chain) == NO_ROWS and await rows_of(pool, running) == ALL_ROWS
            again = await TemporalExecutions(client).delete_closed(chain)
            assert again.outcome is ExecutionOutcome.ABSENT and again.runs_deleted == 0
        finally:
            await kept.terminate("test over")  # a dev server: never terminate on the time-skipping one


async def test_monthly_schedule_is_installed_once(dev_env, task_queue, unique_id):
    from workers.cli.schedule import install_retention_schedule  # typer: not importable in the workflow sandbox

    schedule_id = f"retention-{unique_id}"
    client = dev_env.client
    assert await install_retention_schedule(client, task_queue=task_queue, schedule_id=schedule_id) == "created"
    assert await install_retention_schedule(client, task_queue=task_queue, schedule_id=schedule_id) == "updated"
    handle = client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        action = description.schedule.action
        assert action.workflow == "RetentionPurge" and action.task_queue == task_queue
        calendar = description.schedule.spec.calendars[0]
        assert [r.start for r in calendar.day_of_month] == [1] and [r.start for r in calendar.hour] == [3]
        assert description.schedule.spec.time_zone_name == "Europe/Paris"
        next_runs = description.info.next_action_times
        assert next_runs and all(paris_date(t).day == 1 for t in next_runs)
    finally:
        await handle.delete()


async def test_namespace_retention_is_set_to_match(deleting_env):
    """What ``parcours dev`` needs: its dev server creates the namespace with a 24-hour retention."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    client = deleting_env.client
    assert namespace_retention(24) == timedelta(days=730)  # docker-compose.yml: --retention 730d
    assert await ensure_namespace_retention(client, 24) == timedelta(days=730)
    assert await ensure_namespace_retention(client, 24) == timedelta(days=730)  # nothing to change the second time
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=730)


async def test_the_codec_access_log_is_purged_past_its_12_months(ts_env, pool, task_queue, unique_id):
    """``codec_audit`` rows older than ``CODEC_AUDIT_RETENTION_MONTHS`` before the run's day (midnight, Paris) go
    with the monthly run, counted in its record; younger ones stay; a retried completion deletes nothing more."""
    today = paris_date(await ts_env.get_current_time())
    edge = await pool.fetchval("SELECT $1::date::timestamp AT TIME ZONE 'Europe/Paris'",
                               add_months(today, -CODEC_AUDIT_RETENTION_MONTHS))
    case = f"pathway-{uuid.uuid4().hex}"
    ages = {"older": edge - timedelta(days=40), "just_before": edge - timedelta(seconds=1), "at_the_edge": edge,
            "recent": edge + timedelta(days=200)}
    for token, occurred_at in ages.items():
        await pool.execute("""INSERT INTO codec_audit (occurred_at, token_name, workflow_id, payload_count, outcome)
                              VALUES ($1, $2, $3, 1, 'decoded')""", occurred_at, token, case)
    expired = await pool.fetchval("SELECT count(*) FROM codec_audit WHERE occurred_at < $1", edge)
    assert expired >= 2
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[RetentionPurge],
                      activities=RetentionActivities(pool).all(), workflow_runner=workflow_runner()):
        summary = await ts_env.client.execute_workflow(RetentionPurge.run, RetentionInput(),
                                                       id=f"retention-purge-{unique_id}", task_queue=task_queue)
    left = {r["token_name"] for r in await pool.fetch("SELECT token_name FROM codec_audit WHERE workflow_id = $1",
                                                     case)}
    assert left == {"at_the_edge", "recent"}
    assert summary.codec_audit_deleted == expired
    assert await pool.fetchval("SELECT codec_audit_deleted FROM retention_purges WHERE purge_id = $1",
                               summary.purge_id) == expired
    assert await RetentionStore(pool).complete(summary.purge_id) == summary
