"""The Commission Permanente's annual list (L20): a yearly Schedule starts ``LabelYearlyList``, which stores
the list that ``parcours label yearly-list --stored`` reads back. Real dev server, embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.label import LabelRegistry, LabelSnapshot, LabelStore
from domain.label_yearly_list import YearlyListInput, YearlyListSummary
from workers.cli.app import app
from workers.cli.schedule import install_label_yearly_schedule
from workers.runtime.sandbox import workflow_runner
from workflows.label_yearly_list import LabelYearlyList


async def test_schedule_stores_the_yearly_list_and_the_cli_reads_it_back(dev_env, db_pool, task_queue,
                                                                          database_url):
    structure = f"S-CP-{uuid.uuid4().hex[:8]}"
    year = date.today().year
    await LabelStore(db_pool).record_label(LabelSnapshot(
        label_key=f"labelled-{structure}:{year}-02-01", workflow_id=f"labelled-{structure}", structure_id=structure,
        territory="Arrageois", status="LABELLED", granted_on=date(year, 2, 1), expires_on=date(year + 5, 2, 1),
        ended_on=None, end_reason=None, version=1))
    registry = LabelRegistry(db_pool)
    schedule_id = f"label-yearly-{uuid.uuid4().hex[:8]}"
    assert await install_label_yearly_schedule(dev_env.client, task_queue=task_queue,
                                               schedule_id=schedule_id) == "created"
    assert await install_label_yearly_schedule(dev_env.client, task_queue=task_queue,
                                               schedule_id=schedule_id) == "updated"
    handle = dev_env.client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        calendar = description.schedule.spec.calendars[0]
        assert [r.start for r in calendar.month] == [12] and [r.start for r in calendar.day_of_month] == [1]
        assert description.schedule.spec.time_zone_name == "Europe/Paris"
        async with Worker(dev_env.client, task_queue=task_queue, workflows=[LabelYearlyList],
                          activities=[registry.store_yearly_list], workflow_runner=workflow_runner()):
            await handle.trigger()
            stored = None
            for _ in range(400):
                stored = await registry.stored_yearly_list(year)
                if stored and any(row["structure_id"] == structure for row in stored["granted"]):
                    break
                await asyncio.sleep(0.05)
            assert stored is not None and stored["workflow_id"].startswith("label-yearly-list")
            summary = await dev_env.client.execute_workflow(
                LabelYearlyList.run, YearlyListInput(year=year), id=f"cp-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue, result_type=YearlyListSummary)
    finally:
        await handle.delete()
    live = await registry.yearly_list(year)
    assert summary == YearlyListSummary(year=year, granted=len(live["granted"]), labelled=len(live["labelled"]))
    result = await asyncio.to_thread(CliRunner().invoke, app, ["label", "yearly-list", "--year", str(year),
                                                               "--stored", "--format", "json"],
                                     env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert structure in [row["structure_id"] for row in listed["granted"]]
    assert structure in [row["structure_id"] for row in listed["labelled"]]
    missing = await asyncio.to_thread(CliRunner().invoke, app, ["label", "yearly-list", "--year", "2031",
                                                                "--stored"], env={"DATABASE_URL": database_url})
    assert missing.exit_code != 0 and "no stored list for 2031" in missing.output
