from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker

from workers.runtime.migrations import discover, migrate
from workers.runtime.sandbox import workflow_runner
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES, STAGE


@activity.defn
async def echo(x: str) -> str:
    return x


@workflow.defn(name="InfraSmoke")
class InfraSmoke:
    @workflow.run
    async def run(self, x: str) -> str:
        workflow.upsert_search_attributes([STAGE.value_set("SMOKE")])
        await workflow.sleep(timedelta(days=60))
        return await workflow.execute_activity(echo, x, start_to_close_timeout=timedelta(seconds=10))


async def test_time_skipping_env_runs_a_60_day_timer_with_search_attributes(ts_env, task_queue):
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[InfraSmoke], activities=[echo], workflow_runner=workflow_runner()):
        result = await ts_env.client.execute_workflow(InfraSmoke.run, "ok", id=f"smoke-{task_queue}", task_queue=task_queue)
    assert result == "ok"


async def test_migrations_apply_once(database_url, db_pool):
    assert await migrate(database_url) == []
    versions = [r["version"] for r in await db_pool.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in discover()]
    assert await db_pool.fetchval("SELECT to_regclass('human_tasks') IS NOT NULL")
